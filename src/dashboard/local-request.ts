/**
 * Who may use the dashboard: a client on this machine (the socket's peer is a
 * loopback address, never a header) that names this server by a name a DNS
 * rebinding cannot take over (an IP literal, `localhost`, or a host the
 * operator allowed), and, for changes, a request the dashboard's own page made
 * (a CSRF header, and `Origin`, when sent, equal to `Host`).
 */
import { isIP } from 'node:net';

/**
 * Whether an address is a loopback address: `127.0.0.0/8`, `::1`, or either
 * mapped into IPv6 (`::ffff:127.0.0.1`).
 * @param address - the socket's peer address
 * @returns whether it is loopback
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  const a = address.toLowerCase();
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) !== 6) return false;
  // The URL parser writes an IPv6 address in its shortest form (`::ffff:7f00:1` for a mapped 127.0.0.1).
  const short = new URL(`http://[${a}]`).hostname.slice(1, -1);
  if (short === '::1') return true;
  const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(short);
  return mapped?.[1] !== undefined && parseInt(mapped[1], 16) >> 8 === 127;
}

/**
 * The host name of a `Host` (or `:authority`) value, lower case, without its
 * port and IPv6 brackets; undefined when it does not parse.
 * @param host - the header value
 * @returns the host name
 */
export function hostNameOf(host: string | undefined): string | undefined {
  if (host === undefined || host === '' || /[\s/@?#\\]/.test(host)) return undefined;
  try {
    const name = new URL(`http://${host}`).hostname.toLowerCase();
    return name.startsWith('[') ? name.slice(1, -1) : name;
  } catch {
    return undefined;
  }
}

/**
 * Whether a `Host` names this server in a way a DNS rebinding cannot produce:
 * an IP literal, `localhost` or a name under `.localhost`, or one of `allowed`.
 * @param host - the header value
 * @param allowed - further host names the operator allows (lower case)
 * @returns whether the host is acceptable
 */
export function isSafeHost(host: string | undefined, allowed: readonly string[]): boolean {
  const name = hostNameOf(host);
  if (name === undefined) return false;
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.includes(name);
}

/** Headers of a request as the CSRF check reads them. */
export interface CsrfView {
  /** HTTP method. */
  method: string;
  /** `Host` (or HTTP/2 `:authority`). */
  host: string | undefined;
  /** `Origin`, when sent. */
  origin: string | undefined;
  /** `X-Requested-With`, when sent. */
  requestedWith: string | undefined;
  /** `Sec-Fetch-Site`, when sent. */
  fetchSite: string | undefined;
}

/** The header the dashboard's page sends with every call (a cross-site form cannot). */
export const CSRF_HEADER = 'x-requested-with';

/**
 * Why a call through the dashboard's proxy is refused as a possible cross-site
 * request; undefined when it is not. Every call: `Origin`, when present, must
 * be this server (its host equal to `Host`), and `Sec-Fetch-Site`, when
 * present, `same-origin` or `none`. Changes (any verb but GET and HEAD) must
 * also carry `X-Requested-With`.
 * @param view - the request's method and headers
 * @returns the reason, or undefined
 */
export function csrfRefusal(view: CsrfView): string | undefined {
  if (view.origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = view.origin === 'null' ? undefined : new URL(view.origin).host.toLowerCase();
    } catch {
      originHost = undefined;
    }
    if (originHost === undefined || originHost !== view.host?.toLowerCase())
      return `Origin ${view.origin} is not this server (${view.host ?? 'no Host'})`;
  }
  if (view.fetchSite !== undefined && view.fetchSite !== 'same-origin' && view.fetchSite !== 'none')
    return `Sec-Fetch-Site is ${view.fetchSite}`;
  const changes = view.method !== 'GET' && view.method !== 'HEAD';
  if (changes && (view.requestedWith === undefined || view.requestedWith === '')) return 'a change needs the X-Requested-With header';
  return undefined;
}
