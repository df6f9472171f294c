import type { MaybePromise } from '../core/types.js';
import type { CompiledRateLimitRule } from './rate-limit-rules.js';
import type { TakeResult } from './token-bucket.js';

/**
 * Where token buckets live. One call is one request: every bucket named by
 * `rules` for this client is refilled; if each holds a token, one is taken
 * from each; if any is short, nothing is taken anywhere. Implementations must
 * make that all-or-nothing step atomic with respect to other callers
 * (in-process for memory, one Lua script for Redis).
 *
 * Implementations: {@link MemoryRateLimitStore} (default), {@link RedisRateLimitStore}.
 */
export interface RateLimitStore {
  /**
   * Takes one token from each rule's bucket for `client`, or none.
   *
   * @param scope - separates services sharing a store (the service name)
   * @param client - the client key, e.g. `token:<id>` or a masked IP
   * @param rules - the rules that match this request, non-empty
   * @param now - the current time in ms (from the limiter's clock, so that tests are deterministic)
   * @returns allowed, or denied with the wait until every denying bucket has a token
   * @throws L402Error `L402_ERR_RATELIMIT_STORE_UNAVAILABLE` (or rejects with it) when the store cannot answer
   */
  take(scope: string, client: string, rules: readonly CompiledRateLimitRule[], now: number): MaybePromise<TakeResult>;
  /** Client entries dropped to stay within bounds so far (memory store); stores that expire by TTL report 0. */
  readonly evictions: number;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}
