/**
 * A request answered without its body (a challenge, a refusal, a 404) must not
 * make the server read that body to the end: after a keep-alive answer Node
 * reads and discards whatever the client declared, 10 GB as well as 10 bytes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Body bytes the server still takes after an answer that does not use the
 * body: a `Content-Length` body up to this size is read and discarded and the
 * connection kept; a larger or chunked one that has not arrived closes the
 * connection, and the server stops reading once it has taken this much more
 * (the socket read under way may add one read of up to 64 KiB).
 */
export const UNREAD_BODY_DRAIN_BYTES = 64 * 1024;

/**
 * Longest wait, after an answer that closes the connection, for the client to
 * close its side before the server does. Closing a socket with unread bytes
 * sends a TCP reset, which can destroy the answer on its way; the wait gives
 * the client time to read it first (Go's net/http waits 500 ms as well).
 */
export const UNREAD_BODY_LINGER_MS = 500;

/**
 * Makes sure the server stops reading a request body that the answer being
 * written does not use. Call it before the answer's head is written; it does
 * nothing when there is no body left to come.
 *
 * - HTTP/1.1: a body that has arrived, or a `Content-Length` body of at most
 *   {@link UNREAD_BODY_DRAIN_BYTES}, is left to Node, which discards it and keeps
 *   the connection. Otherwise (larger, or chunked and not finished) the
 *   answer carries `Connection: close`; once it is sent the server half-closes,
 *   takes at most {@link UNREAD_BODY_DRAIN_BYTES} more and discards it (nothing
 *   of it is parsed as a further request), and closes the connection when the
 *   client does, or after {@link UNREAD_BODY_LINGER_MS}.
 * - HTTP/2: see {@link closeRequestStream}.
 *
 * @param req - the request being answered
 * @param res - its response, before `writeHead`
 */
export function discardUnreadBody(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  if (req.httpVersionMajor === 2) {
    closeRequestStream((req as Http2ServerRequest).stream);
    return;
  }
  const h1 = req as IncomingMessage;
  if (h1.complete || !hasBody(h1) || res.headersSent) return;
  const length = h1.headers['content-length'];
  if (h1.headers['transfer-encoding'] === undefined && length !== undefined && Number(length) <= UNREAD_BODY_DRAIN_BYTES) {
    // A reader that paused the body (the dynamic pricer's prefix) keeps Node from discarding it.
    if (h1.readableFlowing === false) h1.resume();
    return;
  }
  const socket = h1.socket as Socket & { destroySoon?: () => void };
  (res as ServerResponse).setHeader('connection', 'close');
  // Node calls destroySoon() once a `Connection: close` answer is written; it
  // would close at once, with the client's bytes unread (a reset).
  socket.destroySoon = lingeringClose;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** `destroySoon` of a socket whose answer did not read the body: the parser is cut off, then {@link closeAfterAnswer}. */
function lingeringClose(this: Socket): void {
  // The HTTP parser reads through 'data' (adding a listener makes Node stop
  // feeding it from the handle): with its listener gone nothing more is
  // parsed, so no further request is taken from these bytes.
  this.removeAllListeners('data');
  closeAfterAnswer(this);
}

/**
 * Closes a client connection whose answer has been written but whose bytes
 * are not wanted: half-closes it (the answer goes out first), reads and
 * discards until it has taken {@link UNREAD_BODY_DRAIN_BYTES}, then stops
 * reading, and destroys it when the client closes its side or after
 * {@link UNREAD_BODY_LINGER_MS}, whichever comes first.
 *
 * @param socket - the client connection, its answer written
 */
export function closeAfterAnswer(socket: Duplex): void {
  if (socket.destroyed) return;
  let drained = 0;
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained >= UNREAD_BODY_DRAIN_BYTES) socket.pause();
  });
  const close = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(close, UNREAD_BODY_LINGER_MS);
  socket.once('end', close);
  socket.once('close', () => clearTimeout(timer));
  socket.end();
  socket.resume();
  // While Node's HTTP parser read the socket, the stream's own read was left
  // pending; a zero-byte push ends it (as the stream documentation says of
  // `push('')`), so that the socket reads again, into the listener above.
  if (socket.readable) socket.push(Buffer.alloc(0));
}

/**
 * Once the answer on an HTTP/2 stream has gone out, ends the request side the
 * client may still be sending with `RST_STREAM(NO_ERROR)` (RFC 9113 §8.1) and
 * frees the stream, instead of taking its body. Until then flow control holds
 * the client to the stream's window (64 KiB unless configured otherwise),
 * which nothing reads.
 *
 * Node resets an answered stream itself only while nothing has read from it,
 * and may do so before the answer's last frame is sent (the client then sees
 * the answer aborted); here the reset waits until the stream's sending side
 * is closed (`state.localClose`), at most {@link UNREAD_BODY_LINGER_MS}.
 * Covers streams read from (the dynamic pricer's prefix), whose unread rest
 * would otherwise keep the stream open, and answers written on the stream
 * directly (gRPC trailers-only).
 *
 * @param stream - the client's stream, answered or about to be
 */
export function closeRequestStream(stream: ServerHttp2Stream): void {
  if (stream.destroyed || stream.endAfterHeaders) return;
  // Not flowing: Node's own early reset stays off.
  stream.pause();
  const started = Date.now();
  let wait = 0;
  const check = (): void => {
    if (stream.destroyed) return;
    if (stream.closed || stream.state.localClose === 1 || Date.now() - started >= UNREAD_BODY_LINGER_MS) {
      // Sends RST_STREAM(NO_ERROR) while the client's side is open, and drops whatever body is buffered.
      stream.destroy();
      return;
    }
    // The answer's frames leave on Node's next write to the socket: look again then, then less often.
    if (wait === 0) setImmediate(check);
    else setTimeout(check, wait);
    wait = wait === 0 ? 1 : Math.min(wait * 2, 64);
  };
  if (stream.writableFinished) check();
  else stream.once('finish', check);
}
