/**
 * IP addresses and CIDR ranges as written in `blocklist` and `trustedproxies`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { IpRange } from './aperture-config.js';

/**
 * Parses `1.2.3.4`, `10.0.0.0/8`, `2001:db8::1` or `2001:db8::/32`.
 *
 * @param text - the address or range
 * @returns the range, or a reason it is not one; never throws
 */
export function parseIpRange(text: string): { ok: true; range: IpRange } | { ok: false; reason: string } {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return { ok: false, reason: `"${text}" is not an IP address or CIDR range` };
  const max = family === 'ipv4' ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return { ok: false, reason: `"${text}" has an invalid prefix length (0-${max})` };
    }
    prefixLength = Number(prefixText);
  }
  return { ok: true, range: { text, address: address.toLowerCase(), prefixLength, family } };
}
