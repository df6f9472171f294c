import type { IpSet } from './ip-set.js';
import { formatIp, parseIp, type ParsedIp } from './parse-ip.js';

/**
 * The address of the client behind a request, honouring `X-Forwarded-For`,
 * or else RFC 7239 `Forwarded`, only from trusted proxies.
 *
 * When the peer (the TCP connection's remote address) is not a trusted proxy,
 * the peer is the client and the headers are ignored: anybody can send them.
 * When it is, `X-Forwarded-For` is read when present (most proxies append to
 * it, and pass a client's `Forwarded` through untouched, so that one could be
 * forged); only a request without it has its `Forwarded` read. Either list is
 * read from the right (the entry the trusted proxy appended) towards the left,
 * skipping entries that are themselves trusted proxies; the first untrusted
 * entry is the client. If every entry is trusted, the leftmost one is the
 * client. An entry met on the way that is not an address (malformed, or in
 * `Forwarded` an obfuscated `_name`, `unknown`, or an element without `for=`)
 * means the chain cannot be followed further, and the peer is returned.
 *
 * `X-Forwarded-For` entries may be bare addresses, `a.b.c.d:port` or
 * `[v6]:port`. `Forwarded` elements are `;`-separated `name=value` pairs
 * (names without case, values a token or a quoted string) of which `for`
 * counts: `for=192.0.2.43`, `for="192.0.2.43:4711"`, `for="[2001:db8::1]:4711"`.
 * The result is canonical (`::ffff:a.b.c.d` becomes `a.b.c.d`).
 *
 * @param peerAddress - the socket's remote address
 * @param forwardedFor - the `X-Forwarded-For` value(s), or `undefined`
 * @param trustedProxies - addresses/CIDRs of the proxies in front of this server
 * @param forwarded - the `Forwarded` value(s), or `undefined`
 * @returns the client address; the peer text unchanged when it is not an IP address (never throws)
 * @example
 * ```ts
 * clientIp('10.0.0.2', '198.51.100.7, 10.0.0.1', new IpSet(['10.0.0.0/8'])); // '198.51.100.7'
 * clientIp('10.0.0.2', undefined, new IpSet(['10.0.0.0/8']), 'for="[2001:db8::7]:443"'); // '2001:db8::7'
 * ```
 */
export function clientIp(
  peerAddress: string,
  forwardedFor: string | readonly string[] | undefined,
  trustedProxies: IpSet | undefined,
  forwarded?: string | readonly string[] | undefined,
): string {
  const peer = parseIp(peerAddress);
  if (peer === undefined) return peerAddress;
  const peerText = formatIp(peer);
  if (trustedProxies === undefined || !trustedProxies.has(peer)) return peerText;
  if (forwardedFor === undefined) {
    return forwarded === undefined ? peerText : fromForwarded(peerText, joinValues(forwarded), trustedProxies);
  }
  const entries = joinValues(forwardedFor).split(',');
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

function joinValues(values: string | readonly string[]): string {
  return typeof values === 'string' ? values : values.join(',');
}

/** The client address by the `for=` parameters of a `Forwarded` value, walked as {@link clientIp} describes. */
function fromForwarded(peerText: string, value: string, trustedProxies: IpSet): string {
  const nodes = forwardedForNodes(value);
  if (nodes === undefined) return peerText;
  let leftmost: string | undefined;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const ip = node === undefined ? undefined : parseForwardedNode(node);
    if (ip === undefined) return peerText;
    const text = formatIp(ip);
    if (!trustedProxies.has(ip)) return text;
    leftmost = text;
  }
  return leftmost ?? peerText;
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The `for` value of each element of a `Forwarded` field value, in order
 * (`undefined` for an element without one), or `undefined` when the value
 * does not parse. Linear in the length of the value.
 */
function forwardedForNodes(value: string): (string | undefined)[] | undefined {
  const nodes: (string | undefined)[] = [];
  let node: string | undefined;
  let i = 0;
  const n = value.length;
  const skipSpace = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  for (;;) {
    skipSpace();
    // One pair, possibly empty (`;;` and `,,` are allowed by the grammar's list rules).
    if (i < n && value[i] !== ';' && value[i] !== ',') {
      const eq = value.indexOf('=', i);
      if (eq < 0) return undefined;
      const name = value.slice(i, eq).trim();
      if (!TCHAR.test(name)) return undefined;
      i = eq + 1;
      let pairValue: string;
      if (value[i] === '"') {
        let out = '';
        i++;
        for (;;) {
          if (i >= n) return undefined;
          const c = value[i] as string;
          if (c === '"') break;
          if (c === '\\') {
            i++;
            if (i >= n) return undefined;
          }
          out += value[i];
          i++;
        }
        i++;
        pairValue = out;
      } else {
        const start = i;
        while (i < n && value[i] !== ';' && value[i] !== ',' && value[i] !== ' ' && value[i] !== '\t') i++;
        pairValue = value.slice(start, i);
      }
      if (name.toLowerCase() === 'for') {
        if (node !== undefined) return undefined; // one `for` per element
        node = pairValue;
      }
      skipSpace();
    }
    if (i >= n) {
      nodes.push(node);
      return nodes;
    }
    const sep = value[i];
    i++;
    if (sep === ',') {
      nodes.push(node);
      node = undefined;
    } else if (sep !== ';') {
      return undefined;
    }
  }
}

const PORT = /^\d{1,5}$/;
/** A `Forwarded` node port: digits, or an obfuscated `_name` (RFC 7239 §6.3). */
const NODE_PORT = /^(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;

/**
 * The address of a `Forwarded` node: `a.b.c.d`, `a.b.c.d:port`, `[v6]`,
 * `[v6]:port` (a bare IPv6 address is taken too). `unknown` and obfuscated
 * `_names` are not addresses: `undefined`, as for anything malformed.
 */
function parseForwardedNode(node: string): ParsedIp | undefined {
  return parseForwardedEntry(node, NODE_PORT);
}

/** An `X-Forwarded-For` entry (or a `Forwarded` node): an address with an optional port, IPv6 in brackets when it has one. */
function parseForwardedEntry(raw: string, port: RegExp = PORT): ParsedIp | undefined {
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return undefined;
    const rest = raw.slice(close + 1);
    if (rest.length > 0 && !(rest.startsWith(':') && port.test(rest.slice(1)))) return undefined;
    const ip = parseIp(raw.slice(1, close));
    return ip?.family === 6 || raw.slice(1, close).includes(':') ? ip : undefined;
  }
  const colon = raw.indexOf(':');
  if (colon >= 0 && colon === raw.lastIndexOf(':')) {
    // One colon: IPv4 with a port.
    if (!port.test(raw.slice(colon + 1))) return undefined;
    const ip = parseIp(raw.slice(0, colon));
    return ip?.family === 4 ? ip : undefined;
  }
  return parseIp(raw);
}
