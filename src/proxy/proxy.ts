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
import { responseCompleted } from '../adapters/node/observe-response.js';
import { groupHeaders, writeNodeDecision } from '../adapters/node/write-node-decision.js';
import { L402Error, type UpstreamError } from '../core/errors.js';
import { grpcStatusFor } from '../core/grpc-status.js';
import { isPromise } from '../core/is-promise.js';
import { L402_CREDENTIALS } from '../core/l402-scheme.js';
import type { CredentialRecognizer, ResponseOutcome } from '../core/payment-scheme.js';
import { NOSNIFF } from '../core/reject-decision.js';
import type { AllowDecision, Decision, HeaderList, MaybePromise, RequestView } from '../core/types.js';
import { canonicalTarget } from './canonical-target.js';
import { applyCors } from './cors.js';
import { resumedBody } from './forward/body-prefix.js';
import { credentialStripper, upstreamHeaders, type CredentialStripper } from './forward/forward-headers.js';
import { forwardGrpc } from './forward/forward-grpc.js';
import { forwardHttp, type NodeResponse } from './forward/forward-http.js';
import { cutByBackend } from './forward/backend-cut.js';
import { forwardWebSocket, writeRawResponse } from './forward/forward-websocket.js';
import { writeGrpcTrailersOnly } from './forward/grpc-reply.js';
import { TailBuffer } from './forward/tail-buffer.js';
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
 * a token, the accepting payment scheme re-emits the request's credential
 * (L402: `LSAT <m>:<p>` then `L402 <m>:<p>`, as the reference forwards it).
 */
export interface AuthorizeOutcome {
  /** The decision to apply. */
  decision: Decision;
  /** Value(s) of the backend's `Authorization` header, in order (only used on `allow`). */
  upstreamAuthorization?: string | readonly string[] | undefined;
  /**
   * Keep the last this many bytes of the response body for `afterResponse`
   * (`ResponseOutcome.tail`, with its `Content-Type` and `Content-Encoding`), for a
   * pricer that costs a response by its end (only used on `allow`, for HTTP
   * backends; a gRPC call is observed without its tail). The client's
   * `Accept-Encoding` is then not forwarded, so that the tail is plain.
   */
  captureTailBytes?: number | undefined;
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
  /**
   * The payment schemes whose credentials the proxy recognises (the Gate's
   * `schemes`): their credentials are taken out of requests it forwards
   * without having verified them, and a verified one is forwarded as its
   * scheme says. Default: L402 alone.
   */
  schemes?: readonly CredentialRecognizer[];
  /**
   * Told when the response to an authorized request has ended: the decision,
   * the status sent, whether the response completed and, when it did not,
   * whether the client went away (`clientAborted`) rather than the proxy
   * cutting it for a backend that failed, aborted or stalled mid-response.
   * A client that leaves before the backend's head counts as having gone
   * away (the request was forwarded). Pass the Gate's `responded` here
   * (session metering). Nothing is watched per request without it. Its errors are ignored.
   */
  afterResponse?: ((context: AuthorizeContext<S>, decision: Decision, outcome: ResponseOutcome) => void) | undefined;
  /**
   * Which decisions `afterResponse` is told about (pass the Gate's `observes`):
   * the responses of the others are not watched. Every decision by default.
   */
  observes?: ((decision: Decision) => boolean) | undefined;
}

const GRPC = /^application\/grpc/i;
const AUTH_OFF: Decision = { kind: 'allow', reason: 'auth-off' };
/** Headers of the proxy's own plain-text answers (404, 400, 500, 502). */
const PLAIN: HeaderList = [NOSNIFF];

/** A response header's value as one string ('' when absent). */
function headerText(value: number | string | string[] | undefined): string {
  return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : String(value);
}

/** Takes every `name` field out of a flat `[name, value, …]` list, in place. */
function withoutHeader(headers: string[], name: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if ((headers[i] as string).toLowerCase() === name) headers.splice(i, 2);
}

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
  readonly #schemes: readonly CredentialRecognizer[];
  readonly #credentials: CredentialStripper;
  readonly #afterResponse: ProxyOptions<S>['afterResponse'];
  readonly #observes: ProxyOptions<S>['observes'];
  /** Set by {@link Proxy.cutting}: what ends early from now on was cut by the shutdown. */
  #cutting = false;

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
    this.#schemes = options.schemes === undefined || options.schemes.length === 0 ? [L402_CREDENTIALS] : [...options.schemes];
    this.#credentials = credentialStripper(this.#schemes);
    this.#afterResponse = options.afterResponse;
    this.#observes = options.observes;
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
      res.setHeader(NOSNIFF[0], NOSNIFF[1]);
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
    const context: AuthorizeContext<S> = { service, request: nodeRequestView(req, this.#viewOptions), raw: req, grpc };
    let result: MaybePromise<AuthorizeResult>;
    try {
      result = authorize(context);
    } catch (cause) {
      this.#hookFailed(req, res, service, grpc, cause);
      return;
    }
    if (isPromise(result)) {
      result.then(
        (value) => this.#decided(req, res, service, grpc, host, path, context, value),
        (cause: unknown) => this.#hookFailed(req, res, service, grpc, cause),
      );
      return;
    }
    this.#decided(req, res, service, grpc, host, path, context, result);
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
    this.#authorized(
      req,
      service,
      false,
      (outcome, context) => {
        const decision = outcome.decision;
        const observe = this.#afterResponse;
        const tell =
          observe === undefined || context === undefined || this.#observes?.(decision) === false
            ? undefined
            : (ended: ResponseOutcome): void => {
                try {
                  observe(context, decision, ended);
                } catch {
                  // An observer must not break the connection's end.
                }
              };
        if (decision.kind !== 'allow') {
          if (tell !== undefined) socket.once('close', () => tell({ status: decision.status, completed: true }));
          writeRawResponse(
            socket,
            decision.status,
            decision.kind === 'challenge' ? 'Payment Required' : 'Rejected',
            decision.body,
            decision.headers,
          );
          return;
        }
        const authorization = this.#upstreamAuthorization(outcome, decision, req, context);
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
            credentials: this.#credentials,
          }),
          responseHeaders: decision.headers,
          connectMs: this.#timeouts.connectMs,
          headersMs: service.upstreamTimeoutMs ?? this.#timeouts.headersMs,
          idleMs: this.#timeouts.websocketIdleMs,
          onError: (error) => this.#onError(error, service.name),
          onEnd: tell,
        });
      },
      (error) => {
        writeRawResponse(socket, 500, 'Internal Server Error', `internal error (${error.code})\n`);
      },
    );
  };

  /**
   * Told by the listener that its shutdown's drain time ran out and it is
   * cutting what is still open: from now on, a response that ends early was
   * cut by the proxy, not left by its client (`ResponseOutcome.clientAborted`
   * is `false`, so a payment scheme gives its payment back).
   */
  cutting(): void {
    this.#cutting = true;
  }

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
    context: AuthorizeContext<S> | undefined,
    result: AuthorizeResult,
  ): void {
    try {
      if (res.destroyed || res.writableEnded) return;
      const outcome = 'kind' in result ? undefined : result;
      const decision = outcome === undefined ? (result as Decision) : outcome.decision;
      const capture = outcome?.captureTailBytes;
      const tail = capture !== undefined && capture > 0 && !grpc && decision.kind === 'allow' ? new TailBuffer(capture) : undefined;
      if (context !== undefined && this.#afterResponse !== undefined && this.#observes?.(decision) !== false)
        this.#observe(req, res, grpc, context, decision, tail);
      if (decision.kind !== 'allow') {
        if (grpc) {
          const status = grpcStatusFor(decision);
          writeGrpcTrailersOnly((req as Http2ServerRequest).stream, status.code, status.message, status.metadata);
        } else {
          writeHttpDecision(req, res, decision);
        }
        return;
      }
      const authorization = this.#upstreamAuthorization(outcome, decision, req, context);
      this.#forward(req, res, service, grpc, host, path, authorization, decision.headers, tail);
    } catch (cause) {
      this.#hookFailed(req, res, service, grpc, cause);
    }
  }

  /**
   * What the backend receives as `Authorization` for an allowed request: the
   * hook's value, else the accepting scheme's re-emission of a verified
   * credential (L402 when the decision names none), else nothing (the
   * client's credentials are then stripped). The request view is the hook's,
   * or one built only for a verified credential (an auth-off request builds none).
   */
  #upstreamAuthorization(
    outcome: AuthorizeOutcome | undefined,
    decision: AllowDecision,
    req: NodeRequest,
    context: AuthorizeContext<S> | undefined,
  ): readonly string[] | undefined {
    const given = outcome?.upstreamAuthorization;
    if (given !== undefined) return typeof given === 'string' ? [given] : given;
    if (decision.token === undefined) return undefined;
    const request = context?.request ?? nodeRequestView(req);
    const name = decision.scheme ?? 'L402';
    const schemes = this.#schemes;
    for (let i = 0; i < schemes.length; i++) {
      const scheme = schemes[i] as CredentialRecognizer;
      if (scheme.name === name) return scheme.forwardedAuthorization?.(request);
    }
    return undefined;
  }

  /** Tells `afterResponse` about the request once its response has ended. */
  #observe(
    req: NodeRequest,
    res: NodeResponse,
    grpc: boolean,
    context: AuthorizeContext<S>,
    decision: Decision,
    tail: TailBuffer | undefined,
  ): void {
    const observe = this.#afterResponse as NonNullable<ProxyOptions<S>['afterResponse']>;
    (res as NodeJS.EventEmitter).once('close', () => {
      let outcome: ResponseOutcome;
      if (grpc) {
        const stream = (req as Http2ServerRequest).stream;
        const status = Number(stream.sentHeaders?.[':status'] ?? res.statusCode);
        // A stream ended by the client (CANCEL) or by an error has a non-zero reset code.
        outcome = { status, completed: (stream.rstCode ?? 0) === 0 };
        if (!outcome.completed) outcome.clientAborted = !this.#cutting && !cutByBackend(res);
        // The call's grpc-status: in the trailers, or in the headers of a trailers-only answer.
        const grpcStatus = stream.sentTrailers?.['grpc-status'] ?? stream.sentHeaders?.['grpc-status'];
        if (grpcStatus !== undefined && /^\d+$/.test(String(grpcStatus))) outcome.grpcStatus = Number(grpcStatus);
        // DEADLINE_EXCEEDED in trailers after a response head (not trailers-only), under the client's grpc-timeout:
        // the backend was answering when the client's own deadline ran out.
        if (outcome.grpcStatus === 4 && stream.sentTrailers?.['grpc-status'] !== undefined && req.headers['grpc-timeout'] !== undefined)
          outcome.clientDeadline = true;
      } else {
        outcome = { status: res.statusCode, completed: responseCompleted(res) };
        // Not cut by the proxy for the backend (see abortResponse) nor by a shutdown: the client left.
        if (!outcome.completed) outcome.clientAborted = !this.#cutting && !cutByBackend(res);
        if (tail !== undefined) {
          outcome.tail = tail.bytes();
          outcome.contentType = headerText(res.getHeader('content-type'));
          outcome.contentEncoding = headerText(res.getHeader('content-encoding'));
        }
      }
      try {
        observe(context, decision, outcome);
      } catch {
        // An observer must not break the response path.
      }
    });
  }

  /** A hook that threw or rejected (or a throw applying its answer): 500, or gRPC status 13. */
  #hookFailed(req: NodeRequest, res: NodeResponse, service: S, grpc: boolean, cause: unknown): void {
    const error = new L402Error('L402_ERR_PROXY_AUTHORIZE_FAILED', `service ${service.name}: authorization hook failed`, {
      status: 500,
      cause,
    });
    this.#onError(error, service.name);
    if (grpc) writeGrpcTrailersOnly((req as Http2ServerRequest).stream, 13, `authorization failed [${error.code}]`);
    else
      writeHttpDecision(req, res, {
        kind: 'reject',
        status: 500,
        headers: PLAIN,
        body: `internal error (${error.code})\n`,
        code: error.code,
      });
  }

  #authorized(
    req: NodeRequest,
    service: S,
    grpc: boolean,
    then: (outcome: AuthorizeOutcome, context: AuthorizeContext<S> | undefined) => void,
    fail: (error: L402Error) => void,
  ): void {
    const authorize = this.#authorize;
    if (authorize === undefined) {
      then({ decision: { kind: 'allow', reason: 'auth-off' } }, undefined);
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
    const context: AuthorizeContext<S> = { service, request: nodeRequestView(req, this.#viewOptions), raw: req, grpc };
    try {
      result = authorize(context);
    } catch (cause) {
      onError(cause);
      return;
    }
    const apply = (value: AuthorizeResult): void => {
      try {
        then(outcomeOf(value), context);
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
    lines: readonly string[] | undefined,
    responseHeaders: HeaderList | undefined,
    tail?: TailBuffer,
  ): void {
    // node:http2 sends one `authorization` field at most (ERR_HTTP2_HEADER_SINGLE_VALUE):
    // a gRPC backend gets the last line, the current scheme's (`L402 <m>:<p>`).
    const authorization = grpc && lines !== undefined && lines.length > 1 ? lines.slice(-1) : lines;
    const headers = upstreamHeaders(req.rawHeaders, {
      clientIp: normalizePeerAddress(req.socket?.remoteAddress),
      proto: isEncrypted(req) ? 'https' : 'http',
      originalHost: host,
      backendHost: service.address,
      grpc,
      upgrade: false,
      inject: service.headers,
      authorization,
      credentials: this.#credentials,
    });
    // A captured tail is read by a pricer: ask the backend for an unencoded body.
    if (tail !== undefined) withoutHeader(headers, 'accept-encoding');
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
        responseHeaders,
      });
      return;
    }
    let pool;
    try {
      pool = this.#upstreams.pool(service);
    } catch (cause) {
      const error = cause as UpstreamError;
      onError(error);
      writeHttpDecision(req, res, { kind: 'reject', status: 502, headers: PLAIN, body: `bad gateway (${error.code})\n`, code: error.code });
      return;
    }
    // The accepting scheme's response headers (a receipt) go on the response before the backend's head.
    if (responseHeaders !== undefined)
      for (const [name, values] of groupHeaders(responseHeaders)) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
    forwardHttp(req, res, {
      pool,
      service: service.name,
      method: req.method ?? 'GET',
      path: upstreamPath,
      headers,
      onError,
      body,
      headersTimeoutMs: service.upstreamTimeoutMs,
      tail,
    });
  }

  /** A request target refused by {@link canonicalTarget}: 400, or gRPC status 3 INVALID_ARGUMENT. */
  #badTarget(req: NodeRequest, res: NodeResponse, grpc: boolean, reason: string): void {
    const code = 'L402_ERR_PROXY_BAD_TARGET';
    if (grpc) {
      writeGrpcTrailersOnly((req as Http2ServerRequest).stream, 3, `bad request target: ${reason} [${code}]`);
      return;
    }
    writeHttpDecision(req, res, { kind: 'reject', status: 400, headers: PLAIN, body: `bad request target: ${reason} (${code})\n`, code });
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
      headers: PLAIN,
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
