/**
 * REST forwarding over undici's `Pool.dispatch`: the request body is streamed
 * to the backend and the response streamed back, chunk by chunk, with
 * backpressure both ways and nothing buffered whole.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { UpstreamError } from '../../core/errors.js';
import { applyCors, corsHeadersFor, CORS_HEADER_NAMES } from '../cors.js';
import { markBackendCut } from './backend-cut.js';
import { requestHasBody } from './body-prefix.js';
import { downstreamHeaderList, downstreamHeaders } from './forward-headers.js';
import { classifyUpstreamError } from './upstream-failure.js';
import { UpstreamPool } from './upstreams.js';
import type { TailBuffer } from './tail-buffer.js';

/** A Node response of either protocol. */
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A Node request of either protocol. */
export type NodeIncoming = IncomingMessage | Http2ServerRequest;

/**
 * Cuts a response whose head was already sent, so that the client cannot take
 * what it got for a complete answer: HTTP/1.1 loses the connection (a body
 * shorter than its `content-length`, or a chunked body without its last
 * chunk), HTTP/2 gets `RST_STREAM(INTERNAL_ERROR)` (destroying the compatibility
 * response would reset with NO_ERROR, which clients read as a clean end).
 * A response still open is marked as cut for the backend (see `cutByBackend`);
 * one the client already left stays the client's.
 * @param res - the client response
 */
export function abortResponse(res: NodeResponse): void {
  const stream = (res as Http2ServerResponse).stream as Http2ServerResponse['stream'] | undefined;
  if (stream !== undefined && !stream.destroyed) {
    markBackendCut(res);
    stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (stream === undefined && !res.destroyed) markBackendCut(res);
  res.destroy();
}

/**
 * Writes an upstream failure as a short plain-text response, or cuts the
 * response (see {@link abortResponse}) when its head was already sent.
 * @param res - the client response
 * @param error - the classified failure
 */
export function writeUpstreamFailure(res: NodeResponse, error: UpstreamError): void {
  if (res.headersSent || res.destroyed) {
    abortResponse(res);
    return;
  }
  const status = error.status ?? 502;
  const body = `${status === 504 ? 'gateway timeout' : status === 503 ? 'service unavailable' : 'bad gateway'} (${error.code})\n`;
  applyCors(res);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  if (status === 503) res.setHeader('retry-after', '1');
  res.writeHead(status);
  res.end(body);
}

/** Where and what to send. */
export interface HttpForward {
  /** The backend's pool. */
  pool: Pool;
  /** Service name, for error messages. */
  service: string;
  /** Method. */
  method: string;
  /** Rewritten path and query. */
  path: string;
  /** Upstream headers, flat `[name, value, …]`. */
  headers: string[];
  /** Called with every upstream failure, for logs and metrics. */
  onError: (error: UpstreamError) => void;
  /**
   * The body to send instead of `req` (when part of it was already read, see
   * `resumedBody`); `req` itself by default.
   */
  body?: Readable | undefined;
  /** Longest wait for the backend's response head, in ms (0 = none); the pool's setting by default. */
  headersTimeoutMs?: number | undefined;
  /** Keeps the last bytes of the response body (a metered request). */
  tail?: TailBuffer | undefined;
}

/**
 * Forwards one request through undici and streams the answer back.
 * Never throws: failures become 502/504 responses, or a destroyed response
 * when the head was already sent. A client that goes away aborts the
 * upstream request.
 *
 * @param req - the client request (its body is streamed, not buffered)
 * @param res - the client response
 * @param forward - backend, path and headers
 */
export function forwardHttp(req: NodeIncoming, res: NodeResponse, forward: HttpForward): void {
  const h1 = req.httpVersionMajor !== 2;
  // An HTTP/2 stream the client already reset (HEADERS then RST_STREAM, the "rapid reset"
  // pattern) must not cost a backend connection. The compatibility response has no `destroyed`.
  if (!h1 && (res as Http2ServerResponse).stream.destroyed) return;
  const pool = forward.pool;
  let counted: UpstreamPool | undefined;
  if (pool instanceof UpstreamPool) {
    if (pool.inFlight >= pool.capacity) {
      const error = new UpstreamError(
        'L402_ERR_UPSTREAM_BUSY',
        `service ${forward.service}: all ${pool.connections} connections to the backend are busy and ${pool.capacity - pool.connections} requests already wait for one`,
        { status: 503 },
      );
      forward.onError(error);
      writeUpstreamFailure(res, error);
      return;
    }
    pool.inFlight++;
    counted = pool;
  }
  const handler = new ForwardHandler(res, forward, h1, counted);
  // 'drain' is listened for only once a write is refused (see onResponseData).
  res.on('close', handler.onClose);
  const options: Dispatcher.DispatchOptions = {
    method: forward.method as Dispatcher.HttpMethod,
    path: forward.path,
    headers: forward.headers,
    body: forward.body ?? (requestHasBody(req) ? req : null),
  };
  if (forward.headersTimeoutMs !== undefined) options.headersTimeout = forward.headersTimeoutMs;
  try {
    forward.pool.dispatch(options, handler);
  } catch (error) {
    handler.fail(error);
  }
}

const clientClosed = (): Error => new Error('client closed the request');

/**
 * undici's handler for one forwarded request: a class rather than an object of
 * closures, so that a request allocates one object and two bound listeners.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;
  /** Whether `onDrain` listens on the response (added at the first refused write). */
  #draining = false;
  readonly #res: NodeResponse;
  readonly #forward: HttpForward;
  readonly #h1: boolean;
  /** The pool whose in-flight count this request holds, until undici is done with it. */
  #pool: UpstreamPool | undefined;

  constructor(res: NodeResponse, forward: HttpForward, h1: boolean, pool: UpstreamPool | undefined) {
    this.#res = res;
    this.#forward = forward;
    this.#h1 = h1;
    this.#pool = pool;
  }

  /** Gives the request's place in the pool back (once: undici's last callback, or a failed dispatch). */
  #release(): void {
    const pool = this.#pool;
    if (pool !== undefined) {
      pool.inFlight--;
      this.#pool = undefined;
    }
  }

  readonly onDrain = (): void => {
    this.#controller?.resume();
  };

  readonly onClose = (): void => {
    if (this.#draining) this.#res.off('drain', this.onDrain);
    if (!this.#done) {
      this.#done = true;
      this.#controller?.abort(Object.assign(clientClosed(), { code: 'L402_CLIENT_ABORTED' }));
    }
  };

  fail(cause: unknown): void {
    this.#release();
    this.#done = true;
    const error = classifyUpstreamError(cause, this.#forward.service);
    this.#forward.onError(error);
    writeUpstreamFailure(this.#res, error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(clientClosed());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[]>,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return;
    const res = this.#res;
    // Gone, or already answered by the listener (a `readtimeout`/`writetimeout` answer).
    if (res.destroyed || res.headersSent) {
      controller.abort(clientClosed());
      return;
    }
    const backend = headers as Record<string, string | string[] | undefined>;
    const cors = corsHeadersFor(backend);
    if (!this.#h1) {
      const out = downstreamHeaders(backend);
      for (const name of Object.keys(out)) res.setHeader(name, out[name] as string | string[]);
      for (let i = 0; i < cors.length; i += 2) res.setHeader(cors[i] as string, cors[i + 1] as string);
      res.writeHead(statusCode);
      return;
    }
    // HTTP/1.1: the whole head from one list (no setHeader per header).
    const h1res = res as ServerResponse;
    if (statusMessage !== undefined && statusMessage !== '') h1res.statusMessage = statusMessage;
    h1res.writeHead(statusCode, downstreamHeaderList(backend, cors, CORS_HEADER_NAMES) as string[]);
    // A body of unknown length (an event stream, a long poll) may be slow to
    // come: send the head now. Otherwise it goes out with the first chunk, in
    // one write instead of two (the separate write cost a syscall and a
    // packet per response).
    if (backend['content-length'] === undefined) h1res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#forward.tail?.write(chunk);
    if ((this.#res as ServerResponse).write(chunk)) return;
    controller.pause();
    if (!this.#draining) {
      this.#draining = true;
      this.#res.on('drain', this.onDrain);
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.#release();
    this.#done = true;
    const res = this.#res;
    if (!this.#h1 && trailers !== null && typeof trailers === 'object' && Object.keys(trailers).length > 0) {
      res.addTrailers(downstreamHeaders(trailers as Record<string, string | string[] | undefined>));
    }
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#release();
    if (this.#done) return;
    this.fail(error);
  }
}
