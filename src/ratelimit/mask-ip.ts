import { maskBytes } from './ip-set.js';
import { formatIp, parseIp } from './parse-ip.js';

/**
 * The network a client address belongs to, as the reference proxy groups
 * clients for freebies and unauthenticated rate limits: IPv4 /24, IPv6 /48.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4.
 *
 * @param ip - a bare address, e.g. `203.0.113.7` or `2001:db8:1:2::5`
 * @returns the network in CIDR form, e.g. `203.0.113.0/24` or `2001:db8:1::/48`;
 *   text that is not an IP address is returned unchanged, so that it still
 *   works as a (per-address) key (never throws)
 */
export function maskIp(ip: string): string {
  const parsed = parseIp(ip);
  if (parsed === undefined) return ip;
  const prefix = parsed.family === 4 ? 24 : 48;
  return `${formatIp({ family: parsed.family, bytes: maskBytes(parsed.bytes, prefix) })}/${prefix}`;
}
