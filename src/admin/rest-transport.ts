/**
 * The REST transport of the admin API under `/api/admin/`, HTTP/1.1 and
 * HTTP/2, as the reference's grpc-gateway serves it (`adminrpc/admin.yaml`):
 * the same paths, verbs and body mapping, JSON with proto field names and every
 * field present, errors as `{"code","message","details"}` with grpc-gateway's
 * HTTP statuses, the macaroon in `Grpc-Metadata-Macaroon`. CORS follows
 * `admin.corsorigin`, preflight included, for the admin paths alone.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { JsonValue } from '../proxy/config/raw-node.js';
import { adminProto, fromJson, fromQuery, toJson, type MessageObject } from './admin-codec.js';
import { ADMIN_REST_PREFIX, type AdminMethod } from './admin-proto.js';
import { AdminStatusError, Code, httpStatusOf, status, toStatusError } from './admin-status.js';

/** Runs one call of a method: authentication, permission, handler. */
export type AdminCall = (
  method: AdminMethod,
  request: MessageObject,
  credentials: { macaroon: string | undefined; transport: 'grpc' | 'rest'; req: IncomingMessage | Http2ServerRequest },
) => Promise<MessageObject>;

/** One REST route of `adminrpc/admin.yaml`. */
export interface AdminRoute {
  /** HTTP verb. */
  verb: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments after the prefix; `{field}` binds a segment to a field. */
  segments: readonly string[];
  /** The method it calls. */
  method: AdminMethod;
  /** Whether the whole body is the request (`body: "*"`). */
  body: boolean;
}

/** The routes of `adminrpc/admin.yaml`. */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  { verb: 'GET', segments: ['info'], method: 'GetInfo', body: false },
  { verb: 'GET', segments: ['health'], method: 'GetHealth', body: false },
  { verb: 'GET', segments: ['services'], method: 'ListServices', body: false },
  { verb: 'POST', segments: ['services'], method: 'CreateService', body: true },
  { verb: 'PUT', segments: ['services', '{name}'], method: 'UpdateService', body: true },
  { verb: 'DELETE', segments: ['services', '{name}'], method: 'DeleteService', body: false },
  { verb: 'GET', segments: ['transactions'], method: 'ListTransactions', body: false },
  { verb: 'GET', segments: ['tokens'], method: 'ListTokens', body: false },
  { verb: 'DELETE', segments: ['tokens', '{token_id}'], method: 'RevokeToken', body: false },
  { verb: 'GET', segments: ['stats'], method: 'GetStats', body: false },
];

const ALLOW_METHODS = 'GET, POST, PUT, DELETE';
const DOT_SEGMENT = /\/(?:\.|%2e)/i;
const ALLOW_HEADERS = 'Content-Type, Accept, Grpc-Metadata-Macaroon';

/** Matches a path (after the prefix) against a route; the bound fields, or undefined. */
function bind(route: AdminRoute, segments: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== segments.length) return undefined;
  const bound: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const pattern = route.segments[i] ?? '';
    const segment = segments[i] ?? '';
    if (pattern.startsWith('{')) {
      if (segment === '') return undefined;
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
      bound[pattern.slice(1, -1)] = decoded;
    } else if (pattern !== segment) {
      return undefined;
    }
  }
  return bound;
}

/** Options of {@link handleRest}. */
export interface RestTransportOptions {
  /** Runs a call. */
  call: AdminCall;
  /** `admin.corsorigin`: `*` or exact origins; empty = no CORS. */
  corsOrigins: readonly string[];
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** Called when answering failed unexpectedly. */
  onError: (error: unknown) => void;
}

type AnyResponse = ServerResponse | Http2ServerResponse;

function allowedOrigin(origin: string | undefined, origins: readonly string[]): string | undefined {
  if (origin === undefined || origin === '') return undefined;
  return origins.includes('*') || origins.includes(origin) ? origin : undefined;
}

function send(res: AnyResponse, statusCode: number, body: JsonValue, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.writeHead(statusCode);
  res.end(text);
}

function sendError(res: AnyResponse, error: AdminStatusError, headers: Record<string, string>): void {
  const extra = { ...headers };
  if (error.retryAfterMs !== undefined) extra['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  send(res, error.status ?? httpStatusOf(error.grpcCode), { code: error.grpcCode, message: error.message, details: [] }, extra);
}

async function readBody(req: IncomingMessage | Http2ServerRequest, maxBytes: number): Promise<unknown> {
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
    throw status(Code.INVALID_ARGUMENT, `the body is not JSON: ${(error as Error).message}`);
  }
}

/**
 * Serves a request when its path is under `/api/admin/`.
 * @param req - the request
 * @param res - the response
 * @param options - calls, CORS, limits
 * @returns whether the request was the admin API's (it is then answered)
 */
export function handleRest(req: IncomingMessage | Http2ServerRequest, res: AnyResponse, options: RestTransportOptions): boolean {
  const raw = req.url ?? '/';
  // Every request of the listener passes here: parse only what can be the API's
  // (dot segments, also percent-encoded, may resolve into the prefix).
  if (!raw.startsWith(ADMIN_REST_PREFIX) && !DOT_SEGMENT.test(raw)) return false;
  const url = new URL(raw, 'http://admin.invalid');
  if (!url.pathname.startsWith(ADMIN_REST_PREFIX)) return false;
  const originHeader = req.headers.origin;
  const origin = allowedOrigin(typeof originHeader === 'string' ? originHeader : undefined, options.corsOrigins);
  const cors: Record<string, string> =
    origin === undefined ? {} : { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': 'Retry-After' };
  if (options.corsOrigins.length > 0 && origin === undefined) cors['vary'] = 'Origin';

  const segments = url.pathname.slice(ADMIN_REST_PREFIX.length).split('/');
  const matches = ADMIN_ROUTES.map((route) => ({ route, bound: bind(route, segments) })).filter((m) => m.bound !== undefined);
  const verb = req.method ?? 'GET';

  if (verb === 'OPTIONS') {
    const allow = [...new Set(matches.map((m) => m.route.verb)), 'OPTIONS'].join(', ');
    const headers: Record<string, string> = { ...cors, allow };
    if (origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
      headers['access-control-allow-methods'] = ALLOW_METHODS;
      headers['access-control-allow-headers'] = ALLOW_HEADERS;
      headers['access-control-max-age'] = '600';
    }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.setHeader('content-length', '0');
    res.writeHead(204);
    res.end();
    return true;
  }

  const match = matches.find((m) => m.route.verb === verb);
  if (match === undefined) {
    const error =
      matches.length === 0
        ? new AdminStatusError(Code.NOT_FOUND, 'Not Found')
        : new AdminStatusError(Code.UNIMPLEMENTED, 'Method Not Allowed');
    // grpc-gateway answers a known path with another verb 405 (its code is UNIMPLEMENTED).
    if (matches.length === 0) sendError(res, error, cors);
    else
      send(
        res,
        405,
        { code: error.grpcCode, message: error.message, details: [] },
        { ...cors, allow: [...new Set(matches.map((m) => m.route.verb))].join(', ') },
      );
    return true;
  }
  const { route, bound } = match;
  const header = req.headers['grpc-metadata-macaroon'];
  const macaroon = Array.isArray(header) ? header[0] : header;
  void (async () => {
    try {
      const types = adminProto().methods.get(route.method);
      if (types === undefined) throw status(Code.UNIMPLEMENTED, 'Not Implemented');
      const request = route.body ? fromJson(types.request, await readBody(req, options.maxBodyBytes)) : {};
      if (!route.body) fromQuery(types.request, url.searchParams, request);
      Object.assign(request, bound);
      const response = await options.call(route.method, request, { macaroon, transport: 'rest', req });
      send(res, 200, toJson(types.response, response), cors);
    } catch (error) {
      sendError(res, toStatusError(error), cors);
    }
  })().catch((error: unknown) => {
    options.onError(error);
    res.destroy();
  });
  return true;
}
