/**
 * L402 first-party caveats: builders for the conditions the Minter adds, and the
 * checks the Verifier runs (PROTOCOL §1). A caveat is UTF-8 `condition=value`,
 * split on the first `=`. Unknown conditions are skipped. A repeated condition
 * may only narrow what the earlier one allowed, and the last one is checked.
 */
import { L402Error } from './errors.js';
import { isHex } from './bytes.js';
import type { ServiceTier } from './types.js';

/** What a custom {@link Satisfier} sees about the request and the token. */
export interface SatisfierContext {
  /** The service the request is for. */
  service: string;
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
  | { ok: false; code: string; reason: string };

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

function fail(code: string, reason: string): CaveatCheckResult {
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
 * @returns `ok` with the effective services, or the failure code:
 *   `L402_ERR_TOKEN_BAD_CAVEAT`, `L402_ERR_TOKEN_CAVEAT_WIDENED`, `L402_ERR_TOKEN_WRONG_SERVICE`,
 *   `L402_ERR_TOKEN_EXPIRED`, `L402_ERR_TOKEN_MISSING_CAPABILITY`, `L402_ERR_TOKEN_CAVEAT_UNSATISFIED`
 */
export function checkCaveats(
  conditions: readonly string[],
  service: string,
  capability: string | undefined,
  now: number,
  satisfiers: ReadonlyMap<string, Satisfier> | undefined,
  tokenId: string,
): CaveatCheckResult {
  let services: ServiceTier[] | undefined;
  let caps: string[] | undefined;
  let validUntil: number | undefined;
  let preimage: string | undefined;
  let custom: Map<string, string> | undefined;
  let context: SatisfierContext | undefined;
  const svcLen = service.length;
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
        if (parsed === undefined) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid capabilities caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (caps !== undefined) {
          const prev = caps;
          for (const cap of parsed) if (!prev.includes(cap)) return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', `capabilities caveat adds ${cap}`);
        }
        caps = parsed;
        continue;
      }
      if (suffixLen === VALID_UNTIL_SUFFIX.length && c.startsWith(VALID_UNTIL_SUFFIX, svcLen)) {
        const parsed = parseUnixSeconds(c.slice(eq + 1));
        if (parsed === undefined) return fail('L402_ERR_TOKEN_BAD_CAVEAT', `invalid expiry caveat ${JSON.stringify(c.slice(0, 128))}`);
        if (validUntil !== undefined && parsed > validUntil) return fail('L402_ERR_TOKEN_CAVEAT_WIDENED', 'expiry caveat extends an earlier one');
        validUntil = parsed;
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
        context ??= { service, capability, now, tokenId };
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
    let listed = false;
    for (const s of services) if (s.name === service) listed = true;
    if (!listed) return fail('L402_ERR_TOKEN_WRONG_SERVICE', `token not valid for service ${service}`);
  }
  let expiresAt = Infinity;
  if (validUntil !== undefined) {
    expiresAt = validUntil * 1000;
    if (now >= expiresAt) return fail('L402_ERR_TOKEN_EXPIRED', `token expired at ${validUntil}`);
  }
  if (capability !== undefined && caps !== undefined && !caps.includes(capability)) {
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
