/**
 * The listener's per-request timeouts on HTTP/2 streams. `readtimeout`: the
 * whole request (head and body) must have arrived within it. HTTP/1.1 is cut
 * by Node's `requestTimeout`; HTTP/2 streams by a timer of their own, set here.
 *
 * When the timeout ends a request whose response has not started, the client
 * gets 408 (gRPC calls status 4 DEADLINE_EXCEEDED), otherwise the stream is
 * reset with `INTERNAL_ERROR` (node:http2 clients take `CANCEL` for a clean
 * end, and a cut response must never look complete). Either way the
 * response's `close` event aborts the backend request.
 */
import { constants, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import { applyCors } from '../cors.js';
import { writeGrpcTrailersOnly } from '../forward/grpc-reply.js';

const GRPC = /^application\/grpc/i;

const READ_TIMEOUT = 'L402_ERR_PROXY_READ_TIMEOUT';

/** Writes the short plain-text answer of a timeout on a response whose head was not sent. */
function answer(res: Http2ServerResponse, status: 408, code: string): void {
  const body = `request timeout (${code})\n`;
  applyCors(res);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  res.writeHead(status);
  res.end(body);
}

/**
 * Ends an HTTP/2 request that ran out of time: answers when nothing was sent
 * yet, then resets the stream (`NO_ERROR` once the answer is complete, which
 * RFC 9113 §8.1 allows to stop an upload; `INTERNAL_ERROR` for a response cut
 * midway).
 */
function endStream(req: Http2ServerRequest, res: Http2ServerResponse, status: 408, code: string): void {
  const stream = req.stream;
  if (stream.destroyed || stream.closed) return;
  if (res.writableEnded) {
    // Answered already (a 402 before the body was read, say): only the upload is left to stop.
    stream.close(constants.NGHTTP2_NO_ERROR);
    return;
  }
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  try {
    if (GRPC.test(req.headers['content-type'] ?? '')) {
      writeGrpcTrailersOnly(stream, 4, `request not received within readtimeout [${code}]`);
    } else {
      answer(res, status, code);
    }
    stream.close(constants.NGHTTP2_NO_ERROR);
  } catch {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}

/**
 * Arms `readtimeout` on one HTTP/2 request (see the module comment). The timer
 * goes with the stream.
 *
 * @param req - the compatibility request
 * @param res - its response
 * @param readMs - `readtimeout` in ms; 0 = none
 */
export function watchHttp2Request(req: Http2ServerRequest, res: Http2ServerResponse, readMs: number): void {
  const stream: ServerHttp2Stream = req.stream;
  if (readMs > 0 && !stream.endAfterHeaders) {
    const timer = setTimeout(endStream, readMs, req, res, 408, READ_TIMEOUT);
    const clear = (): void => clearTimeout(timer);
    req.once('end', clear);
    stream.once('close', clear);
  }
}
