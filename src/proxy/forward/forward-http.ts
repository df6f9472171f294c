/**
 * REST forwarding over undici's `Pool.dispatch`: the request body is streamed
 * to the backend and the response streamed back, chunk by chunk, with
 * backpressure both ways and nothing buffered whole.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import type { UpstreamError } from '../../core/errors.js';
import { applyCors } from '../cors.js';
import { requestHasBody } from './body-prefix.js';
import { downstreamHeaders } from './forward-headers.js';
import { classifyUpstreamError } from './upstream-failure.js';

/** A Node response of either protocol. */
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A Node request of either protocol. */
export type NodeIncoming = IncomingMessage | Http2ServerRequest;

/**
 * Writes an upstream failure as a short plain-text response.
 * @param res - the client response, head not yet sent
 * @param error - the classified failure
 */
export function writeUpstreamFailure(res: NodeResponse, error: UpstreamError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const status = error.status ?? 502;
  const body = `${status === 504 ? 'gateway timeout' : 'bad gateway'} (${error.code})\n`;
  applyCors(res);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
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
  let controller: Dispatcher.DispatchController | undefined;
  let done = false;
  const h1 = req.httpVersionMajor !== 2;
  const fail = (cause: unknown): void => {
    done = true;
    const error = classifyUpstreamError(cause, forward.service);
    forward.onError(error);
    writeUpstreamFailure(res, error);
  };
  const onDrain = (): void => controller?.resume();
  res.on('drain', onDrain);
  res.once('close', () => {
    res.off('drain', onDrain);
    if (!done) {
      done = true;
      controller?.abort(Object.assign(new Error('client closed the request'), { code: 'L402_CLIENT_ABORTED' }));
    }
  });
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (done) c.abort(new Error('client closed the request'));
    },
    onResponseStart(c, statusCode, headers, statusMessage) {
      if (statusCode < 200) return;
      if (res.destroyed) {
        c.abort(new Error('client closed the request'));
        return;
      }
      const out = downstreamHeaders(headers as Record<string, string | string[] | undefined>);
      for (const name of Object.keys(out)) res.setHeader(name, out[name] as string | string[]);
      applyCors(res);
      if (h1 && statusMessage !== undefined && statusMessage !== '') (res as ServerResponse).statusMessage = statusMessage;
      res.writeHead(statusCode);
      // A body of unknown length (an event stream, a long poll) may be slow to
      // come: send the head now. Otherwise it goes out with the first chunk, in
      // one write instead of two (the separate write cost a syscall and a
      // packet per response).
      if (h1 && out['content-length'] === undefined) (res as ServerResponse).flushHeaders();
    },
    onResponseData(c, chunk) {
      if (!(res as ServerResponse).write(chunk)) c.pause();
    },
    onResponseEnd(_c, trailers) {
      done = true;
      if (trailers !== null && typeof trailers === 'object' && Object.keys(trailers).length > 0 && !h1) {
        res.addTrailers(downstreamHeaders(trailers as Record<string, string | string[] | undefined>));
      }
      res.end();
    },
    onResponseError(_c, error) {
      if (done) return;
      fail(error);
    },
  };
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
    fail(error);
  }
}
