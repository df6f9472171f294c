/**
 * The admin API: `adminrpc.Admin` of the Go aperture served as gRPC (unary, on
 * HTTP/2) and as REST (`/api/admin/…`), behind macaroon authentication, as a
 * request handler a program mounts on its own listener ahead of its routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { L402Error } from '../core/errors.js';
import { systemClock, type Clock } from '../core/types.js';
import type { AdminBackend } from './admin-backend.js';
import { adminProto, type MessageObject } from './admin-codec.js';
import { adminHandlers, type AdminHandler } from './admin-handlers.js';
import { verifyAdminMacaroon, ADMIN_ROOT_KEY_BYTES } from './admin-macaroon.js';
import type { AdminMethod } from './admin-proto.js';
import { AdminStatusError, Code, status, toStatusError } from './admin-status.js';
import { AuthFailureLimiter, type AuthFailureLimiterOptions } from './auth-failure-limiter.js';
import { handleGrpc, type GrpcTransportOptions } from './grpc-transport.js';
import { handleRest, type AdminCall, type RestTransportOptions } from './rest-transport.js';

/** One answered call, for logs and metrics. It never holds the macaroon. */
export interface AdminCallEvent {
  /** The method. */
  method: AdminMethod;
  /** How it came. */
  transport: 'grpc' | 'rest';
  /** The client's address. */
  clientAddress: string;
  /** gRPC status code of the answer (0 = OK). */
  code: number;
  /** The status message, for refusals. */
  message: string;
  /** How long it took, ms. */
  durationMs: number;
  /** For `INTERNAL` answers: what was thrown (logged by the program, never sent). */
  cause?: unknown;
}

/** Options of {@link AdminApi}. */
export interface AdminApiOptions {
  /** The program side: info, health, store roles, live services. */
  backend: AdminBackend;
  /** The admin root key (see `ensureAdminCredentials`). */
  rootKey: Uint8Array;
  /** `admin.corsorigin`: origins allowed to call the REST API from a browser (`*` for any); none by default. */
  corsOrigins?: readonly string[];
  /** Time source (macaroon expiry, ledger states, rate limits). */
  clock?: Clock;
  /** Limit of failed authentications per client (default 10 per minute, 10 at once, 10 000 clients); `false` for none. */
  authFailureLimit?: AuthFailureLimiterOptions | false;
  /** The client's address of a request (behind a trusted proxy, the forwarded one); the socket's peer by default. */
  clientAddress?: (req: IncomingMessage | Http2ServerRequest) => string;
  /** Called after every call. */
  onCall?: (event: AdminCallEvent) => void;
  /** Called when writing an answer failed unexpectedly (the stream is reset). */
  onError?: (error: unknown) => void;
  /** Largest request (gRPC message or REST body), bytes; default 1 MiB. */
  maxRequestBytes?: number;
}

/** Credentials of a call. */
export interface AdminCredentialsOfCall {
  /** Hex of the macaroon (gRPC metadata `macaroon`, REST header `Grpc-Metadata-Macaroon`). */
  macaroon: string | undefined;
  /** The client's address, for the failed-authentication limit. */
  clientAddress: string;
  /** How the call came (for {@link AdminCallEvent}); `grpc` by default. */
  transport?: 'grpc' | 'rest';
}

/**
 * The admin API.
 *
 * @example
 * ```ts
 * const { rootKey } = ensureAdminCredentials({ macaroonPath: join(baseDir, 'admin.macaroon') });
 * const admin = new AdminApi({ backend, rootKey, corsOrigins: config.admin.corsOrigins });
 * http2.createSecureServer({ cert, key, allowHTTP1: true }, (req, res) => {
 *   if (admin.handleRequest(req, res)) return;
 *   proxy.handleRequest(req, res);
 * });
 * ```
 */
export class AdminApi {
  readonly #rootKey: Uint8Array;
  readonly #handlers: Record<AdminMethod, AdminHandler>;
  readonly #clock: Clock;
  readonly #limiter: AuthFailureLimiter | undefined;
  readonly #options: AdminApiOptions;
  readonly #grpc: GrpcTransportOptions;
  readonly #rest: RestTransportOptions;

  /**
   * @param options - backend, root key, CORS, limits, hooks
   * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` when protobufjs is not installed,
   *   `L402_ERR_ADMIN_ROOT_KEY_INVALID` for a root key that is not 32 bytes
   */
  constructor(options: AdminApiOptions) {
    if (options.rootKey.length !== ADMIN_ROOT_KEY_BYTES) {
      throw new L402Error(
        'L402_ERR_ADMIN_ROOT_KEY_INVALID',
        `the admin root key has ${options.rootKey.length} bytes, expected ${ADMIN_ROOT_KEY_BYTES}`,
      );
    }
    adminProto();
    this.#options = options;
    this.#rootKey = Uint8Array.from(options.rootKey);
    this.#handlers = adminHandlers(options.backend);
    this.#clock = options.clock ?? systemClock;
    this.#limiter =
      options.authFailureLimit === false ? undefined : new AuthFailureLimiter({ clock: this.#clock, ...options.authFailureLimit });
    const maxBytes = options.maxRequestBytes ?? 1 << 20;
    const call: AdminCall = (method, request, c) =>
      this.call(method, request, { macaroon: c.macaroon, clientAddress: this.#clientAddress(c.req), transport: c.transport });
    const onError = (error: unknown): void => this.#unexpected(error);
    this.#grpc = { call, maxMessageBytes: maxBytes, onError };
    this.#rest = { call, corsOrigins: options.corsOrigins ?? [], maxBodyBytes: maxBytes, onError };
  }

  /**
   * Runs one call: checks the macaroon (except for `GetHealth`), its
   * permission, then the method. What both transports do; usable directly.
   * @param method - the method
   * @param request - the request message object
   * @param credentials - macaroon and client address
   * @returns the response message object
   * @throws AdminStatusError with the call's gRPC status (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
   *   `RESOURCE_EXHAUSTED` after too many failed authentications, `INVALID_ARGUMENT`, `NOT_FOUND`, …)
   */
  async call(method: AdminMethod, request: MessageObject, credentials: AdminCredentialsOfCall): Promise<MessageObject> {
    const started = performance.now();
    const now = this.#clock.now();
    const event = (code: number, message: string, cause?: unknown): void => {
      if (this.#options.onCall === undefined) return;
      const e: AdminCallEvent = {
        method,
        transport: credentials.transport ?? 'grpc',
        clientAddress: credentials.clientAddress,
        code,
        message,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
      if (cause !== undefined) e.cause = cause;
      try {
        this.#options.onCall(e);
      } catch {
        // a failing hook does not change the answer
      }
    };
    try {
      let grant;
      if (method !== 'GetHealth') {
        const wait = this.#limiter?.blockedFor(credentials.clientAddress) ?? 0;
        if (wait > 0) {
          throw new AdminStatusError(Code.RESOURCE_EXHAUSTED, `too many failed authentications; try again in ${Math.ceil(wait / 1000)} s`, {
            retryAfterMs: wait,
          });
        }
        const verified = verifyAdminMacaroon(this.#rootKey, credentials.macaroon, now);
        if (!verified.ok) {
          this.#limiter?.fail(credentials.clientAddress);
          throw status(Code.UNAUTHENTICATED, verified.reason);
        }
        if (!verified.grant.methods.has(method)) throw status(Code.PERMISSION_DENIED, `the macaroon does not allow ${method}`);
        grant = verified.grant;
      }
      const response = await this.#handlers[method](request, { grant, now });
      event(Code.OK, '');
      return response;
    } catch (error) {
      const e = toStatusError(error);
      event(e.grpcCode, e.message, e.grpcCode === Code.INTERNAL || e.grpcCode === Code.UNAVAILABLE ? e.cause : undefined);
      throw e;
    }
  }

  /**
   * Serves a request of the admin API: gRPC on `/adminrpc.Admin/…`, REST on
   * `/api/admin/…`. Mount it before the proxy's routes; the proxy's own CORS
   * headers must not be added to its answers.
   * @param req - the request (HTTP/1.1 or HTTP/2 compatibility API)
   * @param res - its response
   * @returns `true` when the request was the admin API's (it is answered), `false` otherwise (untouched)
   */
  handleRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    return this.handleGrpc(req, res) || this.handleRest(req, res);
  }

  /**
   * Serves `/adminrpc.Admin/<Method>` (gRPC, HTTP/2 only).
   * @param req - the request
   * @param res - its response
   * @returns whether the path was the admin API's
   */
  handleGrpc(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    return handleGrpc(req, res, this.#grpc);
  }

  /**
   * Serves `/api/admin/…` (REST, HTTP/1.1 and HTTP/2).
   * @param req - the request
   * @param res - its response
   * @returns whether the path was the admin API's
   */
  handleRest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    return handleRest(req, res, this.#rest);
  }

  #clientAddress(req: IncomingMessage | Http2ServerRequest): string {
    return this.#options.clientAddress?.(req) ?? req.socket?.remoteAddress ?? '';
  }

  #unexpected(error: unknown): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // a failing hook changes nothing
    }
  }
}
