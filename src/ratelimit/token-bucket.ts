import { ConfigError, L402Error, type ConfigIssue } from '../core/errors.js';
import { systemClock, type Clock } from '../core/types.js';

/** Parameters of a token bucket, as in the reference's `ratelimits` entries. */
export interface TokenBucketOptions {
  /** Requests allowed per `per` milliseconds (the refill rate's numerator); a positive number. */
  requests: number;
  /** Length of the window in milliseconds; positive. */
  per: number;
  /** Capacity: how many requests may be made at once; at least 1. Defaults to `requests`. */
  burst?: number;
  /** Time source; the wall clock by default. */
  clock?: Clock;
}

/** The outcome of taking tokens. */
export interface TakeResult {
  /** Whether the tokens were taken. */
  readonly allowed: boolean;
  /**
   * When denied: milliseconds until enough tokens will be there (at least 1;
   * `Infinity` when more tokens were asked for than the bucket can ever hold).
   * 0 when allowed.
   */
  readonly retryAfterMs: number;
}

/** The one result every allowed take returns, so that the hot path allocates nothing. */
export const ALLOWED: TakeResult = Object.freeze({ allowed: true, retryAfterMs: 0 });

/**
 * A token bucket: `burst` tokens at most, refilled continuously at
 * `requests / per` tokens per millisecond, full at creation.
 *
 * The state is kept in "units" of `1 / per` token, so that with integer
 * parameters and an integer clock every step is exact integer arithmetic:
 * each elapsed millisecond adds `requests` units, a token costs `per` units,
 * and the capacity is `burst * per` units. The Redis store runs the same
 * arithmetic in Lua, so both stores give identical answers.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ requests: 5, per: 60_000 }); // 5 per minute, burst 5
 * const r = bucket.take();
 * if (!r.allowed) console.log(`retry in ${r.retryAfterMs} ms`);
 * ```
 */
export class TokenBucket {
  /** Requests per window. */
  readonly requests: number;
  /** Window length in milliseconds. */
  readonly per: number;
  /** Capacity in tokens. */
  readonly burst: number;
  private readonly clock: Clock;
  private units: number;
  private last: number;

  /**
   * @param options - rate, window, burst and clock
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when `requests` or `per` is not positive, or `burst` is below 1
   */
  constructor(options: TokenBucketOptions) {
    const issues = validateBucketParams(options, '');
    if (issues.length > 0) throw new ConfigError(issues);
    this.requests = options.requests;
    this.per = options.per;
    this.burst = options.burst ?? options.requests;
    this.clock = options.clock ?? systemClock;
    this.units = this.burst * this.per;
    this.last = this.clock.now();
  }

  /**
   * Takes `n` tokens if they are all there; takes nothing otherwise.
   *
   * @param n - tokens to take, a positive number (default 1)
   * @returns whether they were taken and, if not, how long until they will be there
   * @throws L402Error `L402_ERR_RATELIMIT_INVALID_ARGUMENT` when `n` is not a positive finite number
   */
  take(n = 1): TakeResult {
    if (!(n > 0) || !Number.isFinite(n)) {
      throw new L402Error('L402_ERR_RATELIMIT_INVALID_ARGUMENT', `token count must be a positive finite number, got ${n}`);
    }
    this.refill();
    const cost = n * this.per;
    if (this.units >= cost) {
      this.units -= cost;
      return ALLOWED;
    }
    if (n > this.burst) return { allowed: false, retryAfterMs: Infinity };
    return { allowed: false, retryAfterMs: Math.ceil((cost - this.units) / this.requests) };
  }

  /**
   * Tokens available now (fractional while refilling).
   * @returns the current token count, between 0 and `burst`
   */
  tokens(): number {
    this.refill();
    return this.units / this.per;
  }

  private refill(): void {
    const now = this.clock.now();
    // A clock that steps back adds nothing and does not move `last` back.
    if (now > this.last) {
      this.units = Math.min(this.burst * this.per, this.units + (now - this.last) * this.requests);
      this.last = now;
    }
  }
}

/**
 * Checks token-bucket parameters as they come from a configuration.
 *
 * @param raw - an object with `requests`, `per` (ms) and optional `burst`
 * @param path - prefix for issue paths, e.g. `services[0].ratelimits[1]` (`''` for none)
 * @returns one issue per bad parameter, empty when valid
 * @internal
 */
export function validateBucketParams(raw: { requests?: unknown; per?: unknown; burst?: unknown }, path: string): ConfigIssue[] {
  const at = (key: string) => (path === '' ? key : `${path}.${key}`);
  const issues: ConfigIssue[] = [];
  if (!isPositive(raw.requests)) issues.push({ path: at('requests'), message: 'must be a positive number of requests' });
  if (!isPositive(raw.per)) issues.push({ path: at('per'), message: 'must be a positive duration (e.g. 1s, 1m, or milliseconds)' });
  if (raw.burst !== undefined && !(typeof raw.burst === 'number' && Number.isFinite(raw.burst) && raw.burst >= 1)) {
    issues.push({ path: at('burst'), message: 'must be at least 1 when given (it defaults to requests)' });
  }
  return issues;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}
