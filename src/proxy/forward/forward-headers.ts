/**
 * Header rewriting between client and backend: hop-by-hop headers removed
 * (RFC 9110 §7.6.1), `X-Forwarded-*` added (and this hop appended to a
 * client's RFC 7239 `Forwarded`), `Host` set to the backend, credentials the
 * proxy did not verify dropped.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { L402_CREDENTIALS } from '../../core/l402-scheme.js';
import type { CredentialRecognizer } from '../../core/payment-scheme.js';

/** How the proxy takes out credentials it did not verify: the payment schemes' view, merged once. */
export interface CredentialStripper {
  /** Lower-case names of headers that carry only credentials: never forwarded. */
  readonly headers: ReadonlySet<string>;
  /** An `Authorization` value without any scheme's credentials, or `undefined` when nothing is left. */
  without(value: string): string | undefined;
}

/**
 * Merges the payment schemes' credential recognition for {@link upstreamHeaders}.
 * @param schemes - the schemes whose credentials are to be recognised
 * @returns the stripper
 */
export function credentialStripper(schemes: readonly CredentialRecognizer[]): CredentialStripper {
  const headers = new Set<string>();
  for (const scheme of schemes) for (const name of scheme.credentialHeaders) headers.add(name.toLowerCase());
  const list = [...schemes];
  return {
    headers,
    without:
      list.length === 1
        ? (value) => (list[0] as CredentialRecognizer).withoutCredentials(value)
        : (value) => {
            let rest: string | undefined = value;
            for (const scheme of list) {
              if (rest === undefined) return undefined;
              rest = scheme.withoutCredentials(rest);
            }
            return rest;
          },
  };
}

/** The stripper of L402 credentials: the default without a list of schemes. */
export const L402_STRIPPER: CredentialStripper = credentialStripper([L402_CREDENTIALS]);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

const KEEP_ALIVE = /^\s*keep-alive\s*$/i;

/** Names listed in `Connection` values are hop-by-hop too. */
function connectionTokens(values: readonly string[]): Set<string> | undefined {
  if (values.length === 0) return undefined;
  // `Connection: keep-alive`, on nearly every HTTP/1.1 message, names only a
  // header that is hop-by-hop anyway: no set to build (it was ~1 % of the CPU).
  if (values.length === 1 && KEEP_ALIVE.test(values[0] as string)) return undefined;
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
  /**
   * The `Authorization` line(s) to send, in order, replacing the client's (for
   * a verified L402 credential: `LSAT <m>:<p>` then `L402 <m>:<p>`). Without
   * them the client's credential was not verified, and every payment scheme's
   * credentials are taken out of its `Authorization` values.
   */
  authorization: readonly string[] | undefined;
  /** Which credentials the payment schemes recognise; L402's by default. */
  credentials?: CredentialStripper;
}

/**
 * Builds the upstream request headers from the client's raw header list.
 *
 * Credentials the proxy did not verify never reach the backend: the headers
 * that carry only credentials (L402: `Macaroon`, `Grpc-Metadata-Macaroon`)
 * are always dropped, and without `options.authorization` every payment
 * scheme's credentials are taken out of its `Authorization` values, split by
 * the parser the scheme reads them with (`Bearer x, L402 <mac>:<preimage>`
 * goes as `Bearer x`; a value left empty goes not at all). Other schemes stay
 * for the backend; the service's injected headers are set over all of this.
 *
 * @param raw - the client's flat `[name, value, …]` list (HTTP/2 pseudo-headers are skipped)
 * @param options - what to add
 * @returns a flat `[name, value, …]` list; duplicates other than the rewritten ones are kept
 */
export function upstreamHeaders(raw: readonly string[], options: UpstreamHeaderOptions): string[] {
  const inject = options.inject;
  const injected = inject === undefined ? undefined : injectedNames(inject);
  const replaceAuthorization = options.authorization !== undefined;
  const credentials = options.credentials ?? L402_STRIPPER;
  // One pass over the raw list, each name lower-cased once. Headers named by a
  // `Connection` value are hop-by-hop too, but may come before it: the rare
  // request whose `Connection` names anything not already dropped gets a second,
  // filtering pass at the end. `lowers` remembers the lower-case name of each
  // kept entry for that pass.
  const out: string[] = [];
  const lowers: string[] = [];
  let connection: string[] | undefined;
  let xff: string | undefined;
  let forwarded: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = name.toLowerCase();
    if (lower === 'connection') (connection ??= []).push(value);
    if (lower === 'host' || lower === 'expect' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === 'forwarded') {
      forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
      continue;
    }
    if (injected?.has(lower) === true) continue;
    if (lower === 'authorization') {
      if (replaceAuthorization) continue;
      const kept = credentials.without(value);
      if (kept !== undefined) {
        out.push(name, kept);
        lowers.push(lower);
      }
      continue;
    }
    if (credentials.headers.has(lower)) continue;
    if (options.upgrade && (lower === 'upgrade' || lower === 'connection')) {
      out.push(name, value);
      lowers.push('');
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) {
      if (options.grpc && lower === 'te' && value.trim().toLowerCase() === 'trailers') {
        out.push('te', 'trailers');
        lowers.push('');
      }
      continue;
    }
    out.push(name, value);
    lowers.push(lower);
  }
  const named = connection === undefined ? undefined : connectionTokens(connection);
  const filtered = named === undefined || !namesOther(named) ? out : dropNamed(out, lowers, named);
  filtered.push('host', options.backendHost);
  filtered.push('x-forwarded-for', xff === undefined || xff === '' ? options.clientIp : `${xff}, ${options.clientIp}`);
  filtered.push('x-forwarded-proto', options.proto);
  if (options.originalHost !== '') filtered.push('x-forwarded-host', options.originalHost);
  // A client's `Forwarded` gets this hop appended, so that its last element, like the last
  // `X-Forwarded-For` entry, is what this proxy saw. None is added when the client sent none.
  if (forwarded !== undefined) filtered.push('forwarded', `${forwarded}, ${forwardedElement(options)}`);
  const authorization = options.authorization;
  if (authorization !== undefined)
    for (let i = 0; i < authorization.length; i++) filtered.push('authorization', authorization[i] as string);
  if (inject !== undefined) {
    for (const key of Object.keys(inject)) filtered.push(key, inject[key] as string);
  }
  return filtered;
}

/** This hop as an RFC 7239 `Forwarded` element: `for` (IPv6 quoted in brackets), `proto`, `host`. */
function forwardedElement(options: UpstreamHeaderOptions): string {
  const ip = options.clientIp;
  const node = ip === '' ? 'unknown' : ip.includes(':') ? `"[${ip}]"` : ip;
  const host = options.originalHost === '' ? '' : `;host="${options.originalHost.replace(/["\\]/g, '\\$&')}"`;
  return `for=${node};proto=${options.proto}${host}`;
}

/** Whether `Connection` names a header that the fixed rules keep. */
function namesOther(named: Set<string>): boolean {
  for (const token of named) if (!HOP_BY_HOP.has(token) && !token.startsWith('proxy-')) return true;
  return false;
}

/** `out` without the entries whose name `Connection` lists (entries marked '' are kept on purpose). */
function dropNamed(out: readonly string[], lowers: readonly string[], named: Set<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < lowers.length; i++) {
    const lower = lowers[i] as string;
    if (lower !== '' && named.has(lower)) continue;
    kept.push(out[2 * i] as string, out[2 * i + 1] as string);
  }
  return kept;
}

// Lower-cased names of a service's injected headers, computed once per headers object.
const injectedCache = new WeakMap<Readonly<Record<string, string>>, Set<string>>();

function injectedNames(inject: Readonly<Record<string, string>>): Set<string> {
  let names = injectedCache.get(inject);
  if (names === undefined) {
    names = new Set(Object.keys(inject).map((k) => k.toLowerCase()));
    injectedCache.set(inject, names);
  }
  return names;
}

/** The header names a backend's `Connection` lists (hop-by-hop for this response too). */
function namedByConnection(headers: Readonly<Record<string, string | string[] | number | undefined>>): Set<string> | undefined {
  const connection = headers.connection;
  return connection === undefined ? undefined : connectionTokens(Array.isArray(connection) ? connection : [String(connection)]);
}

/**
 * The lower-case name under which a backend header goes to the client, or
 * `undefined` when it must not: absent values, HTTP/2 pseudo-headers and
 * hop-by-hop headers.
 */
function downstreamName(name: string, value: unknown, named: Set<string> | undefined): string | undefined {
  if (value === undefined || name.charCodeAt(0) === 58) return undefined;
  const lower = name.toLowerCase();
  return isHopByHop(lower, named) ? undefined : lower;
}

/**
 * Filters backend response headers (or trailers) for the client: hop-by-hop
 * headers and HTTP/2 pseudo-headers removed.
 *
 * @param headers - parsed headers from the backend (lower-case names)
 * @returns headers safe to set on an HTTP/1.1 or HTTP/2 response
 */
export function downstreamHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>): OutgoingHttpHeaders {
  const named = namedByConnection(headers);
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const lower = downstreamName(name, value, named);
    if (lower !== undefined) out[lower] = value;
  }
  return out;
}

/**
 * The same filter as {@link downstreamHeaders}, written as the flat
 * `[name, value, …]` list that `ServerResponse.writeHead` takes, with
 * `extra` appended and any backend header of the same (lower-case) name
 * dropped. One list instead of a `setHeader` call per header: the HTTP/1.1
 * response head is built in one pass.
 *
 * @param headers - parsed headers from the backend (lower-case names)
 * @param extra - pairs that replace the backend's headers of the same name (the proxy's CORS headers)
 * @param extraNames - the lower-case names of `extra`
 * @returns the list; a header with several values (Set-Cookie) keeps its array
 */
export function downstreamHeaderList(
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
  extra: readonly string[],
  extraNames: ReadonlySet<string>,
): (string | string[])[] {
  const named = namedByConnection(headers);
  const out: (string | string[])[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const lower = downstreamName(name, value, named);
    if (lower === undefined || extraNames.has(lower)) continue;
    out.push(lower, typeof value === 'number' ? String(value) : (value as string | string[]));
  }
  for (let i = 0; i < extra.length; i++) out.push(extra[i] as string);
  return out;
}
