/**
 * The listener's per-request timeouts, the same on both protocols:
 *
 * - `readtimeout`: the whole request (head and body) must have arrived within
 *   it. HTTP/1.1 is cut by Node's `requestTimeout`; HTTP/2 streams by a timer
 *   of their own, set here.
 * - `writetimeout`: an inactivity limit. A request in progress whose
 *   connection (HTTP/1.1) or stream (HTTP/2) sends and receives nothing for
 *   that long is ended. The wait for the backend's response head counts as
 *   silence, so the limit also bounds it.
 *
 * When a timeout ends a request whose response has not started, the client
 * gets an answer (408 for the read limit, 504 for the write limit; gRPC calls
 * status 4 DEADLINE_EXCEEDED), otherwise the connection is closed (HTTP/1.1)
 * or the stream reset with `INTERNAL_ERROR` (HTTP/2; as Go's server does on a
 * write timeout: node:http2 clients take `CANCEL` for a clean end, and a cut
 * response must never look complete). Either way the response's `close`
 * event aborts the backend request. A response cut midway while nothing
 * waited to be written to the client (the backend stalled, not the client's
 * reading) is marked as cut for the backend: its payment is given back.
 */
import type { ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import { Socket } from 'node:net';
import { applyCors } from '../cors.js';
import { markBackendCut } from '../forward/backend-cut.js';
import { writeGrpcTrailersOnly } from '../forward/grpc-reply.js';
import type { L402ErrorCode } from '../../core/error-codes.js';

const GRPC = /^application\/grpc/i;

const READ_TIMEOUT = 'L402_ERR_PROXY_READ_TIMEOUT';
const WRITE_TIMEOUT = 'L402_ERR_PROXY_WRITE_TIMEOUT';

/** Writes the short plain-text answer of a timeout on a response whose head was not sent. */
function answer(res: ServerResponse | Http2ServerResponse, status: 408 | 504, code: L402ErrorCode, h1: boolean): void {
  const body = `${status === 408 ? 'request timeout' : 'gateway timeout'} (${code})\n`;
  applyCors(res);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  if (h1) res.setHeader('connection', 'close');
  res.writeHead(status);
  res.end(body);
}

/**
 * Ends an HTTP/2 request that ran out of time: answers when nothing was sent
 * yet, then resets the stream (`NO_ERROR` once the answer is complete, which
 * RFC 9113 §8.1 allows to stop an upload; `INTERNAL_ERROR` for a response cut
 * midway).
 */
function endStream(req: Http2ServerRequest, res: Http2ServerResponse, status: 408 | 504, code: L402ErrorCode): void {
  const stream = req.stream;
  if (stream.destroyed || stream.closed) return;
  if (res.writableEnded) {
    // Answered already (a 402 before the body was read, say): only the upload is left to stop.
    stream.close(constants.NGHTTP2_NO_ERROR);
    return;
  }
  if (stream.headersSent) {
    // Silent while the client reads (nothing waits to be written): the backend stalled.
    if (!stream.writableNeedDrain) markBackendCut(res);
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  try {
    if (GRPC.test(req.headers['content-type'] ?? '')) {
      const what = status === 408 ? 'request not received within readtimeout' : 'no response within writetimeout';
      // Resets the request side itself (NO_ERROR) once the trailers are out.
      writeGrpcTrailersOnly(stream, 4, `${what} [${code}]`);
      return;
    }
    answer(res, status, code, false);
    stream.close(constants.NGHTTP2_NO_ERROR);
  } catch {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}

/**
 * Arms `readtimeout` and `writetimeout` on one HTTP/2 request (see the module
 * comment). Both timers go with the stream.
 *
 * @param req - the compatibility request
 * @param res - its response
 * @param readMs - `readtimeout` in ms; 0 = none
 * @param writeMs - `writetimeout` in ms; 0 = none
 */
export function watchHttp2Request(req: Http2ServerRequest, res: Http2ServerResponse, readMs: number, writeMs: number): void {
  const stream: ServerHttp2Stream = req.stream;
  if (writeMs > 0) {
    // Node's stream timer restarts at every frame the stream sends or receives.
    stream.setTimeout(writeMs, () => endStream(req, res, 504, WRITE_TIMEOUT));
  }
  if (readMs > 0 && !stream.endAfterHeaders) {
    const timer = setTimeout(endStream, readMs, req, res, 408, READ_TIMEOUT);
    const clear = (): void => clearTimeout(timer);
    req.once('end', clear);
    stream.once('close', clear);
  }
}

/**
 * The `'timeout'` listener of the HTTP/1.1 server: Node emits it when a
 * connection stays silent for the `setTimeout` the listener gave its socket
 * (`writetimeout` while a request is in progress, the keep-alive timeout
 * between requests). A request whose response has not started is answered
 * (408 when its body is still incomplete, 504 otherwise) and the connection
 * closed after it; anything else loses the connection, as Node does without
 * a listener.
 *
 * @param socket - the silent connection (or, should Node ever emit one here, an HTTP/2 session)
 */
export function onHttp1Timeout(socket: unknown): void {
  if (!(socket instanceof Socket)) {
    (socket as { destroy?: () => void } | null)?.destroy?.();
    return;
  }
  const res = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res === undefined || res === null || res.headersSent || res.writableEnded || !socket.writable) {
    // A body under way that the client reads (nothing waits to be written): the backend stalled.
    if (res?.headersSent === true && !res.writableEnded && !res.writableNeedDrain && socket.writable) markBackendCut(res);
    socket.destroy();
    return;
  }
  const incomplete = res.req?.complete === false;
  answer(res, incomplete ? 408 : 504, incomplete ? READ_TIMEOUT : WRITE_TIMEOUT, true);
}
