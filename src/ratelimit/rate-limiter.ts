import { L402Error } from '../core/errors.js';
import { systemClock, type Clock, type MaybePromise } from '../core/types.js';
import { maskIp } from './mask-ip.js';
import { MemoryRateLimitStore } from './memory-rate-limit-store.js';
import { compileRateLimitRules, type CompiledRateLimitRule } from './rate-limit-rules.js';
import type { RateLimitStore } from './rate-limit-store.js';
import { ALLOWED } from './token-bucket.js';

/** What to do with a request when the bucket store cannot answer. */
export type StoreErrorPolicy = 'allow' | 'deny';

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** The service name; separates services that share a store. */
  service: string;
  /** The service's `ratelimits` list, raw (validated and compiled here) or compiled. */
  rules: unknown;
  /** Path of the rules in the configuration, for error messages; `ratelimits` by default. */
  configPath?: string;
  /** Where buckets live; a fresh {@link MemoryRateLimitStore} of `maxClients` by default. */
  store?: RateLimitStore;
  /** Clients remembered by the default memory store; 10,000 by default. Ignored with `store`. */
  maxClients?: number;
  /** Time source; the wall clock by default. */
  clock?: Clock;
  /**
   * When the store fails (Redis down or slow): `allow` (default) lets the
   * request through, so that a Redis outage does not take the API down
   * (or, with `fallbackStore`, limits it by that store instead);
   * `deny` answers 429, so that limits hold even then.
   */
  onStoreError?: StoreErrorPolicy;
  /**
   * With `onStoreError: 'allow'`: where buckets are taken while `store` fails,
   * typically a {@link MemoryRateLimitStore}, so that a Redis outage falls back to
   * per-process limits instead of none. The `aperture` program gives its challenge
   * limits one (an outage must not let anyone mint unlimited invoices).
   */
  fallbackStore?: RateLimitStore;
  /** Told about each store failure (e.g. log it); failures are also counted in `storeErrors`. */
  onError?: (error: L402Error) => void;
  /** `Retry-After` to suggest when denying because of a store failure, in ms; 1000 by default. */
  storeErrorRetryAfterMs?: number;
}

/** The outcome of a rate-limit check. */
export interface RateLimitResult {
  /** Whether the request may proceed. */
  readonly allowed: boolean;
  /** When denied: ms until a retry can succeed (at least 1); 0 when allowed. */
  readonly retryAfterMs: number;
  /** Set when the store failed and the result comes from `onStoreError`. */
  readonly storeError?: true;
}

/** Counters of a limiter, plain numbers for the proxy to export (e.g. to Prometheus). */
export interface RateLimiterStats {
  /** Checks that let the request through (including when no rule matched). */
  allowed: number;
  /** Checks that denied it. */
  denied: number;
  /** Clients dropped by the memory store's LRU bound. */
  evictions: number;
  /** Checks where the store failed (answered per `onStoreError`). */
  storeErrors: number;
}

const ALLOWED_ON_ERROR: RateLimitResult = Object.freeze({ allowed: true, retryAfterMs: 0, storeError: true });

/**
 * Rate limiting for one service, with the reference's semantics: every rule
 * whose `pathregexp` matches the path (or that has none) is evaluated, each a
 * token bucket per client; the request passes only if all allow, and when any
 * denies none is charged.
 *
 * The caller picks the client key: {@link tokenRateLimitKey} after successful
 * L402 authentication, {@link ipRateLimitKey} (the masked client IP) otherwise.
 *
 * With the memory store the check is synchronous; with Redis it returns a promise.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ service: 'api', rules: [{ requests: 100, per: '1s' }] });
 * const r = await limiter.check(ipRateLimitKey(clientAddress), '/v1/quote');
 * if (!r.allowed) return rateLimitedDecision(r); // 429 with Retry-After
 * ```
 */
export class RateLimiter {
  /** The service name. */
  readonly service: string;
  /** The compiled rules, in configuration order. */
  readonly rules: readonly CompiledRateLimitRule[];
  private readonly store: RateLimitStore;
  private readonly clock: Clock;
  private readonly policy: StoreErrorPolicy;
  private readonly fallback: RateLimitStore | undefined;
  private readonly onError: ((error: L402Error) => void) | undefined;
  private readonly deniedOnError: RateLimitResult;
  /** Rules without a path pattern: when every rule is one, matching allocates nothing. */
  private readonly everyPath: readonly CompiledRateLimitRule[] | undefined;
  private allowedCount = 0;
  private deniedCount = 0;
  private storeErrorCount = 0;

  /**
   * @param options - service, rules, store and failure policy
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the rules are invalid, with paths under `configPath`
   */
  constructor(options: RateLimiterOptions) {
    this.service = options.service;
    this.rules = isCompiled(options.rules) ? options.rules : compileRateLimitRules(options.rules, options.configPath ?? 'ratelimits');
    this.store = options.store ?? new MemoryRateLimitStore(options.maxClients === undefined ? {} : { maxClients: options.maxClients });
    this.clock = options.clock ?? systemClock;
    this.policy = options.onStoreError ?? 'allow';
    this.fallback = options.fallbackStore;
    this.onError = options.onError;
    this.deniedOnError = Object.freeze({
      allowed: false,
      retryAfterMs: Math.max(1, options.storeErrorRetryAfterMs ?? 1000),
      storeError: true,
    });
    this.everyPath = this.rules.every((r) => r.pattern === undefined) ? this.rules : undefined;
  }

  /**
   * Checks (and, when allowed, charges) one request.
   *
   * @param key - the client key (`token:<id>` or a masked IP)
   * @param path - the request path; a query string is ignored
   * @returns allowed, or denied with `retryAfterMs`; never rejects (store failures follow `onStoreError`)
   */
  check(key: string, path: string): MaybePromise<RateLimitResult> {
    const matching = this.everyPath ?? this.match(path);
    if (matching.length === 0) {
      this.allowedCount++;
      return ALLOWED;
    }
    let outcome: MaybePromise<RateLimitResult>;
    try {
      outcome = this.store.take(this.service, key, matching, this.clock.now());
    } catch (error) {
      return this.failed(error, key, matching);
    }
    if (outcome instanceof Promise)
      return outcome.then(
        (r) => this.record(r),
        (error: unknown) => this.failed(error, key, matching),
      );
    return this.record(outcome);
  }

  /**
   * The counters so far.
   * @returns a fresh snapshot
   */
  stats(): RateLimiterStats {
    return { allowed: this.allowedCount, denied: this.deniedCount, evictions: this.store.evictions, storeErrors: this.storeErrorCount };
  }

  private match(path: string): CompiledRateLimitRule[] {
    const q = path.indexOf('?');
    const p = q < 0 ? path : path.slice(0, q);
    const out: CompiledRateLimitRule[] = [];
    for (const rule of this.rules) if (rule.pattern === undefined || rule.pattern.test(p)) out.push(rule);
    return out;
  }

  private record(result: RateLimitResult): RateLimitResult {
    if (result.allowed) this.allowedCount++;
    else this.deniedCount++;
    return result;
  }

  private failed(error: unknown, key: string, matching: readonly CompiledRateLimitRule[]): MaybePromise<RateLimitResult> {
    this.storeErrorCount++;
    const coded =
      error instanceof L402Error
        ? error
        : new L402Error(
            'L402_ERR_RATELIMIT_STORE_UNAVAILABLE',
            `rate limit store failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    try {
      this.onError?.(coded);
    } catch {
      // A failing logger must not turn a store outage into a crash.
    }
    if (this.policy === 'deny') return this.record(this.deniedOnError);
    if (this.fallback === undefined) return this.record(ALLOWED_ON_ERROR);
    // The local limit's refusal is a plain 429 (the client is over it); its pass is still marked
    // as a store error. A failing fallback lets the request through, as without one.
    const local = (r: RateLimitResult): RateLimitResult =>
      this.record(r.allowed ? ALLOWED_ON_ERROR : { allowed: false, retryAfterMs: r.retryAfterMs });
    let outcome: MaybePromise<RateLimitResult>;
    try {
      outcome = this.fallback.take(this.service, key, matching, this.clock.now());
    } catch {
      return this.record(ALLOWED_ON_ERROR);
    }
    if (outcome instanceof Promise) return outcome.then(local, () => this.record(ALLOWED_ON_ERROR));
    return local(outcome);
  }
}

/**
 * The rate-limit key of an authenticated client: `token:<tokenId>`.
 * @param tokenId - the verified token's ID, lower-case hex
 * @returns the key
 */
export function tokenRateLimitKey(tokenId: string): string {
  return `token:${tokenId}`;
}

/**
 * The rate-limit key of an unauthenticated client: its masked address
 * (IPv4 /24, IPv6 /48), as the reference.
 * @param ip - the client address (see {@link clientIp})
 * @returns the key
 */
export function ipRateLimitKey(ip: string): string {
  return maskIp(ip);
}

/**
 * `Retry-After` in whole seconds: rounded up, at least 1.
 * @param retryAfterMs - the wait from a denied result
 * @returns seconds for the header
 */
export function retryAfterSeconds(retryAfterMs: number): number {
  if (!Number.isFinite(retryAfterMs)) return 1;
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

function isCompiled(rules: unknown): rules is readonly CompiledRateLimitRule[] {
  return Array.isArray(rules) && rules.length > 0 && rules.every((r) => typeof r === 'object' && r !== null && 'id' in r && 'index' in r);
}
