/**
 * Header rewriting between client and backend: hop-by-hop headers removed
 * (RFC 9110 §7.6.1), `X-Forwarded-*` added, `Host` set to the backend.
 */
import type { OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Names listed in `Connection` values are hop-by-hop too. */
function connectionTokens(values: readonly string[]): Set<string> | undefined {
  if (values.length === 0) return undefined;
  const tokens = new Set<string>();
  for (const value of values) {
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') tokens.add(t);
    }
  }
  return tokens;
}

function isHopByHop(lower: string, named: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || (named !== undefined && named.has(lower));
}

/** What to add to, or keep in, the upstream request headers. */
export interface UpstreamHeaderOptions {
  /** Client address appended to `X-Forwarded-For`. */
  clientIp: string;
  /** `http` or `https`: how the client reached the proxy. */
  proto: string;
  /** The Host (or `:authority`) the client sent. */
  originalHost: string;
  /** The backend address, sent as `Host`. */
  backendHost: string;
  /** gRPC keeps `te: trailers`, which HTTP/2 requires and gRPC servers check. */
  grpc: boolean;
  /** WebSocket upgrades keep `Connection: upgrade` and `Upgrade`. */
  upgrade: boolean;
  /** Per-service headers, set over whatever the client sent. */
  inject: Readonly<Record<string, string>> | undefined;
  /** Canonical credential to send as `Authorization`, replacing the client's. */
  authorization: string | undefined;
}

/**
 * Builds the upstream request headers from the client's raw header list.
 *
 * @param raw - the client's flat `[name, value, …]` list (HTTP/2 pseudo-headers are skipped)
 * @param options - what to add
 * @returns a flat `[name, value, …]` list; duplicates other than the rewritten ones are kept
 */
export function upstreamHeaders(raw: readonly string[], options: UpstreamHeaderOptions): string[] {
  const connection: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') connection.push(raw[i + 1] as string);
  }
  const named = connectionTokens(connection);
  const inject = options.inject;
  const injected = inject === undefined ? undefined : new Set(Object.keys(inject).map((k) => k.toLowerCase()));
  const out: string[] = [];
  let xff: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'expect' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === 'authorization' && options.authorization !== undefined) continue;
    if (injected?.has(lower) === true) continue;
    if (options.upgrade && (lower === 'upgrade' || lower === 'connection')) {
      out.push(name, value);
      continue;
    }
    if (isHopByHop(lower, named)) {
      if (options.grpc && lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    out.push(name, value);
  }
  out.push('host', options.backendHost);
  out.push('x-forwarded-for', xff === undefined || xff === '' ? options.clientIp : `${xff}, ${options.clientIp}`);
  out.push('x-forwarded-proto', options.proto);
  if (options.originalHost !== '') out.push('x-forwarded-host', options.originalHost);
  if (options.authorization !== undefined) out.push('authorization', options.authorization);
  if (inject !== undefined) {
    for (const key of Object.keys(inject)) out.push(key, inject[key] as string);
  }
  return out;
}

/**
 * Filters backend response headers (or trailers) for the client: hop-by-hop
 * headers and HTTP/2 pseudo-headers removed.
 *
 * @param headers - parsed headers from the backend (lower-case names)
 * @returns headers safe to set on an HTTP/1.1 or HTTP/2 response
 */
export function downstreamHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>): OutgoingHttpHeaders {
  const connection = headers.connection;
  const named = connectionTokens(
    connection === undefined ? [] : Array.isArray(connection) ? connection : [String(connection)],
  );
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58) continue;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, named)) continue;
    out[lower] = value;
  }
  return out;
}
