import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { parseIp, type ParsedIp } from './parse-ip.js';

/** A parsed CIDR: the network address (host bits cleared) and the prefix length. */
export interface ParsedCidr {
  /** The network, with every bit past `prefix` cleared. */
  readonly network: ParsedIp;
  /** Prefix length: 0–32 for IPv4, 0–128 for IPv6. */
  readonly prefix: number;
}

/**
 * Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `x::/n`. A bare address is a
 * /32 or /128; host bits past the prefix are cleared (as Go's `ParseCIDR`
 * does). An IPv4-mapped IPv6 CIDR with a prefix of 96 or more becomes IPv4.
 *
 * @param text - the entry
 * @returns the CIDR, or `undefined` when the entry is malformed (never throws)
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const ip = parseIp(addressText);
  if (ip === undefined) return undefined;
  let prefix = ip.family === 4 ? 32 : 128;
  if (slash >= 0) {
    const p = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    // parseIp folds ::ffff:a.b.c.d into IPv4; a prefix written for the IPv6 form shifts by 96.
    if (ip.family === 4 && addressText.includes(':')) {
      if (prefix < 96 || prefix > 128) return undefined;
      prefix -= 96;
    }
    if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  }
  return { network: { family: ip.family, bytes: maskBytes(ip.bytes, prefix) }, prefix };
}

/**
 * Copies `bytes` with every bit past `prefix` cleared.
 * @internal
 */
export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const full = prefix >> 3;
  out.set(bytes.subarray(0, full));
  const rest = prefix & 7;
  if (rest > 0 && full < bytes.length) out[full] = (bytes[full] ?? 0) & (0xff << (8 - rest));
  return out;
}

/**
 * A set of IP addresses and CIDR ranges, IPv4 and IPv6, parsed once and matched
 * fast: one hash lookup per distinct prefix length present in the set, so a
 * blocklist of thousands of single addresses costs one lookup per match.
 *
 * Used for trusted proxies (X-Forwarded-For handling) and the proxy's blocklist.
 *
 * @example
 * ```ts
 * const trusted = new IpSet(['10.0.0.0/8', '::1']);
 * trusted.has('10.1.2.3'); // true
 * trusted.has('::ffff:10.1.2.3'); // true: IPv4-mapped IPv6 is IPv4
 * ```
 */
export class IpSet {
  /** Number of entries the set was built from. */
  readonly size: number;
  private readonly v4 = new Map<number, Set<number>>();
  private readonly v6 = new Map<number, Set<string>>();
  private v4Prefixes: number[] = [];
  private v6Prefixes: number[] = [];

  /**
   * @param entries - addresses and CIDRs, e.g. `['1.1.1.1', '10.0.0.0/8', '2001:db8::/32']`
   * @param path - configuration path used in error messages, e.g. `blocklist`
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` listing every malformed entry as `<path>[i]`
   */
  constructor(entries: readonly string[], path = 'ips') {
    const issues = validateIpList(entries, path);
    if (issues.length > 0) throw new ConfigError(issues);
    for (const entry of entries) {
      const cidr = parseCidr(entry);
      if (cidr !== undefined) this.add(cidr);
    }
    this.size = entries.length;
    this.v4Prefixes.sort((a, b) => b - a);
    this.v6Prefixes.sort((a, b) => b - a);
  }

  /**
   * Whether an address lies in the set.
   *
   * @param ip - address text (bare, as `parseIp` reads it) or a parsed address
   * @returns `true` when it matches an entry; `false` for anything that is not an address
   */
  has(ip: string | ParsedIp): boolean {
    const parsed = typeof ip === 'string' ? parseIp(ip) : ip;
    if (parsed === undefined) return false;
    if (parsed.family === 4) {
      const b = parsed.bytes;
      const value = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
      for (const prefix of this.v4Prefixes) {
        if (this.v4.get(prefix)?.has(maskV4(value, prefix)) === true) return true;
      }
      return false;
    }
    for (const prefix of this.v6Prefixes) {
      if (this.v6.get(prefix)?.has(v6Key(parsed.bytes, prefix)) === true) return true;
    }
    return false;
  }

  private add(cidr: ParsedCidr): void {
    if (cidr.network.family === 4) {
      const b = cidr.network.bytes;
      const value = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
      let set = this.v4.get(cidr.prefix);
      if (set === undefined) {
        set = new Set();
        this.v4.set(cidr.prefix, set);
        this.v4Prefixes.push(cidr.prefix);
      }
      set.add(value);
      return;
    }
    let set = this.v6.get(cidr.prefix);
    if (set === undefined) {
      set = new Set();
      this.v6.set(cidr.prefix, set);
      this.v6Prefixes.push(cidr.prefix);
    }
    set.add(v6Key(cidr.network.bytes, cidr.prefix));
  }
}

/**
 * Checks a raw list of addresses/CIDRs from a configuration.
 *
 * @param entries - the raw value (anything; a non-array is one issue)
 * @param path - path of the list, e.g. `blocklist` or `trustedproxies`
 * @returns one issue per malformed entry, empty when the list is valid
 */
export function validateIpList(entries: unknown, path: string): ConfigIssue[] {
  if (!Array.isArray(entries)) return [{ path, message: 'must be a list of IP addresses or CIDRs' }];
  const issues: ConfigIssue[] = [];
  entries.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string' || parseCidr(entry) === undefined) {
      issues.push({
        path: `${path}[${i}]`,
        message: `${JSON.stringify(entry)} is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`,
      });
    }
  });
  return issues;
}

function maskV4(value: number, prefix: number): number {
  return prefix === 0 ? 0 : (value & (0xffffffff << (32 - prefix))) >>> 0;
}

function v6Key(bytes: Uint8Array, prefix: number): string {
  const masked = maskBytes(bytes, prefix);
  let key = '';
  for (let i = 0; i < (prefix + 7) >> 3; i++) key += String.fromCharCode(masked[i] ?? 0);
  return key;
}
