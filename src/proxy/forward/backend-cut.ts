/**
 * Which responses the proxy cut because of the backend (an upstream that
 * failed or aborted after the head was sent, a backend that stalled until the
 * `writetimeout` while the client was reading): any other HTTP response (or
 * gRPC call) that closes before its end was left by the client. The proxy's
 * `ResponseOutcome.clientAborted` is read from here and from `Proxy.cutting`
 * (a shutdown cutting what is still open); a WebSocket tunnel tracks
 * which side ended first itself (`forwardWebSocket`).
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

/** Client responses cut for the backend. */
const cut = new WeakSet<ServerResponse | Http2ServerResponse>();

/**
 * Records that the proxy is cutting this response because of the backend.
 * @param target - the client response (HTTP/1.1 or HTTP/2 compatibility response)
 */
export function markBackendCut(target: ServerResponse | Http2ServerResponse): void {
  cut.add(target);
}

/**
 * Whether the proxy cut this response because of the backend.
 * @param target - the client response
 * @returns `true` when {@link markBackendCut} was called for it
 */
export function cutByBackend(target: ServerResponse | Http2ServerResponse): boolean {
  return cut.has(target);
}
