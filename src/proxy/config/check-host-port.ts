/**
 * Offline plausibility check of `host:port` addresses, so `--check-config`
 * can flag "123.456.789:8082" without connecting or resolving anything.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Checks that an address can name a reachable endpoint: a valid IP literal or a
 * syntactically valid DNS name, and, when present (or required), a port 1-65535.
 *
 * @param address - `host:port`, `[v6]:port`, or `host` when the port is optional
 * @param portRequired - whether a missing port is a problem
 * @returns undefined when plausible, else what is wrong
 */
export function checkHostPort(address: string, portRequired: boolean): string | undefined {
  let host = address;
  let port: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(address);
  if (bracket !== null) {
    host = bracket[1] ?? '';
    port = bracket[2];
    if (!isIPv6(host)) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = address.lastIndexOf(':');
    if (colon !== -1 && address.indexOf(':') === colon) {
      host = address.slice(0, colon);
      port = address.slice(colon + 1);
    } else if (colon !== -1 && isIPv6(address)) {
      return `IPv6 address "${address}" needs brackets and a port, e.g. [${address}]:443`;
    }
  }
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `port "${port}" is not a number between 1 and 65535`;
  } else if (portRequired) {
    return `"${address}" has no port (host:port)`;
  }
  if (host === '') return portRequired ? undefined : `"${address}" has no host`; // ":8081" = every interface
  if (isIPv4(host) || isIPv6(host)) return undefined;
  if (/^[0-9.]+$/.test(host)) return `"${host}" is not a valid IPv4 address and cannot resolve`;
  if (host.length > 253) return `host name "${host}" is too long`;
  const labels = host.replace(/\.$/, '').split('.');
  for (const label of labels) {
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)) return `"${host}" is not a valid host name`;
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return `"${host}" is not a valid host name (numeric last label)`;
  return undefined;
}
