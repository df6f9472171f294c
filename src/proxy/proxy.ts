/**
 * The forwarding core of the reverse proxy: route, authorize, forward.
 */
import { realpathSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { nodeRequestView, normalizePeerAddress, type NodeRequest, type NodeRequestViewOptions } from '../adapters/node/request-view.js';
import { discardUnreadBody } from '../adapters/node/discard-unread-body.js';
import { writeNodeDecision } from '../adapters/node/write-node-decision.js';
import { L402Error, type UpstreamError } from '../core/errors.js';
import { grpcStatusFor } from '../core/grpc-status.js';
import { isPromise } from '../core/is-promise.js';
import type { Decision, MaybePromise, RequestView } from '../core/types.js';
import { canonicalAuthorization } from './canonical-authorization.js';
import { canonicalTarget } from './canonical-target.js';
import { applyCors } from './cors.js';
import { resumedBody } from './forward/body-prefix.js';
import { upstreamHeaders } from './forward/forward-headers.js';
import { forwardGrpc } from './forward/forward-grpc.js';
import { forwardHttp, type NodeResponse } from './forward/forward-http.js';
import { forwardWebSocket, writeRawResponse } from './forward/forward-websocket.js';
import { writeGrpcTrailersOnly } from './forward/grpc-reply.js';
import { resolveTimeouts, Upstreams, type ResolvedTimeouts, type UpstreamTimeouts } from './forward/upstreams.js';
import type { ProxyService } from './proxy-service.js';
import { Router } from './router.js';
import { serveStatic } from './static-files.js';

/** What the authorization hook sees. */
export interface AuthorizeContext<S extends ProxyService = ProxyService> {
  /** The service the request matched. */
  service: S;
  /** The core view of the request. */
  request: RequestView;
  /**
   * The raw Node request (HTTP/1.1 or HTTP/2 compatibility). Its body may only
   * be read through `readBodyPrefix`, which hands the bytes read back to the
   * forwarder; reading it otherwise loses them.
   */
  raw: NodeRequest;
  /** Whether this is a gRPC call (HTTP/2, `content-type: application/grpc…`). */
  grpc: boolean;
}

/**
 * A decision plus what to tell the backend. For `allow`, `upstreamAuthorization`
 * replaces the client's `Authorization`; when absent and the decision carries
 * a token, the proxy re-emits the request's credential canonically itself.
 */
export interface AuthorizeOutcome {
  /** The decision to apply. */
  decision: Decision;
  /** Value of the backend's `Authorization` header (only used on `allow`). */
  upstreamAuthorization?: string | undefined;
}

/** What the authorization hook returns: a bare decision or an {@link AuthorizeOutcome}. */
export type AuthorizeResult = Decision | AuthorizeOutcome;

/** Options of {@link Proxy}. */
export interface ProxyOptions<S extends ProxyService = ProxyService> {
  /** Services in priority order, or a router to share. */
  services?: readonly S[] | Router<S>;
  /**
   * Called after routing and before forwarding. Without it every matched
   * request is forwarded. A throw or rejection answers 500
   * (`L402_ERR_PROXY_AUTHORIZE_FAILED`; gRPC status 13).
   */
  authorize?: (context: AuthorizeContext<S>) => MaybePromise<AuthorizeResult>;
  /** Trusted-proxy handling of the client address seen by `authorize` (see `clientIp` in the rate-limit module). */
  resolveClientIp?: (peer: string, xff: string | undefined, forwarded: string | undefined) => string;
  /** Timeouts towards backends. */
  timeouts?: UpstreamTimeouts;
  /**
   * Most connections per REST backend origin; requests beyond them wait for a
   * free one. Default 256; 0 = no limit.
   */
  maxConnectionsPerOrigin?: number;
  /**
   * Most requests waiting for a connection per REST backend origin; one more
   * is answered 503 `L402_ERR_UPSTREAM_BUSY`. Default 1024; 0 = no limit.
   */
  maxQueuedPerOrigin?: number;
  /** Serve files from this directory when no service matches (`servestatic`); 404 otherwise. */
  staticRoot?: string;
  /** Receives every upstream failure and hook error, for logs and metrics. */
  onError?: (error: L402Error, service: string | undefined) => void;
}

const GRPC = /^application\/grpc/i;
const AUTH_OFF: Decision = { kind: 'allow', reason: 'auth-off' };

function outcomeOf(result: AuthorizeResult): AuthorizeOutcome {
  return 'kind' in result ? { decision: result } : result;
}

/**
 * Writes a challenge or reject decision as an HTTP response: the proxy's CORS
 * headers, then {@link writeNodeDecision} (status, every header with repeated
 * names kept, plain-text body, none for HEAD).
 * @param req - the client request (HEAD gets no body)
 * @param res - the client response
 * @param decision - what to write
 */
export function writeHttpDecision(req: NodeRequest, res: NodeResponse, decision: Exclude<Decision, { kind: 'allow' }>): void {
  if (res.headersSent || res.destroyed) return;
  applyCors(res);
  writeNodeDecision(res, decision, req);
}

/**
 * Writes a challenge or rejection in the form the client speaks: a gRPC call
 * (HTTP/2 with `content-type: application/grpc…`) gets a trailers-only reply
 * with the mapped grpc-status, anything else {@link writeHttpDecision}.
 * @param req - the request being answered
 * @param res - its response
 * @param decision - what to write
 */
export function writeDecision(req: NodeRequest, res: NodeResponse, decision: Exclude<Decision, { kind: 'allow' }>): void {
  if (req.httpVersionMajor === 2 && GRPC.test(String(req.headers['content-type'] ?? ''))) {
    if (res.headersSent || res.destroyed) return;
    const status = grpcStatusFor(decision);
    writeGrpcTrailersOnly((req as Http2ServerRequest).stream, status.code, status.message, status.metadata);
  } else {
    writeHttpDecision(req, res, decision);
  }
}

/**
 * The reverse proxy's request handler: matches a service, asks the
 * authorization hook, and forwards REST (undici), gRPC (node:http2),
 * server-sent events and WebSocket upgrades to the backend.
 *
 * Attach {@link Proxy.handleRequest} to an HTTP/1.1 or HTTP/2 server's
 * `'request'` event and {@link Proxy.handleUpgrade} to its `'upgrade'` event,
 * or let `ProxyServer` do it.
 *
 * @typeParam S - the service type; extra fields reach the authorization hook
 * @example
 * ```ts
 * const proxy = new Proxy({
 *   services: [{ name: 'api', hostRegexp: '.*', address: '127.0.0.1:8080' }],
 *   authorize: ({ request }) => gate.decide(request, { service: 'api', priceSats: 10 }),
 * });
 * http.createServer(proxy.handleRequest).on('upgrade', proxy.handleUpgrade).listen(8081);
 * ```
 */
export class Proxy<S extends ProxyService = ProxyService> {
  /** The routing table; {@link Proxy.replaceServices} swaps it live. */
  readonly router: Router<S>;
  readonly #upstreams: Upstreams;
  readonly #timeouts: ResolvedTimeouts;
  readonly #authorize: ProxyOptions<S>['authorize'];
  readonly #viewOptions: NodeRequestViewOptions;
  readonly #staticRoot: string | undefined;
  readonly #onError: (error: L402Error, service: string | undefined) => void;

  /**
   * @param options - services, hook, timeouts
   * @throws L402Error `L402_ERR_PROXY_BAD_REGEXP` when a service's regular expression does not compile
   * @throws L402Error `L402_ERR_PROXY_STATIC_ROOT` when `staticRoot` does not exist
   */
  constructor(options: ProxyOptions<S> = {}) {
    const services = options.services;
    this.router = services instanceof Router ? services : new Router<S>(services ?? []);
    this.#timeouts = resolveTimeouts(options.timeouts);
    this.#upstreams = new Upstreams(this.#timeouts, { connections: options.maxConnectionsPerOrigin, queue: options.maxQueuedPerOrigin });
    this.#authorize = options.authorize;
    this.#viewOptions = options.resolveClientIp === undefined ? {} : { resolveClientIp: options.resolveClientIp };
    this.#onError = options.onError ?? (() => undefined);
    if (options.staticRoot !== undefined) {
      try {
        this.#staticRoot = realpathSync(options.staticRoot);
      } catch (cause) {
        throw new L402Error('L402_ERR_PROXY_STATIC_ROOT', `static root ${options.staticRoot} does not exist`, { cause });
      }
    }
  }

  /**
   * Replaces the services live. Requests already matched keep their service;
   * connections to backends no longer used are closed once idle.
   * @param services - the new services in priority order
   * @throws L402Error `L402_ERR_PROXY_BAD_REGEXP` (the old table stays in place)
   */
  replaceServices(services: readonly S[]): void {
    this.router.replace(services);
    this.#upstreams.retain(services);
  }

  /**
   * Handles one request (HTTP/1.1 `IncomingMessage` or HTTP/2 compatibility
   * request). Never throws and never rejects.
   */
  readonly handleRequest = (req: IncomingMessage | Http2ServerRequest, res: NodeResponse): void => {
    req.on('error', ignore);
    (res as NodeJS.EventEmitter).on('error', ignore);
    if (req.method === 'OPTIONS') {
      discardUnreadBody(req, res);
      applyCors(res);
      res.setHeader('content-length', 0);
      res.writeHead(200);
      res.end();
      return;
    }
    const h2 = req.httpVersionMajor === 2;
    const headers = req.headers;
    const host = (h2 ? (headers[':authority'] as string | undefined) : undefined) ?? headers.host ?? '';
    const grpc = h2 && GRPC.test(headers['content-type'] ?? '');
    const raw = req.url ?? '/';
    const target = canonicalTarget(raw, host);
    if (!('path' in target)) {
      this.#badTarget(req, res, grpc, target.reason);
      return;
    }
    // Routed, authorized, rate-limited and forwarded: the same origin-form target.
    const path = target.query === '' ? target.path : target.path + target.query;
    if (path !== raw) req.url = path;
    const service = this.router.match(host, target.path);
    if (service === undefined) {
      this.#unmatched(req, res, grpc, host, path);
      return;
    }
    const authorize = this.#authorize;
    if (authorize === undefined) {
      this.#decided(req, res, service, grpc, host, path, undefined, AUTH_OFF);
      return;
    }
    // The paid path stays synchronous when the hook answers synchronously (a
    // cached verification, an in-memory rate limit): no closures, no microtask.
    const view = nodeRequestView(req, this.#viewOptions);
    let result: MaybePromise<AuthorizeResult>;
    try {
      result = authorize({ service, request: view, raw: req, grpc });
    } catch (cause) {
      this.#hookFailed(req, res, service, grpc, cause);
      return;
    }
    if (isPromise(result)) {
      result.then(
        (value) => this.#decided(req, res, service, grpc, host, path, view, value),
        (cause: unknown) => this.#hookFailed(req, res, service, grpc, cause),
      );
      return;
    }
    this.#decided(req, res, service, grpc, host, path, view, result);
  };

  /**
   * Handles an HTTP/1.1 `Upgrade` request: WebSocket upgrades are authorized
   * like any request and then tunnelled to the backend; other upgrades get 400.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignore);
    const host = req.headers.host ?? '';
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      writeRawResponse(socket, 400, 'Bad Request', 'unsupported upgrade\n');
      return;
    }
    const raw = req.url ?? '/';
    const target = canonicalTarget(raw, host);
    if (!('path' in target)) {
      writeRawResponse(socket, 400, 'Bad Request', `bad request target: ${target.reason} (L402_ERR_PROXY_BAD_TARGET)\n`);
      return;
    }
    const path = target.query === '' ? target.path : target.path + target.query;
    if (path !== raw) req.url = path;
    const service = this.router.match(host, target.path);
    if (service === undefined) {
      writeRawResponse(socket, 404, 'Not Found', 'no service for this host and path\n');
      return;
    }
    this.#authorized(req, service, false, (outcome) => {
      const decision = outcome.decision;
      if (decision.kind !== 'allow') {
        writeRawResponse(socket, decision.status, decision.kind === 'challenge' ? 'Payment Required' : 'Rejected', decision.body, decision.headers);
        return;
      }
      const authorization =
        outcome.upstreamAuthorization ?? (decision.token !== undefined ? canonicalAuthorization(nodeRequestView(req)) : undefined);
      forwardWebSocket(socket, head, {
        service,
        method: req.method ?? 'GET',
        path: rewritePath(service, path),
        headers: upstreamHeaders(req.rawHeaders, {
          clientIp: normalizePeerAddress(req.socket.remoteAddress),
          proto: isEncrypted(req) ? 'https' : 'http',
          originalHost: host,
          backendHost: service.address,
          grpc: false,
          upgrade: true,
          inject: service.headers,
          authorization,
        }),
        connectMs: this.#timeouts.connectMs,
        headersMs: service.upstreamTimeoutMs ?? this.#timeouts.headersMs,
        idleMs: this.#timeouts.websocketIdleMs,
        onError: (error) => this.#onError(error, service.name),
      });
    }, (error) => {
      writeRawResponse(socket, 500, 'Internal Server Error', `internal error (${error.code})\n`);
    });
  };

  /**
   * Closes every backend connection: in-flight requests finish first unless `force`.
   * @param force - destroy connections instead of waiting
   */
  async close(force = false): Promise<void> {
    await this.#upstreams.close(force);
  }

  /** Applies the hook's answer to a request; a throw while doing so answers 500 like a failing hook. */
  #decided(
    req: NodeRequest,
    res: NodeResponse,
    service: S,
    grpc: boolean,
    host: string,
    path: string,
    view: RequestView | undefined,
    result: AuthorizeResult,
  ): void {
    try {
      if (res.destroyed || res.writableEnded) return;
      const outcome = 'kind' in result ? undefined : result;
      const decision = outcome === undefined ? (result as Decision) : outcome.decision;
      if (decision.kind !== 'allow') {
        if (grpc) {
          const status = grpcStatusFor(decision);
          writeGrpcTrailersOnly((req as Http2ServerRequest).stream, status.code, status.message, status.metadata);
        } else {
          writeHttpDecision(req, res, decision);
        }
        return;
      }
      const authorization = outcome?.upstreamAuthorization
        ?? (decision.token !== undefined ? canonicalAuthorization(view ?? nodeRequestView(req)) : undefined);
      this.#forward(req, res, service, grpc, host, path, authorization);
    } catch (cause) {
      this.#hookFailed(req, res, service, grpc, cause);
    }
  }

  /** A hook that threw or rejected (or a throw applying its answer): 500, or gRPC status 13. */
  #hookFailed(req: NodeRequest, res: NodeResponse, service: S, grpc: boolean, cause: unknown): void {
    const error = new L402Error('L402_ERR_PROXY_AUTHORIZE_FAILED', `service ${service.name}: authorization hook failed`, {
      status: 500,
      cause,
    });
    this.#onError(error, service.name);
    if (grpc) writeGrpcTrailersOnly((req as Http2ServerRequest).stream, 13, `authorization failed [${error.code}]`);
    else writeHttpDecision(req, res, { kind: 'reject', status: 500, headers: [], body: `internal error (${error.code})\n`, code: error.code });
  }

  #authorized(
    req: NodeRequest,
    service: S,
    grpc: boolean,
    then: (outcome: AuthorizeOutcome) => void,
    fail: (error: L402Error) => void,
  ): void {
    const authorize = this.#authorize;
    if (authorize === undefined) {
      then({ decision: { kind: 'allow', reason: 'auth-off' } });
      return;
    }
    const onError = (cause: unknown): void => {
      const error = new L402Error('L402_ERR_PROXY_AUTHORIZE_FAILED', `service ${service.name}: authorization hook failed`, {
        status: 500,
        cause,
      });
      this.#onError(error, service.name);
      fail(error);
    };
    let result: MaybePromise<AuthorizeResult>;
    try {
      result = authorize({ service, request: nodeRequestView(req, this.#viewOptions), raw: req, grpc });
    } catch (cause) {
      onError(cause);
      return;
    }
    const apply = (value: AuthorizeResult): void => {
      try {
        then(outcomeOf(value));
      } catch (cause) {
        onError(cause);
      }
    };
    if (isPromise(result)) result.then(apply, onError);
    else apply(result);
  }

  #forward(
    req: NodeRequest,
    res: NodeResponse,
    service: S,
    grpc: boolean,
    host: string,
    path: string,
    authorization: string | undefined,
  ): void {
    const headers = upstreamHeaders(req.rawHeaders, {
      clientIp: normalizePeerAddress(req.socket?.remoteAddress),
      proto: isEncrypted(req) ? 'https' : 'http',
      originalHost: host,
      backendHost: service.address,
      grpc,
      upgrade: false,
      inject: service.headers,
      authorization,
    });
    const onError = (error: UpstreamError): void => this.#onError(error, service.name);
    const upstreamPath = rewritePath(service, path);
    // Set when the hook read the start of the body (a dynamic price): those bytes go first.
    const body = resumedBody(req);
    if (grpc) {
      forwardGrpc((req as Http2ServerRequest).stream, {
        session: () => this.#upstreams.session(service),
        service: service.name,
        scheme: service.protocol === 'https' ? 'https' : 'http',
        authority: service.address,
        path: upstreamPath,
        headers,
        onError,
        body,
      });
      return;
    }
    let pool;
    try {
      pool = this.#upstreams.pool(service);
    } catch (cause) {
      const error = cause as UpstreamError;
      onError(error);
      writeHttpDecision(req, res, { kind: 'reject', status: 502, headers: [], body: `bad gateway (${error.code})\n`, code: error.code });
      return;
    }
    forwardHttp(req, res, {
      pool,
      service: service.name,
      method: req.method ?? 'GET',
      path: upstreamPath,
      headers,
      onError,
      body,
      headersTimeoutMs: service.upstreamTimeoutMs,
    });
  }

  /** A request target refused by {@link canonicalTarget}: 400, or gRPC status 3 INVALID_ARGUMENT. */
  #badTarget(req: NodeRequest, res: NodeResponse, grpc: boolean, reason: string): void {
    const code = 'L402_ERR_PROXY_BAD_TARGET';
    if (grpc) {
      writeGrpcTrailersOnly((req as Http2ServerRequest).stream, 3, `bad request target: ${reason} [${code}]`);
      return;
    }
    writeHttpDecision(req, res, { kind: 'reject', status: 400, headers: [], body: `bad request target: ${reason} (${code})\n`, code });
  }

  #unmatched(req: NodeRequest, res: NodeResponse, grpc: boolean, host: string, path: string): void {
    if (grpc) {
      writeGrpcTrailersOnly((req as Http2ServerRequest).stream, 12, `no service for ${host}${path}`);
      return;
    }
    if (this.#staticRoot !== undefined) {
      // No file answer reads the body.
      discardUnreadBody(req, res);
      serveStatic(this.#staticRoot, req, res);
      return;
    }
    writeHttpDecision(req, res, {
      kind: 'reject',
      status: 404,
      headers: [],
      body: 'no service for this host and path\n',
      code: 'L402_ERR_PROXY_NO_ROUTE',
    });
  }
}

function ignore(): void {}

function isEncrypted(req: NodeRequest): boolean {
  return (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/** `rewritePrefix` prepended to the path: `/api` + `/v1/x` → `/api/v1/x`. */
function rewritePath(service: ProxyService, path: string): string {
  const prefix = service.rewritePrefix;
  if (prefix === undefined || prefix === '') return path;
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path.startsWith('/') ? trimmed + path : `${trimmed}/${path}`;
}
