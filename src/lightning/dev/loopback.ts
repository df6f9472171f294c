/**
 * Whether an address is the local machine, for endpoints that only local
 * processes may call.
 */
import { isIP } from 'node:net';

/**
 * Whether `address` is a loopback address: 127.0.0.0/8, `::1`, or an
 * IPv4-mapped IPv6 form of 127.0.0.0/8.
 * @param address - remote address as Node reports it (`req.socket.remoteAddress`)
 * @returns `true` for loopback
 */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
