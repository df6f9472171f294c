/**
 * Strict IP address parsing and formatting, shared by the client-IP logic, the
 * freebie masks and the CIDR matcher. Written by hand rather than with
 * `node:net` because the callers need the bytes (to mask and to match
 * prefixes), and IPv4-mapped IPv6 addresses must collapse to IPv4.
 */

/** An IP address as bytes. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is reported as IPv4. */
export interface ParsedIp {
  /** 4 for IPv4 (4 bytes), 6 for IPv6 (16 bytes). */
  readonly family: 4 | 6;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

const MAX_TEXT = 64;

/**
 * Parses a bare IP address: dotted-quad IPv4 or IPv6 text (with `::`, an
 * embedded IPv4 tail and an optional `%zone`, which is dropped). No brackets,
 * no ports, no prefix. IPv4-mapped IPv6 becomes IPv4.
 *
 * @param text - the address text
 * @returns the address, or `undefined` when `text` is not an IP address (never throws)
 */
export function parseIp(text: string): ParsedIp | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) return undefined;
  if (text.includes(':')) {
    const bytes = parseIpv6(text);
    if (bytes === undefined) return undefined;
    if (isV4Mapped(bytes)) return { family: 4, bytes: bytes.slice(12) };
    return { family: 6, bytes };
  }
  const bytes = parseIpv4(text);
  return bytes === undefined ? undefined : { family: 4, bytes };
}

/**
 * Formats an address canonically: dotted quad, or RFC 5952 IPv6 (lower-case,
 * leading zeros dropped, the longest run of two or more zero groups as `::`).
 *
 * @param ip - a parsed address
 * @returns the canonical text
 */
export function formatIp(ip: ParsedIp): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // treat the end as a final '.'
    if (c === 46) {
      // Leading zeros are refused: some parsers read them as octal, so '010' is ambiguous.
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined;
      value = value * 10 + (c - 48);
      digits++;
      if (value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

function parseIpv6(input: string): Uint8Array | undefined {
  let text = input;
  const zone = text.indexOf('%');
  if (zone >= 0) {
    if (zone === text.length - 1) return undefined;
    text = text.slice(0, zone);
  }
  const out = new Uint8Array(16);
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? '', halves.length === 1);
  if (head === undefined) return undefined;
  if (halves.length === 1) {
    if (head.length !== 16) return undefined;
    out.set(head);
    return out;
  }
  const tail = parseGroups(halves[1] ?? '', true);
  if (tail === undefined) return undefined;
  // '::' stands for at least one zero group.
  if (head.length + tail.length > 14) return undefined;
  out.set(head, 0);
  out.set(tail, 16 - tail.length);
  return out;
}

/** Parses colon-separated hex groups; the last one may be a dotted IPv4 when `allowV4Tail`. */
function parseGroups(text: string, allowV4Tail: boolean): number[] | undefined {
  if (text.length === 0) return [];
  const parts = text.split(':');
  const bytes: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? '';
    if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === undefined) return undefined;
      bytes.push(...v4);
      continue;
    }
    if (p.length === 0 || p.length > 4 || !/^[0-9a-fA-F]+$/.test(p)) return undefined;
    const g = parseInt(p, 16);
    bytes.push(g >> 8, g & 0xff);
  }
  return bytes.length > 16 ? undefined : bytes;
}
