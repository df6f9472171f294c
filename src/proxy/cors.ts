/**
 * CORS headers the proxy puts on every response, so that browser wallets and
 * web apps can read challenges and send credentials cross-origin.
 */

/** Request headers a cross-origin client may send. */
const ALLOW_HEADERS =
  'Authorization, Content-Type, Grpc-Metadata-Macaroon, Macaroon, WWW-Authenticate, Payment-Receipt, X-Grpc-Web, X-User-Agent';
/** Response headers a cross-origin client may read. */
const EXPOSE_HEADERS = 'WWW-Authenticate, Payment-Receipt, Grpc-Metadata-Macaroon, Retry-After, Grpc-Status, Grpc-Message';

/** The CORS headers of every proxy response, as name/value pairs. */
export const CORS_HEADERS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ['access-control-allow-origin', '*'],
  ['access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
  ['access-control-allow-headers', ALLOW_HEADERS],
  ['access-control-expose-headers', EXPOSE_HEADERS],
] as const);

/** {@link CORS_HEADERS} as one flat `[name, value, …]` list, for a response head written at once. */
export const CORS_HEADER_LIST: readonly string[] = Object.freeze(CORS_HEADERS.flat());

/** The lower-case names of {@link CORS_HEADERS}. */
export const CORS_HEADER_NAMES: ReadonlySet<string> = new Set(CORS_HEADERS.map(([name]) => name));

/** The list-valued CORS fields: the backend's entries are kept and ours added (see {@link corsHeadersFor}). */
const LIST_FIELDS: ReadonlySet<string> = new Set([
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
]);

/**
 * Merges a list-valued CORS field as the reference does: the backend's entries
 * first, in its order, then ours, each name once (compared without case),
 * written as one field line.
 */
function mergeList(backend: string | readonly string[], ours: string): string {
  const merged: string[] = [];
  const seen = new Set<string>();
  const add = (entry: string): void => {
    const trimmed = entry.trim();
    const key = trimmed.toLowerCase();
    if (trimmed === '' || seen.has(key)) return;
    seen.add(key);
    merged.push(trimmed);
  };
  for (const line of typeof backend === 'string' ? [backend] : backend) for (const entry of line.split(',')) add(entry);
  for (const entry of ours.split(',')) add(entry);
  return merged.join(', ');
}

/**
 * The CORS headers of a forwarded response, as a flat `[name, value, …]` list
 * that replaces the backend's own CORS fields. `Access-Control-Allow-Origin`
 * is single-valued (two of them make a browser reject the response), so ours
 * replaces the backend's. The three list-valued fields keep the backend's
 * entries and add ours: a backend exposing `X-Request-Id` must still have it
 * readable from JavaScript behind the proxy.
 * @param backend - the backend's response headers (lower-case names)
 * @returns {@link CORS_HEADER_LIST} itself when the backend sent none of the list fields
 */
export function corsHeadersFor(backend: Readonly<Record<string, string | string[] | number | undefined>>): readonly string[] {
  let merged: string[] | undefined;
  for (let i = 0; i < CORS_HEADER_LIST.length; i += 2) {
    const name = CORS_HEADER_LIST[i] as string;
    const value = backend[name];
    if (value === undefined || !LIST_FIELDS.has(name)) continue;
    merged ??= [...CORS_HEADER_LIST];
    merged[i + 1] = mergeList(typeof value === 'number' ? String(value) : value, CORS_HEADER_LIST[i + 1] as string);
  }
  return merged ?? CORS_HEADER_LIST;
}

/** Anything with `setHeader`: an HTTP/1.1 or HTTP/2 compatibility response. */
interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/**
 * Sets the CORS headers on a response, replacing any the backend sent.
 * @param res - the response, before its head is written
 */
export function applyCors(res: HeaderSink): void {
  for (const [name, value] of CORS_HEADERS) res.setHeader(name, value);
}
