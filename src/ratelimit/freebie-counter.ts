import type { Clock, MaybePromise } from '../core/types.js';

/**
 * Counts free requests per client network for `auth: freebie N`: each masked
 * client address (IPv4 /24, IPv6 /48) gets `limit` requests without payment.
 *
 * Implementations: {@link MemoryFreebieCounter}, {@link RedisFreebieCounter}.
 */
export interface FreebieCounter {
  /** Free requests per network (per window, when there is one). */
  readonly limit: number;
  /**
   * Uses one free request of `ip`'s network if any is left. Atomic: two
   * concurrent calls never both get the last one.
   *
   * @param ip - the client address (it is masked here)
   * @returns `true` when the request is free; `false` when the allowance is used up (or the store failed, see `onStoreError`)
   */
  tryUse(ip: string): MaybePromise<boolean>;
  /** Counters so far, plain numbers. */
  stats(): FreebieStats;
  /** Releases connections the counter opened itself. */
  close(): Promise<void>;
}

/** Counters of a {@link FreebieCounter}. */
export interface FreebieStats {
  /** Free requests granted. */
  granted: number;
  /** Requests refused because the allowance was used up. */
  exhausted: number;
  /** Networks forgotten to stay within `maxNetworks` (memory) — each starts over. */
  evictions: number;
  /** Store failures (Redis). */
  storeErrors: number;
}

/** Options shared by the freebie counters. */
export interface FreebieCounterOptions {
  /** Free requests per network, a non-negative integer (`freebie N`). */
  limit: number;
  /**
   * Window in ms after which a network's count starts over, measured from its
   * first free request. Absent or 0: counts never reset, as the reference (where
   * they are also lost on restart; with Redis they persist).
   */
  windowMs?: number;
  /** Time source; the wall clock by default. */
  clock?: Clock;
}

/** Validates the shared options. @internal */
export function freebieOptionProblems(options: FreebieCounterOptions): string | undefined {
  if (!Number.isInteger(options.limit) || options.limit < 0) return `freebie limit must be a non-negative integer, got ${options.limit}`;
  if (options.windowMs !== undefined && !(Number.isFinite(options.windowMs) && options.windowMs >= 0)) {
    return `freebie window must be a non-negative number of ms (0 = never reset), got ${options.windowMs}`;
  }
  return undefined;
}
