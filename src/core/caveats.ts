/**
 * L402 first-party caveats: builders for the conditions the Minter adds, and the
 * checks the Verifier runs (PROTOCOL §1). A caveat is UTF-8 `condition=value`,
 * split on the first `=`. Unknown conditions are skipped. A repeated condition
 * may only narrow what the earlier one allowed, and the last one is checked.
 */
import { L402Error } from './errors.js';
import { isHex } from './bytes.js';
import type { ServiceTier } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/** What a custom {@link Satisfier} sees about the request and the token. */
export interface SatisfierContext {
  /** The service the request is for. */
  service: string;
  /** The resource the request is for, on a route whose tokens are scoped to one (see {@link resourceName}). */
  resource?: string | undefined;
  /** The capability the route requires, if any. */
  capability: string | undefined;
  /** Current time, ms since the epoch, from the verifier's clock. */
  now: number;
  /** Token ID, lower-case hex. */
  tokenId: string;
}

/**
 * A check for one caveat condition, e.g. a constraint `max_size=100` from the
 * configuration. Called only when a token carries the condition.
 */
export interface Satisfier {
  /** The condition (the text before the first `=`) this satisfier handles. */
  readonly condition: string;
  /**
   * For a repeated condition: whether `current` only narrows `previous`. When
   * absent, any repeat is accepted.
   */
  satisfyPrevious?(previous: string, current: string, context: SatisfierContext): boolean;
  /** Whether the last value of the condition allows the request. */
  satisfyFinal(value: string, context: SatisfierContext): boolean;
}

/** Outcome of {@link checkCaveats}. */
export type CaveatCheckResult =
  | {
      ok: true;
      /** The effective (last) services caveat; `undefined` when there is none (valid for every service). */
      services: ServiceTier[] | undefined;
      /** When the target service's `_valid_until` runs out, ms since the epoch; `Infinity` without one. */
      expiresAt: number;
      /** The value of a `preimage=` caveat, lower-case hex, when there is one. */
      preimage: string | undefined;
    }
  | { ok: false; code: L402ErrorCode; reason: string };

/** The condition of the services caveat. */
export const SERVICES_CONDITION = 'services';
/** Suffix of the capabilities condition, `<service>_capabilities`. */
export const CAPABILITIES_SUFFIX = '_capabilities';
/** Suffix of the expiry condition, `<service>_valid_until`. */
export const VALID_UNTIL_SUFFIX = '_valid_until';
/** The condition gRPC clients add to carry the preimage with a bare macaroon. */
export const PREIMAGE_CONDITION = 'preimage';

function badCaveat(message: string): L402Error {
  return new L402Error('L402_ERR_TOKEN_BAD_CAVEAT', message, { status: 400 });
}

function isServiceName(name: string): boolean {
  return name.length > 0 && !/[,:=\s]/.test(name);
}

/** Characters a `services` caveat entry cannot hold (or that would make two paths one name), kept percent-encoded. */
function keptEncoded(code: number): boolean {
  return (
    code <= 0x20 ||
    code === 0x7f ||
    code === 0x25 /* % */ ||
    code === 0x2c /* , */ ||
    code === 0x3a /* : */ ||
    code === 0x3d /* = */ ||
    code === 0x2f /* / */ ||
    code === 0x5c /* \ */ ||
    code === 0x3f /* ? */ ||
    code === 0x23
  ); /* # */
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

function escapeOctet(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/**
 * The name a token scoped to one resource carries in its `services` caveat,
 * as the reference proxy names the resources of a dynamically priced service
 * (`Service.ResourceName`): the service name followed by the request path
 * without its query, percent-decoded. Two kinds of character stay
 * percent-encoded (upper-case hex), so that the name fits a `services` entry
 * and distinct paths keep distinct names: those a `services` entry cannot hold
 * or that are structural in a path (`%`, `,`, `:`, `=`, `/`, `\`, `?`, `#`,
 * space, control characters) and byte sequences that are not UTF-8. A literal
 * `,` `:` `=` in the path is encoded the same way. For every other path
 * (`/v1/quote`, a gRPC `/pkg.Service/Method`, non-ASCII text) the name equals
 * the reference's, so tokens minted by either proxy open the same resource.
 *
 * @param service - the service name
 * @param path - the request path, with or without `?query`
 * @returns e.g. `resourceName('api', '/v1/quote?x=1')` → `api/v1/quote`
 */
export function resourceName(service: string, path: string): string {
  let end = path.indexOf('?');
  if (end === -1) end = path.length;
  const hash = path.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  const raw = end === path.length ? path : path.slice(0, end);
  // Fast path: nothing to decode or encode.
  if (!/[%,:=\s\u0000-\u001f\u007f]/.test(raw)) return service + raw;
  let out = service;
  let i = 0;
  while (i < end) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */) {
      // A run of escapes: decoded as UTF-8 where that is what it is.
      const bytes: number[] = [];
      let j = i;
      while (j + 2 < end) {
        if (raw.charCodeAt(j) !== 0x25) break;
        const hi = hexDigit(raw.charCodeAt(j + 1));
        const lo = hexDigit(raw.charCodeAt(j + 2));
        if (hi < 0 || lo < 0) break;
        bytes.push(hi * 16 + lo);
        j += 3;
      }
      if (bytes.length === 0) {
        // A `%` that starts no escape is a literal percent sign.
        out += '%25';
        i++;
        continue;
      }
      out += decodeRun(bytes);
      i = j;
      continue;
    }
    const ch = raw[i] as string;
    if (c === 0x2c || c === 0x3a || c === 0x3d || c < 0x20 || c === 0x7f || /\s/.test(ch))
      out += c < 0x100 ? escapeOctet(c) : encodeURIComponent(ch);
    else out += ch;
    i++;
  }
  return out;
}

/** A run of percent-decoded bytes as name text: ASCII decoded unless kept encoded, UTF-8 sequences decoded when valid. */
function decodeRun(bytes: readonly number[]): string {
  let out = '';
  let k = 0;
  while (k < bytes.length) {
    const b = bytes[k] as number;
    if (b < 0x80) {
      out += keptEncoded(b) ? escapeOctet(b) : String.fromCharCode(b);
      k++;
      continue;
    }
    let m = k;
    while (m < bytes.length && (bytes[m] as number) >= 0x80) m++;
    const run = bytes.slice(k, m);
    let text: string | undefined;
    try {
      text = utf8Fatal.decode(Uint8Array.from(run));
    } catch {
      text = undefined;
    }
    // Text a `services` entry cannot hold (Unicode white space) stays encoded too.
    out += text !== undefined && !/\s/.test(text) ? text : run.map(escapeOctet).join('');
    k = m;
  }
  return out;
}

/**
 * Builds a `services` caveat.
 * @param services - one or more services with their tiers
 * @returns e.g. `services=a:0,b:1`
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an empty list, a name with `,` `:` `=`
 *   or whitespace, or a tier that is not an integer 0–255
 */
export function servicesCaveat(services: readonly ServiceTier[]): string {
  if (services.length === 0) throw badCaveat('services caveat needs at least one service');
  const parts: string[] = [];
  for (const s of services) {
    if (!isServiceName(s.name)) throw badCaveat(`invalid service name ${JSON.stringify(s.name)}`);
    if (!Number.isInteger(s.tier) || s.tier < 0 || s.tier > 255) throw badCaveat(`invalid tier ${s.tier} for ${s.name}`);
    parts.push(`${s.name}:${s.tier}`);
  }
  return `${SERVICES_CONDITION}=${parts.join(',')}`;
}

/**
 * Builds a `<service>_capabilities` caveat.
 * @param service - the service name
 * @param caps - the capabilities granted
 * @returns e.g. `api_capabilities=read,write`
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an invalid service name or a capability
 *   that is empty or contains `,` or whitespace
 */
export function capabilitiesCaveat(service: string, caps: readonly string[]): string {
  if (!isServiceName(service)) throw badCaveat(`invalid service name ${JSON.stringify(service)}`);
  for (const c of caps) if (c.length === 0 || /[,\s]/.test(c)) throw badCaveat(`invalid capability ${JSON.stringify(c)}`);
  return `${service}${CAPABILITIES_SUFFIX}=${caps.join(',')}`;
}

/**
 * Builds a `<service>_valid_until` caveat.
 * @param service - the service name
 * @param unixSeconds - last second (exclusive) the token is valid, Unix time
 * @returns e.g. `api_valid_until=1900000000`
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an invalid service name or a time that is not a non-negative integer
 */
export function validUntilCaveat(service: string, unixSeconds: number): string {
  if (!isServiceName(service)) throw badCaveat(`invalid service name ${JSON.stringify(service)}`);
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) throw badCaveat(`invalid expiry ${unixSeconds}`);
  return `${service}${VALID_UNTIL_SUFFIX}=${unixSeconds}`;
}

/** What a service grants in its tokens, keyed by its name so that nothing is lost between services. */
export interface ServiceGrant {
  /** Capabilities granted: caveat `<service>_capabilities=a,b`. */
  capabilities?: readonly string[] | undefined;
  /** Seconds the token stays valid after minting: caveat `<service>_valid_until`. */
  timeoutSeconds?: number | undefined;
  /** Extra `key=value` caveats (the reference's `constraints`). */
  constraints?: Readonly<Record<string, string>> | undefined;
}

/**
 * The caveats a service puts in a fresh token besides `services=`: its
 * capabilities, its expiry and its constraints, in that order.
 * @param service - the service name
 * @param grant - what the service grants
 * @param nowMs - the minting time, ms since the epoch
 * @returns the caveats, possibly none
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an invalid service name
 */
export function serviceCaveats(service: string, grant: ServiceGrant, nowMs: number): string[] {
  const caveats: string[] = [];
  if (grant.capabilities !== undefined && grant.capabilities.length > 0) caveats.push(capabilitiesCaveat(service, grant.capabilities));
  if (grant.timeoutSeconds !== undefined && grant.timeoutSeconds > 0) {
    caveats.push(validUntilCaveat(service, Math.floor(nowMs / 1000) + Math.floor(grant.timeoutSeconds)));
  }
  if (grant.constraints !== undefined) for (const [k, v] of Object.entries(grant.constraints)) caveats.push(`${k}=${v}`);
  return caveats;
}

/**
 * A satisfier for one constraint condition (a `constraints` key). Constraints
 * are fixed values, not limits the holder may lower: a token carries the value
 * it was minted with, and a repeat of the condition must keep that exact value.
 * Without this satisfier a repeat is accepted and the last value wins, so a
 * holder could append `max_size=999999` after a minted `max_size=100`.
 * @param condition - the constraint key, e.g. `max_size`
 * @returns a satisfier whose `satisfyPrevious` accepts only an equal value and
 *   whose `satisfyFinal` accepts any value (the minted one, which the backend reads)
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an empty key or one containing `=`
 */
export function constraintSatisfier(condition: string): Satisfier {
  if (condition.length === 0 || condition.includes('=')) throw badCaveat(`invalid constraint key ${JSON.stringify(condition)}`);
  return {
    condition,
    satisfyPrevious: (previous, current) => previous === current,
    satisfyFinal: () => true,
  };
}

/**
 * {@link constraintSatisfier} for each distinct key, e.g. every constraint key
 * of every service, for `new Verifier({ satisfiers })`.
 * @param keys - constraint keys (duplicates are dropped)
 * @returns one satisfier per key
 * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` for an empty key or one containing `=`
 */
export function equalitySatisfiers(keys: Iterable<string>): Satisfier[] {
  return [...new Set(keys)].map(constraintSatisfier);
}

/**
 * Parses the value of a `services` caveat strictly: `name:tier[,name:tier…]`,
 * tier a decimal 0–255.
 * @param value - the text after `services=`
 * @returns the services, or `undefined` when the value is invalid
 */
export function parseServices(value: string): ServiceTier[] | undefined {
  if (value.length === 0) return undefined;
  const out: ServiceTier[] = [];
  let start = 0;
  for (;;) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    const colon = value.indexOf(':', start);
    if (colon <= start || colon >= end - 1) return undefined;
    const name = value.slice(start, colon);
    if (!isServiceName(name)) return undefined;
    let tier = 0;
    if (end - colon - 1 > 3) return undefined;
    for (let i = colon + 1; i < end; i++) {
      const d = value.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      tier = tier * 10 + d;
    }
    if (tier > 255) return undefined;
    out.push({ name, tier });
    if (end === value.length) return out;
    start = end + 1;
  }
}

function parseCapabilities(value: string): string[] | undefined {
  if (value.length === 0) return [];
  const caps = value.split(',');
  for (let i = 0; i < caps.length; i++) {
    const c = (caps[i] as string).trim();
    if (c.length === 0) return undefined;
    caps[i] = c;
  }
  return caps;
}

function parseUnixSeconds(value: string): number | undefined {
  if (value.length === 0 || value.length > 15) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

function fail(code: L402ErrorCode, reason: string): CaveatCheckResult {
  return { ok: false, code, reason };
}

/**
 * Checks a token's first-party caveats against a request.
 *
 * @param conditions - the caveats in order, `condition=value`
 * @param service - the service the request is for
 * @param capability - the capability the route requires, if any
 * @param now - current time, ms since the epoch
 * @param satisfiers - custom checks by condition
 * @param tokenId - token ID for the satisfier context
 * @param resource - on a route whose tokens are scoped to one resource (see {@link resourceName}):
 *   the resource, which the `services` caveat must list instead of the service. The
 *   `<service>_…` caveats still apply, and so do `<resource>_valid_until` and
 *   `<resource>_capabilities` (what a holder of a reference token may add)
 * @returns `ok` with the effective services, or the failure code:
 *   `L402_ERR_TOKEN_BAD_CAVEAT`, `L402_ERR_TOKEN_CAVEAT_WIDENED`, `L402_ERR_TOKEN_WRONG_SERVICE`,
 *   `L402_ERR_TOKEN_WRONG_RESOURCE`, `L402_ERR_TOKEN_EXPIRED`, `L402_ERR_TOKEN_MISSING_CAPABILITY`,
 *   `L402_ERR_TOKEN_CAVEAT_UNSATISFIED`
 */
export function checkCaveats(
  conditions: readonly string[],
  service: string,
  capability: string | undefined,
  now: number,
  satisfiers: ReadonlyMap<string, Satisfier> | undefined,
  tokenId: string,
  resource?: string,
): CaveatCheckResult {
  let services: ServiceTier[] | undefined;
  let caps: string[] | undefined;
  let validUntil: number | undefined;
  let preimage: string | undefined;
  let custom: Map<string, string> | undefined;
  let context: SatisfierContext | undefined;
  // The resource's own expiry and capabilities, kept apart from the service's: two conditions.
  let resourceCaps: string[] | undefined;
  let resourceValidUntil: number | undefined;
  const svcLen = service.length;
  const resLen = resource === undefined ? -1 : resource.length;
  for (let i = 0; i < conditions.length; i++) {
    const c = conditions[i] as string;
    const eq = c.indexOf('=');
    if (eq <= 0) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `caveat without condition=value: ${JSON.stringify(c.slice(0, 64))}`);
    if (eq === 8 && c.startsWith(SERVICES_CONDITION)) {
      const parsed = parseServices(c.slice(eq + 1));
      if (parsed === undefined) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid services caveat ${JSON.stringify(c.slice(0, 128))}`);
      if (services !== undefined) {
        for (const s of parsed) {
          if (!services.some((p) => p.name === s.name && p.tier === s.tier)) {
            return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', `services caveat adds ${s.name}:${s.tier}`);
          }
        }
      }
      services = parsed;
      continue;
    }
    if (eq > svcLen && c.charCodeAt(svcLen) === 95 /* _ */ && c.startsWith(service)) {
      const suffixLen = eq - svcLen;
      if (suffixLen === CAPABILITIES_SUFFIX.length && c.startsWith(CAPABILITIES_SUFFIX, svcLen)) {
        const parsed = parseCapabilities(c.slice(eq + 1));
        if (parsed === undefined)
          return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid capabilities caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (caps !== undefined) {
          const prev = caps;
          for (const cap of parsed)
            if (!prev.includes(cap)) return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', `capabilities caveat adds ${cap}`);
        }
        caps = parsed;
        continue;
      }
      if (suffixLen === VALID_UNTIL_SUFFIX.length && c.startsWith(VALID_UNTIL_SUFFIX, svcLen)) {
        const parsed = parseUnixSeconds(c.slice(eq + 1));
        if (parsed === undefined) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid expiry caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (validUntil !== undefined && parsed > validUntil)
          return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', 'expiry caveat extends an earlier one');
        validUntil = parsed;
        continue;
      }
    }
    if (resource !== undefined && eq > resLen && c.charCodeAt(resLen) === 95 /* _ */ && c.startsWith(resource)) {
      const suffixLen = eq - resLen;
      if (suffixLen === CAPABILITIES_SUFFIX.length && c.startsWith(CAPABILITIES_SUFFIX, resLen)) {
        const parsed = parseCapabilities(c.slice(eq + 1));
        if (parsed === undefined)
          return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid capabilities caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (resourceCaps !== undefined) {
          const prev = resourceCaps;
          for (const cap of parsed)
            if (!prev.includes(cap)) return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', `capabilities caveat adds ${cap}`);
        }
        resourceCaps = parsed;
        continue;
      }
      if (suffixLen === VALID_UNTIL_SUFFIX.length && c.startsWith(VALID_UNTIL_SUFFIX, resLen)) {
        const parsed = parseUnixSeconds(c.slice(eq + 1));
        if (parsed === undefined) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid expiry caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (resourceValidUntil !== undefined && parsed > resourceValidUntil)
          return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', 'expiry caveat extends an earlier one');
        resourceValidUntil = parsed;
        continue;
      }
    }
    if (eq === 8 && c.startsWith(PREIMAGE_CONDITION)) {
      const value = c.slice(eq + 1);
      if (!isHex(value, 64)) return fail('L402_ERR_TOKEN_BAD_CAVEAT', 'preimage caveat must be 64 hex characters');
      const lower = value.toLowerCase();
      if (preimage !== undefined && preimage !== lower) return fail('L402_ERR_TOKEN_BAD_CAVEAT', 'two different preimage caveats');
      preimage = lower;
      continue;
    }
    if (satisfiers !== undefined && satisfiers.size > 0) {
      const cond = c.slice(0, eq);
      const sat = satisfiers.get(cond);
      if (sat !== undefined) {
        custom ??= new Map();
        context ??= resource === undefined ? { service, capability, now, tokenId } : { service, resource, capability, now, tokenId };
        const value = c.slice(eq + 1);
        const prev = custom.get(cond);
        if (prev !== undefined && sat.satisfyPrevious !== undefined && !sat.satisfyPrevious(prev, value, context)) {
          return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', `caveat ${cond} widens an earlier one`);
        }
        custom.set(cond, value);
      }
    }
  }
  if (services !== undefined) {
    const wanted = resource ?? service;
    let listed = false;
    for (const s of services) if (s.name === wanted) listed = true;
    if (!listed) {
      if (resource !== undefined) {
        // Bought for another path of this service (the reference's `<service>/<path>` names), or for something else.
        const prefix = `${service}/`;
        if (services.some((s) => s.name.startsWith(prefix)))
          return fail('L402_ERR_TOKEN_WRONG_RESOURCE', `token not valid for ${resource}`);
      }
      return fail('L402_ERR_TOKEN_WRONG_SERVICE', `token not valid for ${resource ?? `service ${service}`}`);
    }
  }
  let expiresAt = Infinity;
  if (validUntil !== undefined) {
    expiresAt = validUntil * 1000;
    if (now >= expiresAt) return fail('L402_ERR_TOKEN_EXPIRED', `token expired at ${validUntil}`);
  }
  if (resourceValidUntil !== undefined) {
    expiresAt = Math.min(expiresAt, resourceValidUntil * 1000);
    if (now >= resourceValidUntil * 1000) return fail('L402_ERR_TOKEN_EXPIRED', `token expired at ${resourceValidUntil}`);
  }
  if (capability !== undefined && caps !== undefined && !caps.includes(capability)) {
    return fail('L402_ERR_TOKEN_MISSING_CAPABILITY', `token lacks capability ${capability}`);
  }
  if (capability !== undefined && resourceCaps !== undefined && !resourceCaps.includes(capability)) {
    return fail('L402_ERR_TOKEN_MISSING_CAPABILITY', `token lacks capability ${capability}`);
  }
  if (custom !== undefined && context !== undefined) {
    for (const [cond, value] of custom) {
      const sat = satisfiers?.get(cond);
      if (sat !== undefined && !sat.satisfyFinal(value, context)) {
        return fail('L402_ERR_TOKEN_CAVEAT_UNSATISFIED', `caveat ${cond} not satisfied`);
      }
    }
  }
  return { ok: true, services, expiresAt, preimage };
}
