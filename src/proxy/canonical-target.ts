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
const HEX = /^[0-9A-Fa-f]{2}$/;

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

/**
 * Canonicalizes a request target. The strict choice is made: instead of
 * decoding, targets that have more than one spelling are refused, so the
 * accepted path is matched and forwarded byte for byte.
 *
 * - absolute-form (`http://host/path`) becomes its path; refused when its
 *   authority differs from `Host` (case-insensitive);
 * - the query is split off (path regular expressions never see it);
 * - refused: a path not starting with `/`, a malformed `%` escape, a
 *   percent-encoded unreserved character (`%61` for `a`, `%2E` for `.`), an
 *   encoded `/` or `\` (`%2F`, `%5C`), a `.` or `..` segment.
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
  // Fast path: nothing encoded and no dot segment possible.
  if (path.indexOf('%') === -1 && path.indexOf('/.') === -1) return { path, query };
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { reason: 'malformed percent-encoding in path' };
    if (isAmbiguousOctet(parseInt(hex, 16))) return { reason: 'percent-encoded unreserved character, / or \\ in path' };
  }
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return { reason: 'dot segment in path' };
  }
  return { path, query };
}
