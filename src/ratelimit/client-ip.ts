import type { IpSet } from './ip-set.js';
import { formatIp, parseIp } from './parse-ip.js';

/**
 * The address of the client behind a request, honouring `X-Forwarded-For`
 * only from trusted proxies.
 *
 * When the peer (the TCP connection's remote address) is not a trusted proxy,
 * the peer is the client and the header is ignored: anybody can send it. When
 * it is, the header is read from the right (the entry the trusted proxy
 * appended) towards the left, skipping entries that are themselves trusted
 * proxies; the first untrusted entry is the client. If every entry is trusted,
 * the leftmost one is the client. A malformed entry met on the way means the
 * chain cannot be trusted, and the peer is returned.
 *
 * Entries may be bare addresses, `a.b.c.d:port` or `[v6]:port`. The result is
 * canonical (`::ffff:a.b.c.d` becomes `a.b.c.d`).
 *
 * @param peerAddress - the socket's remote address
 * @param forwardedFor - the `X-Forwarded-For` value(s), or `undefined`
 * @param trustedProxies - addresses/CIDRs of the proxies in front of this server
 * @returns the client address; the peer text unchanged when it is not an IP address (never throws)
 * @example
 * ```ts
 * clientIp('10.0.0.2', '198.51.100.7, 10.0.0.1', new IpSet(['10.0.0.0/8'])); // '198.51.100.7'
 * ```
 */
export function clientIp(
  peerAddress: string,
  forwardedFor: string | readonly string[] | undefined,
  trustedProxies: IpSet | undefined,
): string {
  const peer = parseIp(peerAddress);
  if (peer === undefined) return peerAddress;
  const peerText = formatIp(peer);
  if (trustedProxies === undefined || forwardedFor === undefined || !trustedProxies.has(peer)) return peerText;
  const joined = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',');
  const entries = joined.split(',');
  let leftmost: string | undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    const raw = (entries[i] ?? '').trim();
    if (raw.length === 0) continue; // tolerate 'a, , b' and trailing commas
    const ip = parseForwardedEntry(raw);
    if (ip === undefined) return peerText;
    const text = formatIp(ip);
    if (!trustedProxies.has(ip)) return text;
    leftmost = text;
  }
  return leftmost ?? peerText;
}

function parseForwardedEntry(raw: string) {
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return undefined;
    const rest = raw.slice(close + 1);
    if (rest.length > 0 && !/^:\d{1,5}$/.test(rest)) return undefined;
    const ip = parseIp(raw.slice(1, close));
    return ip?.family === 6 || raw.slice(1, close).includes(':') ? ip : undefined;
  }
  const colon = raw.indexOf(':');
  if (colon >= 0 && colon === raw.lastIndexOf(':')) {
    // One colon: IPv4 with a port.
    if (!/^\d{1,5}$/.test(raw.slice(colon + 1))) return undefined;
    const ip = parseIp(raw.slice(0, colon));
    return ip?.family === 4 ? ip : undefined;
  }
  return parseIp(raw);
}
