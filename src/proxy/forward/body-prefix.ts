/**
 * Reading the start of a request body before the request is forwarded (the
 * dynamic pricer sees up to 64 KiB of it, as the reference), without
 * buffering the rest: the bytes read are remembered per request and the
 * forwarder sends them first, then streams what the client has not sent yet.
 */
import type { Http2ServerRequest } from 'node:http2';
import { Readable } from 'node:stream';
import type { NodeIncoming } from './forward-http.js';

/** What {@link readBodyPrefix} found. */
export interface BodyPrefix {
  /** The first bytes of the body, at most the `maxBytes` asked for. */
  readonly bytes: Buffer;
  /** Whether the whole body was read (it was no longer than what was read). */
  readonly complete: boolean;
}

interface Consumed {
  chunks: Buffer[];
  complete: boolean;
}

const consumed = new WeakMap<NodeIncoming, Consumed>();

const EMPTY: BodyPrefix = Object.freeze({ bytes: Buffer.alloc(0), complete: true });

/**
 * Whether a client request carries a body: HTTP/1.1 by `Content-Length` or
 * `Transfer-Encoding`, HTTP/2 by the absence of END_STREAM on the headers.
 * @param req - the client request
 * @returns `true` when a body follows the head
 */
export function requestHasBody(req: NodeIncoming): boolean {
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads the body of a request until `maxBytes` bytes or its end, whichever
 * comes first, then pauses it. The proxy forwards the bytes read before the
 * rest of the stream (the proxy does this when it forwards), so reading a prefix never
 * changes what the backend receives and never buffers more than one chunk
 * past `maxBytes`. Calling it twice returns the same prefix.
 *
 * A client that goes away or fails mid-body resolves with what arrived
 * (`complete: false`); the request is then not forwarded anyway. So does a
 * body that has not reached `maxBytes` or its end within `timeoutMs`: HTTP/2
 * streams have no read timeout of their own, and a stalled body must not
 * hold the caller forever (the rest is still forwarded if the request passes).
 *
 * @param req - the client request (HTTP/1.1 or HTTP/2 compatibility request)
 * @param maxBytes - most bytes to return
 * @param timeoutMs - longest wait for the prefix, ms; `undefined` or 0 waits as long as the body takes
 * @returns the prefix and whether it is the whole body; never rejects
 */
export function readBodyPrefix(req: NodeIncoming, maxBytes: number, timeoutMs?: number): Promise<BodyPrefix> {
  const known = consumed.get(req);
  if (known !== undefined) return Promise.resolve(prefixOf(known, maxBytes));
  if (!requestHasBody(req) || req.readableEnded) return Promise.resolve(EMPTY);
  const state: Consumed = { chunks: [], complete: false };
  consumed.set(req, state);
  return new Promise((resolve) => {
    let size = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', finish);
      req.off('close', finish);
      req.pause();
      resolve(prefixOf(state, maxBytes));
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      state.chunks.push(buffer);
      size += buffer.length;
      if (size >= maxBytes) finish();
    };
    const onEnd = (): void => {
      state.complete = true;
      finish();
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', finish);
    req.once('close', finish);
    if (timeoutMs !== undefined && timeoutMs > 0) timer = setTimeout(finish, timeoutMs);
  });
}

function prefixOf(state: Consumed, maxBytes: number): BodyPrefix {
  const all = state.chunks.length === 1 ? (state.chunks[0] as Buffer) : Buffer.concat(state.chunks);
  return { bytes: all.length > maxBytes ? all.subarray(0, maxBytes) : all, complete: state.complete && all.length <= maxBytes };
}

/**
 * The body to send upstream for a request whose prefix was read by
 * {@link readBodyPrefix}: the bytes already read followed by the rest of the
 * request, pulled chunk by chunk (backpressure is kept; nothing more is
 * buffered). Hands the bytes over once: a second call returns `undefined`.
 * @param req - the client request
 * @returns the whole body as a stream, or `undefined` when nothing was read from `req`
 *   (then `req` itself is the body)
 */
export function resumedBody(req: NodeIncoming): Readable | undefined {
  const state = consumed.get(req);
  if (state === undefined) return undefined;
  consumed.delete(req);
  const { chunks, complete } = state;
  async function* body(): AsyncGenerator<Buffer> {
    for (const chunk of chunks.splice(0)) yield chunk;
    if (complete) return;
    for await (const chunk of req as AsyncIterable<Buffer | string>) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  }
  return Readable.from(body(), { objectMode: false });
}
