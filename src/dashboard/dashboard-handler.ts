/**
 * The web dashboard as one request handler a program mounts on its listener:
 * the built app at `/` (every path no service takes falls back to it), and
 * `/api/proxy/…`, through which the page calls the admin API in-process with
 * the admin macaroon added here — so the page never holds it. Only clients on
 * this machine are served (by the socket's address), only allow-listed calls
 * and parameters pass, changes need the CSRF header, and every answer carries a
 * strict Content-Security-Policy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { L402ErrorCode } from '../core/error-codes.js';
import { L402Error } from '../core/errors.js';
import type { AdminApi } from '../admin/admin-api.js';
import { adminProto, fromJson, toJson, fromQuery, type MessageObject } from '../admin/admin-codec.js';
import { ADMIN_GRPC_PREFIX, ADMIN_REST_PREFIX, type AdminMethod } from '../admin/admin-proto.js';
import { AdminStatusError, Code, httpStatusOf, toStatusError } from '../admin/admin-status.js';
import { ADMIN_ROUTES } from '../admin/rest-transport.js';
import { DASHBOARD_ASSET_PREFIX, loadDashboardAssets, type DashboardAsset, type DashboardAssets } from './dashboard-assets.js';
import { CSRF_HEADER, csrfRefusal, isLoopbackAddress, isSafeHost } from './local-request.js';

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * Serves a request (HTTP/1.1, or HTTP/2's compatibility API) when it is the
 * dashboard's; `true` when it answered, `false` when it left the request untouched.
 */
export type DashboardHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => boolean;

/** Where the page calls the admin API: `/api/proxy/<the admin REST path>`. */
export const DASHBOARD_PROXY_PREFIX = '/api/proxy/';

/**
 * The calls the page may make through the proxy, each with the query
 * parameters it may carry (the REST routes of the admin API, as
 * `/api/proxy/…`). Anything else is refused, whatever the admin API offers.
 */
export const DASHBOARD_CALLS: ReadonlyMap<AdminMethod, readonly string[]> = new Map<AdminMethod, readonly string[]>([
  ['GetInfo', []],
  ['GetHealth', []],
  ['ListServices', []],
  ['CreateService', []],
  ['UpdateService', []],
  ['DeleteService', []],
  ['ListTransactions', ['service', 'state', 'start_date', 'end_date', 'limit', 'offset']],
  ['ListTokens', ['limit', 'offset']],
  ['RevokeToken', []],
  ['GetStats', ['from', 'to']],
]);

/**
 * The Content-Security-Policy of every answer: scripts, styles and calls from
 * this origin only, no inline script or style, no frames, no plugins.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** Options of {@link createDashboardHandler}. */
export interface DashboardOptions {
  /** The admin API the proxy calls (in-process, no socket). */
  admin: AdminApi;
  /** The macaroon the proxy sends: the admin macaroon file's bytes, or their hex. A read-only one makes a read-only dashboard. */
  macaroon: Uint8Array | string;
  /**
   * Whether a request belongs to the program rather than to the dashboard (it
   * matches a service, or another route of the program such as `/api/dev/pay`);
   * such requests are left untouched, as in the reference, where services win.
   */
  isServiceRequest?: (req: IncomingMessage | Http2ServerRequest) => boolean;
  /** The built app, or the directory of a build; by default the package's (`dist/dashboard-app/`). */
  assets?: DashboardAssets | string;
  /**
   * Host names (lower case) the page may be reached by besides IP literals and
   * `localhost`, e.g. a name in `/etc/hosts`. Other names are refused on
   * `/api/proxy/`, which keeps a DNS-rebinding page off the API.
   */
  allowedHosts?: readonly string[];
  /** Called once when the dashboard is not built (its pages then answer 503). */
  onWarning?: (message: string) => void;
}

function header(req: AnyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `Host`, or HTTP/2's `:authority`. */
function hostOf(req: AnyRequest): string | undefined {
  return header(req, 'host') ?? header(req, ':authority');
}

function write(res: AnyResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  for (const [name, value] of Object.entries({ ...SECURITY_HEADERS, 'cache-control': 'no-store', ...extra })) res.setHeader(name, value);
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.writeHead(status);
  res.end(body);
}

function sendJson(res: AnyResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  write(res, status, JSON.stringify(body), 'application/json', extra);
}

/** A refusal of the dashboard itself: `{"code": <gRPC code>, "message", "error": <L402 code>}`. */
function refuse(res: AnyResponse, status: number, code: L402ErrorCode, message: string, extra: Record<string, string> = {}): void {
  const grpc =
    status === 403 ? Code.PERMISSION_DENIED : status === 404 ? Code.NOT_FOUND : status === 405 ? Code.UNIMPLEMENTED : Code.INVALID_ARGUMENT;
  sendJson(res, status, { code: grpc, message, details: [], error: code }, extra);
}

async function readJsonBody(req: AnyRequest, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new AdminStatusError(Code.RESOURCE_EXHAUSTED, `request body larger than ${maxBytes} bytes`, { httpStatus: 413 });
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, size).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AdminStatusError(Code.INVALID_ARGUMENT, `the body is not JSON: ${(error as Error).message}`);
  }
}

const MAX_BODY_BYTES = 1 << 20;

/**
 * The dashboard's request handler. Mount it after the admin API and before the
 * proxy's routes, with a predicate that says which requests are the program's:
 *
 * @example
 * ```ts
 * const dashboard = createDashboardHandler({
 *   admin, macaroon: readFileSync(macaroonPath),
 *   isServiceRequest: (req) => proxy.matches(req),
 * });
 * server.on('request', (req, res) => {
 *   if (admin.handleRequest(req, res)) return;
 *   if (dashboard(req, res)) return;
 *   proxy.handleRequest(req, res);
 * });
 * ```
 *
 * What it answers, for clients whose socket address is loopback: `GET`/`HEAD`
 * of any path no service takes (the page, or a file under `/_dashboard/`), and
 * `/api/proxy/<admin REST path>`. A client elsewhere gets `403` on
 * `/api/proxy/` and is otherwise left to the program, as if there were no
 * dashboard.
 * @param options - the admin API, the macaroon, the program's predicate, the build
 * @returns the handler
 * @throws L402Error `L402_ERR_ADMIN_DASHBOARD_NOT_BUILT` when `assets` names a directory without a build
 *   (without `assets`, a missing build is reported through `onWarning` and its pages answer 503)
 */
export function createDashboardHandler(options: DashboardOptions): DashboardHandler {
  const macaroon = typeof options.macaroon === 'string' ? options.macaroon : Buffer.from(options.macaroon).toString('hex');
  const allowedHosts = (options.allowedHosts ?? []).map((h) => h.toLowerCase());
  let assets: DashboardAssets | undefined;
  let missing: string | undefined;
  if (typeof options.assets === 'object') {
    assets = options.assets;
  } else if (typeof options.assets === 'string') {
    assets = loadDashboardAssets(options.assets);
  } else {
    try {
      assets = loadDashboardAssets();
    } catch (error) {
      if (!(error instanceof L402Error)) throw error;
      missing = error.message;
      options.onWarning?.(`${error.code}: ${error.message}; the dashboard's pages answer 503`);
    }
  }

  const serveAsset = (req: AnyRequest, res: AnyResponse, a: DashboardAsset, cache: string): void => {
    const headers: Record<string, string> = { 'cache-control': cache, etag: a.etag };
    if (header(req, 'if-none-match') === a.etag) {
      for (const [name, value] of Object.entries({ ...SECURITY_HEADERS, ...headers })) res.setHeader(name, value);
      res.writeHead(304);
      res.end();
      return;
    }
    if (req.method === 'HEAD') {
      for (const [name, value] of Object.entries({
        ...SECURITY_HEADERS,
        ...headers,
        'content-type': a.type,
        'content-length': String(a.body.length),
      }))
        res.setHeader(name, value);
      res.writeHead(200);
      res.end();
      return;
    }
    write(res, 200, a.body, a.type, headers);
  };

  const proxy = (req: AnyRequest, res: AnyResponse, url: URL): void => {
    const host = hostOf(req);
    if (!isSafeHost(host, allowedHosts)) {
      refuse(
        res,
        403,
        'L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL',
        `the dashboard answers only to an IP address or localhost (or admin.dashboard allowed hosts), not to ${host ?? 'a request without Host'}`,
      );
      return;
    }
    const verb = req.method ?? 'GET';
    const csrf = csrfRefusal({
      method: verb,
      host,
      origin: header(req, 'origin'),
      requestedWith: header(req, CSRF_HEADER),
      fetchSite: header(req, 'sec-fetch-site'),
    });
    if (csrf !== undefined) {
      refuse(res, 403, 'L402_ERR_ADMIN_DASHBOARD_CSRF', csrf);
      return;
    }
    const segments = url.pathname.slice(DASHBOARD_PROXY_PREFIX.length).split('/');
    const matches = ADMIN_ROUTES.filter((r) => DASHBOARD_CALLS.has(r.method)).flatMap((route) => {
      if (route.segments.length !== segments.length) return [];
      const bound: Record<string, string> = {};
      for (const [i, pattern] of route.segments.entries()) {
        const segment = segments[i] ?? '';
        if (pattern.startsWith('{')) {
          if (segment === '') return [];
          try {
            bound[pattern.slice(1, -1)] = decodeURIComponent(segment);
          } catch {
            return [];
          }
        } else if (pattern !== segment) {
          return [];
        }
      }
      return [{ route, bound }];
    });
    const match = matches.find((m) => m.route.verb === verb);
    if (match === undefined) {
      if (matches.length === 0) refuse(res, 404, 'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED', `no dashboard call at ${url.pathname}`);
      else
        refuse(res, 405, 'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED', `${verb} is not allowed on ${url.pathname}`, {
          allow: matches.map((m) => m.route.verb).join(', '),
        });
      return;
    }
    const { route, bound } = match;
    const allowed = DASHBOARD_CALLS.get(route.method) ?? [];
    const extra = [...new Set(url.searchParams.keys())].filter((k) => !allowed.includes(k));
    if (extra.length > 0) {
      refuse(
        res,
        400,
        'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED',
        `parameter${extra.length > 1 ? 's' : ''} ${extra.join(', ')} not allowed for ${route.method}${allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : ''}`,
      );
      return;
    }
    if (route.body && !/^application\/json\s*(?:;|$)/i.test(header(req, 'content-type') ?? '')) {
      refuse(res, 415, 'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED', 'a body must be application/json');
      return;
    }
    void (async () => {
      try {
        const types = adminProto().methods.get(route.method);
        if (types === undefined) throw new AdminStatusError(Code.UNIMPLEMENTED, 'Not Implemented');
        const request: MessageObject = route.body ? fromJson(types.request, await readJsonBody(req, MAX_BODY_BYTES)) : {};
        if (!route.body) fromQuery(types.request, url.searchParams, request);
        Object.assign(request, bound);
        const response = await options.admin.call(route.method, request, {
          macaroon,
          clientAddress: req.socket?.remoteAddress ?? '',
          transport: 'rest',
        });
        sendJson(res, 200, toJson(types.response, response));
      } catch (error) {
        const e = toStatusError(error);
        const extraHeaders: Record<string, string> = {};
        if (e.retryAfterMs !== undefined) extraHeaders['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
        sendJson(res, e.status ?? httpStatusOf(e.grpcCode), { code: e.grpcCode, message: e.message, details: [] }, extraHeaders);
      }
    })().catch(() => {
      res.destroy();
    });
  };

  return (req, res) => {
    const raw = req.url ?? '/';
    let url: URL;
    try {
      url = new URL(raw.startsWith('/') ? raw : `/${raw}`, 'http://dashboard.invalid');
    } catch {
      return false;
    }
    const path = url.pathname;
    if (path.startsWith(ADMIN_REST_PREFIX) || path.startsWith(ADMIN_GRPC_PREFIX)) return false;
    if (options.isServiceRequest?.(req) === true) return false;
    const isProxy = path.startsWith(DASHBOARD_PROXY_PREFIX) || path === '/api/proxy';
    if (!isLoopbackAddress(req.socket?.remoteAddress)) {
      if (!isProxy) return false;
      refuse(res, 403, 'L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL', 'the dashboard is served to this machine only (loopback)');
      return true;
    }
    if (isProxy) {
      proxy(req, res, url);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (assets === undefined) {
      write(res, 503, `The dashboard is not built: ${missing ?? ''}\n`, 'text/plain; charset=utf-8');
      return true;
    }
    if (path.startsWith(DASHBOARD_ASSET_PREFIX)) {
      const file = assets.files.get(path);
      if (file === undefined) write(res, 404, 'Not found\n', 'text/plain; charset=utf-8');
      else serveAsset(req, res, file, 'no-cache');
      return true;
    }
    serveAsset(req, res, assets.index, 'no-cache');
    return true;
  };
}
