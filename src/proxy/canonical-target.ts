/**
 * The one canonical origin-form path of a request, computed before routing,
 * so that what the service table, the authorization rules and the rate limits
 * match is exactly what the backend receives.
 */

/** A request target split into its canonical path and its untouched query. */
export interface CanonicalTarget {
  /** Origin-form path, no query: what every path regular expression is matched against. */
  path: string;
  /** The query with its leading `?`, or `''`. */
  query: string;
}

/** Why a request target is refused. */
export interface BadTarget {
  /** A short reason for the 400 body. */
  reason: string;
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** Anything the slow path must look at: an escape, a backslash, a `;`, a segment starting with `.`, or an empty segment. */
const SUSPECT = /[%;\\]|\/[./]/;

/** Unreserved characters (RFC 3986 §2.3), `/` and `\`, whose percent-encoding would let one path look like another. */
function isAmbiguousOctet(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e ||
    code === 0x2f ||
    code === 0x5c
  );
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/** The octet of the two hex digits at `text[at]`, or -1. */
function hexOctet(text: string, at: number): number {
  const high = hexDigit(text.charCodeAt(at));
  const low = hexDigit(text.charCodeAt(at + 1));
  return high === -1 || low === -1 ? -1 : (high << 4) | low;
}

/**
 * Canonicalizes a request target. The strict choice is made: instead of
 * decoding, targets that have more than one spelling (for the proxy or for a
 * backend) are refused, so the accepted path is matched and forwarded byte for byte.
 *
 * - absolute-form (`http://host/path`) becomes its path; refused when its
 *   authority differs from `Host` (case-insensitive);
 * - the query is split off (path regular expressions never see it);
 * - refused: a path not starting with `/`, a malformed `%` escape, a
 *   percent-encoded unreserved character (`%61` for `a`, `%2E` for `.`), an
 *   encoded `/` or `\` (`%2F`, `%5C`), a raw `\` (URL parsers such as WHATWG
 *   `new URL()` read it as `/`), a raw `;` (Servlet containers drop `;params`
 *   from every segment, so `/free/..;/api` is `/api` to them), an encoded `%`
 *   before an escape that is refused itself (`%252e`, `%255C`, `%2525`: a
 *   backend that decodes twice would see `.`, `\`, `%`), a `.` or `..` segment,
 *   an empty segment (`//`: nginx, Tomcat and others merge slashes, so
 *   `//api/secret` is `/api/secret` to them while it misses a `^/api/` route).
 *
 * @param target - the raw request target (`req.url`; `:path` for HTTP/2)
 * @param host - the request's Host (or `:authority`)
 * @returns the canonical path and query, or why the target is refused (answer 400)
 */
export function canonicalTarget(target: string, host: string): CanonicalTarget | BadTarget {
  let rest = target;
  if (rest.charCodeAt(0) !== 47 /* '/' */) {
    if (!ABSOLUTE.test(rest)) return { reason: 'request target is not a path' };
    const start = rest.indexOf('://') + 3;
    let end = start;
    while (end < rest.length && rest[end] !== '/' && rest[end] !== '?' && rest[end] !== '#') end++;
    const authority = rest.slice(start, end);
    if (authority.includes('@') || authority.toLowerCase() !== host.toLowerCase()) {
      return { reason: 'absolute request target does not match Host' };
    }
    rest = rest.slice(end);
    if (rest === '' || rest.charCodeAt(0) === 63 /* '?' */) rest = `/${rest}`;
    if (rest.charCodeAt(0) !== 47) return { reason: 'request target is not a path' };
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q);
  // Fast path (nearly every request): one scan, no allocation.
  if (!SUSPECT.test(path)) return { path, query };
  const bad = ambiguity(path);
  return bad === undefined ? { path, query } : { reason: bad };
}

/** Why a path that the fast path could not pass is refused, or `undefined` when it is fine after all. */
function ambiguity(path: string): string | undefined {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x5c) return 'backslash in path';
    if (c === 0x3b) return 'path parameter (;) in path';
    if (c !== 0x25) continue;
    const octet = hexOctet(path, i + 1);
    if (octet === -1) return 'malformed percent-encoding in path';
    if (isAmbiguousOctet(octet)) return 'percent-encoded unreserved character, / or \\ in path';
    if (octet === 0x25) {
      const next = hexOctet(path, i + 3);
      if (next !== -1 && (next === 0x25 || isAmbiguousOctet(next))) return 'double percent-encoding in path';
    }
    i += 2;
  }
  if (path.includes('//')) return 'empty segment (//) in path';
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return 'dot segment in path';
  }
  return undefined;
}
