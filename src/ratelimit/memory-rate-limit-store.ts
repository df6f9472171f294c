import { LRUCache } from 'lru-cache';
import type { CompiledRateLimitRule } from './rate-limit-rules.js';
import type { RateLimitStore } from './rate-limit-store.js';
import { ALLOWED, type TakeResult } from './token-bucket.js';

/** Options of {@link MemoryRateLimitStore}. */
export interface MemoryRateLimitStoreOptions {
  /**
   * Clients remembered per scope (service), least recently used dropped first;
   * 10,000 by default, as the reference. A dropped client comes back with full buckets.
   */
  maxClients?: number;
}

/**
 * Token buckets in process memory: one bounded LRU of clients per scope, each
 * client holding the state of every rule's bucket in one `Float64Array`
 * (units, last refill time per rule). Synchronous, allocation-free when the
 * request is allowed.
 *
 * Counts are per process: behind a load balancer with N instances a client
 * gets up to N times the configured rate. Use {@link RedisRateLimitStore} to share.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly maxClients: number;
  private readonly scopes = new Map<string, LRUCache<string, Float64Array>>();
  private dropped = 0;
  private scratch = new Float64Array(8);

  /**
   * @param options - bounds
   */
  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.maxClients = Math.max(1, Math.floor(options.maxClients ?? 10_000));
  }

  /** Client entries dropped by the LRU bound so far, across scopes. */
  get evictions(): number {
    return this.dropped;
  }

  /**
   * Takes one token from each rule's bucket for `client`, or none. See {@link RateLimitStore.take}.
   * @param scope - the service name
   * @param client - the client key
   * @param rules - the matching rules
   * @param now - current time in ms
   * @returns the outcome (one shared frozen object when allowed)
   */
  take(scope: string, client: string, rules: readonly CompiledRateLimitRule[], now: number): TakeResult {
    const cache = this.scopes.get(scope) ?? this.newScope(scope);
    let state = cache.get(client);
    const slots = 2 * ((rules[rules.length - 1]?.index ?? 0) + 1);
    if (state === undefined || state.length < slots) {
      const grown = new Float64Array(Math.max(slots, state?.length ?? 0)).fill(NaN);
      if (state !== undefined) grown.set(state);
      state = grown;
      cache.set(client, state);
    }
    if (this.scratch.length < rules.length) this.scratch = new Float64Array(rules.length * 2);
    const units = this.scratch;
    // Phase 1: refill each bucket into scratch and find the longest wait; nothing is written yet.
    let wait = 0;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as CompiledRateLimitRule;
      const slot = 2 * rule.index;
      const cap = rule.burst * rule.per;
      let u = state[slot] as number;
      const last = state[slot + 1] as number;
      if (Number.isNaN(u))
        u = cap; // never used: full, as a fresh bucket is
      else if (now > last) u = Math.min(cap, u + (now - last) * rule.requests);
      if (u > cap) u = cap;
      units[i] = u;
      if (u < rule.per) {
        const w = Math.ceil((rule.per - u) / rule.requests);
        if (w > wait) wait = w;
      }
    }
    if (wait > 0) return { allowed: false, retryAfterMs: wait };
    // Phase 2: every bucket has a token; charge them all.
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as CompiledRateLimitRule;
      const slot = 2 * rule.index;
      state[slot] = (units[i] as number) - rule.per;
      const last = state[slot + 1] as number;
      if (Number.isNaN(last) || now > last) state[slot + 1] = now;
    }
    return ALLOWED;
  }

  /** Forgets every bucket. */
  async close(): Promise<void> {
    this.scopes.clear();
  }

  private newScope(scope: string): LRUCache<string, Float64Array> {
    const cache = new LRUCache<string, Float64Array>({
      max: this.maxClients,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.dropped++;
      },
    });
    this.scopes.set(scope, cache);
    return cache;
  }
}
