/**
 * Which responses the proxy cut because of the backend (an upstream that
 * failed or aborted after the head was sent, a backend that stalled until the
 * `writetimeout`): any other response that closes before its end was left by
 * the client. `ResponseOutcome.clientAborted` is read from here.
 */

/** Responses, HTTP/2 streams and raw sockets cut for the backend. */
const cut = new WeakSet<object>();

/**
 * Records that the proxy is cutting this response (or stream, or socket) because of the backend.
 * @param target - the client response, its HTTP/2 stream, or a WebSocket's client socket
 */
export function markBackendCut(target: object): void {
  cut.add(target);
}

/**
 * Whether the proxy cut this response because of the backend.
 * @param target - the client response, its HTTP/2 stream, or a WebSocket's client socket
 * @returns `true` when {@link markBackendCut} was called for it
 */
export function cutByBackend(target: object): boolean {
  return cut.has(target);
}
