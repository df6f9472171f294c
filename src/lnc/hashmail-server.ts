/**
 * The hashmail mailbox server (aperture's `hashmail` section) for a Node
 * listener: one {@link HashmailCore} behind its front ends.
 *
 * - gRPC `hashmailrpc.HashMail` on `/hashmailrpc.HashMail/…` (HTTP/2).
 * - The WebSocket endpoints `/v1/lightning-node-connect/hashmail/receive` and
 *   `/send` (`?method=POST`), grpc-gateway's JSON frames.
 * - REST on `/v1/lightning-node-connect/hashmail`: `POST` creates a stream
 *   (NewCipherBox, body `{"desc":{"stream_id":…},"lnd_auth":{}}`), `DELETE`
 *   deletes one (DelCipherBox; the same body). Streaming over plain HTTP
 *   (chunked NDJSON, which nothing in the LNC world uses) is answered 501.
 * - The reference's CORS on the REST and WebSocket paths: with an `Origin`,
 *   `Access-Control-Allow-Origin` echoes it and `OPTIONS` is answered with
 *   the headers only.
 * - Session activity classified every 10 s for the session gauges.
 *
 * @internal Not exported from the package.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  HashmailCore,
  HashmailError,
  HASHMAIL_GRPC_CODE,
  requestStreamId,
  type HashmailActivity,
  type HashmailCoreOptions,
} from './hashmail-core.js';
import { handleHashmailGrpc, type HashmailCallEvent } from './hashmail-grpc.js';
import { parseCipherBoxAuthJson, statusJson } from './hashmail-json.js';
import { HASHMAIL_GRPC_PREFIX } from './hashmail-proto.js';
import { HashmailWebSockets, type WsModule } from './hashmail-websocket.js';

/** The REST and WebSocket prefix. */
export const HASHMAIL_REST_PREFIX = '/v1/lightning-node-connect/hashmail';

const CORS_HEADERS = 'Content-Type, Accept, Grpc-Metadata-Macaroon';
const CORS_METHODS = 'GET, POST, PUT, DELETE';
/** The largest REST body (a CipherBoxAuth in JSON). */
const MAX_REST_BODY = 4096;
/** How often session activity is classified (the reference: 10 s). */
const CLASSIFY_INTERVAL_MS = 10_000;

/** Options of a {@link HashmailServer}: the mailbox's, and the front ends'. */
export interface HashmailServerOptions extends HashmailCoreOptions {
  /** The `ws` package, for the WebSocket endpoints (an optional dependency the caller loads). */
  ws: WsModule;
  /** WebSocket ping interval, ms (`wspinginterval`; default 30 s; 0 disables). */
  wsPingIntervalMs?: number | undefined;
  /** How long past a ping a silent WebSocket is kept, ms (`wspongwait`; default 15 s). */
  wsPongWaitMs?: number | undefined;
  /** How long a request message (a unary call's, RecvStream's, `/receive`'s) may take to arrive, ms (default 15 s; 0: none). */
  requestTimeoutMs?: number | undefined;
  /** Most WebSockets open at once (default 20000: two per session of the default stream limit). */
  maxWebSockets?: number | undefined;
  /** Told about each call when it ends. */
  onCall?: (event: HashmailCallEvent & { transport: 'grpc' | 'websocket' | 'rest' }) => void;
}

/** Which front end a request target belongs to, if any. */
export type HashmailTarget = 'grpc' | 'receive' | 'send' | 'rest';

/**
 * Which hashmail front end a request target is for.
 * @param url - the request target
 * @returns the front end, or undefined for a target that is not the mailbox's
 */
export function hashmailTarget(url: string | undefined): HashmailTarget | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith(HASHMAIL_GRPC_PREFIX)) return 'grpc';
  if (!url.startsWith(HASHMAIL_REST_PREFIX)) return undefined;
  const path = url.split('?', 1)[0] ?? url;
  if (path === HASHMAIL_REST_PREFIX || path === `${HASHMAIL_REST_PREFIX}/`) return 'rest';
  if (path === `${HASHMAIL_REST_PREFIX}/receive`) return 'receive';
  if (path === `${HASHMAIL_REST_PREFIX}/send`) return 'send';
  return undefined;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** The mailbox and its front ends. */
export class HashmailServer {
  /** The mailbox. */
  readonly core: HashmailCore;
  readonly #o: HashmailServerOptions;
  readonly #maxMessage: number;
  readonly #requestTimeoutMs: number;
  readonly #sockets: HashmailWebSockets;
  readonly #classify: ReturnType<typeof setInterval>;
  #sessions: HashmailActivity = { active: 0, inUse: 0, standby: 0 };
  #closed = false;
  readonly #shutdown = new AbortController();

  /**
   * @param options - limits, timeouts and `ws`
   * @throws L402Error `L402_ERR_HASHMAIL_INVALID_OPTION` for a bad limit
   */
  constructor(options: HashmailServerOptions) {
    this.#o = options;
    this.core = new HashmailCore(options);
    this.#maxMessage = options.maxMessageBytes ?? 4 * 1024 * 1024;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    const onCall = options.onCall;
    this.#sockets = new HashmailWebSockets({
      core: this.core,
      ws: options.ws,
      maxMessageBytes: this.#maxMessage,
      pingIntervalMs: options.wsPingIntervalMs ?? 30_000,
      pongWaitMs: options.wsPongWaitMs ?? 15_000,
      requestTimeoutMs: this.#requestTimeoutMs,
      maxSockets: options.maxWebSockets ?? 20_000,
      ...(onCall === undefined ? {} : { onCall: (event: HashmailCallEvent) => onCall({ ...event, transport: 'websocket' }) }),
    });
    this.#classify = setInterval(() => {
      this.#sessions = this.core.classifyActivity();
    }, CLASSIFY_INTERVAL_MS);
    this.#classify.unref();
  }

  /** The session gauges of the last classification (every 10 s). */
  get sessions(): HashmailActivity {
    return this.#sessions;
  }

  /** Open hashmail WebSockets. */
  get webSockets(): number {
    return this.#sockets.size;
  }

  /**
   * Serves a request whose target {@link hashmailTarget} named. Never throws.
   * @param req - the request
   * @param res - its response
   */
  handleRequest(req: AnyRequest, res: AnyResponse): void {
    const target = hashmailTarget(req.url);
    if (target === 'grpc') {
      if (req.httpVersionMajor !== 2) {
        plain(res, 400, 'gRPC requires HTTP/2\n');
        return;
      }
      const onCall = this.#o.onCall;
      handleHashmailGrpc(req as Http2ServerRequest, res as Http2ServerResponse, {
        core: this.core,
        maxMessageBytes: this.#maxMessage,
        requestTimeoutMs: this.#requestTimeoutMs,
        shutdown: this.#shutdown.signal,
        ...(onCall === undefined ? {} : { onCall: (event: HashmailCallEvent) => onCall({ ...event, transport: 'grpc' }) }),
      });
      return;
    }
    const origin = req.headers.origin;
    if (typeof origin === 'string' && origin !== '') {
      res.setHeader('access-control-allow-headers', CORS_HEADERS);
      res.setHeader('access-control-allow-methods', CORS_METHODS);
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
        return;
      }
    }
    if (target === 'rest' && (req.method === 'POST' || req.method === 'DELETE')) {
      this.#rest(req, res, req.method);
      return;
    }
    if (target === 'receive' || target === 'send') {
      json(
        res,
        501,
        statusJson(
          HASHMAIL_GRPC_CODE.UNIMPLEMENTED,
          `streaming over plain HTTP is not served here; open a WebSocket to ${HASHMAIL_REST_PREFIX}/${target}?method=POST`,
        ),
      );
      return;
    }
    res.setHeader('allow', target === 'rest' ? 'POST, DELETE, OPTIONS' : 'GET, OPTIONS');
    json(res, 405, statusJson(HASHMAIL_GRPC_CODE.UNIMPLEMENTED, 'Method Not Allowed'));
  }

  /**
   * Completes a WebSocket upgrade to `/receive` or `/send`; anything else is
   * answered 404. Never throws.
   * @param req - the upgrade request
   * @param socket - its socket
   * @param head - bytes read past the head
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = hashmailTarget(req.url);
    if (target !== 'receive' && target !== 'send') {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.#sockets.handleUpgrade(req, socket, head, target);
  }

  /** Tears every stream down, ending the calls on them, and closes the WebSockets. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#classify);
    this.#shutdown.abort();
    this.core.close();
    this.#sockets.close();
  }

  #rest(req: AnyRequest, res: AnyResponse, method: 'POST' | 'DELETE'): void {
    const rpc = method === 'POST' ? 'NewCipherBox' : 'DelCipherBox';
    void readBody(req, MAX_REST_BODY, this.#requestTimeoutMs)
      .then((body) => {
        const auth = parseCipherBoxAuthJson(body === '' ? '{}' : body);
        const streamId = requestStreamId(auth, true);
        if (method === 'POST') {
          this.core.createStream(streamId);
          json(res, 200, '{"success":{"desc":null}}');
        } else {
          this.core.deleteStream(streamId);
          json(res, 200, '{}');
        }
        this.#o.onCall?.({ method: rpc, code: 0, transport: 'rest' });
      })
      .catch((error: unknown) => {
        const known = error instanceof HashmailError;
        const code = known ? error.grpcCode : HASHMAIL_GRPC_CODE.INTERNAL;
        const message = known ? error.message : 'internal error';
        this.#o.onCall?.({ method: rpc, code, message, transport: 'rest', ...(known ? {} : { cause: error }) });
        if (!res.headersSent && !res.destroyed) json(res, httpStatusOf(code), statusJson(code, message));
      });
  }
}

/** grpc-gateway's HTTP status for a gRPC code. */
function httpStatusOf(code: number): number {
  switch (code) {
    case HASHMAIL_GRPC_CODE.ALREADY_EXISTS:
      return 409;
    case HASHMAIL_GRPC_CODE.RESOURCE_EXHAUSTED:
      return 429;
    case HASHMAIL_GRPC_CODE.UNIMPLEMENTED:
      return 501;
    case 4:
      return 504;
    default:
      return 500;
  }
}

function plain(res: AnyResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: AnyResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Reads a small body, refusing one above `max` bytes or slower than `timeoutMs`. */
function readBody(req: AnyRequest, max: number, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer =
      timeoutMs > 0
        ? setTimeout(
            () => fail(new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', 'request not received within readtimeout', 4)),
            timeoutMs,
          )
        : undefined;
    const fail = (error: HashmailError): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        fail(
          new HashmailError(
            'L402_ERR_HASHMAIL_BAD_REQUEST',
            `the request body is above ${max} bytes`,
            HASHMAIL_GRPC_CODE.RESOURCE_EXHAUSTED,
          ),
        );
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      if (size <= max) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', () => fail(new HashmailError('L402_ERR_HASHMAIL_STREAM_CLOSED', 'the request failed')));
  });
}
