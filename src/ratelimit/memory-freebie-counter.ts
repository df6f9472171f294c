import { LRUCache } from 'lru-cache';
import { ConfigError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/types.js';
import { freebieOptionProblems, type FreebieCounter, type FreebieCounterOptions, type FreebieStats } from './freebie-counter.js';
import { maskIp } from './mask-ip.js';

/** Options of {@link MemoryFreebieCounter}. */
export interface MemoryFreebieCounterOptions extends FreebieCounterOptions {
  /**
   * Networks remembered, least recently used forgotten first; 100,000 by
   * default. A forgotten network gets its allowance again, the price of
   * bounded memory (the reference keeps every network forever).
   */
  maxNetworks?: number;
}

interface Entry {
  count: number;
  start: number;
}

/**
 * Freebie counts in process memory. Per instance: behind a load balancer each
 * instance grants its own allowance; use {@link RedisFreebieCounter} to share.
 *
 * @example
 * ```ts
 * const freebies = new MemoryFreebieCounter({ limit: 10, windowMs: 86_400_000 });
 * if (freebies.tryUse(clientAddress)) { ... forward without payment ... }
 * ```
 */
export class MemoryFreebieCounter implements FreebieCounter {
  /** Free requests per network. */
  readonly limit: number;
  private readonly windowMs: number | undefined;
  private readonly clock: Clock;
  private readonly entries: LRUCache<string, Entry>;
  private granted = 0;
  private exhausted = 0;
  private evicted = 0;

  /**
   * @param options - limit, window, bound and clock
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the limit or window is invalid
   */
  constructor(options: MemoryFreebieCounterOptions) {
    const problem = freebieOptionProblems(options);
    if (problem !== undefined) throw new ConfigError([{ path: 'auth', message: problem }]);
    this.limit = options.limit;
    this.windowMs = options.windowMs === 0 ? undefined : options.windowMs;
    this.clock = options.clock ?? systemClock;
    this.entries = new LRUCache({
      max: Math.max(1, Math.floor(options.maxNetworks ?? 100_000)),
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.evicted++;
      },
    });
  }

  /**
   * Uses one free request of `ip`'s network if any is left.
   * @param ip - the client address
   * @returns whether this request is free
   */
  tryUse(ip: string): boolean {
    if (this.limit === 0) return this.refuse();
    const key = maskIp(ip);
    const now = this.clock.now();
    let entry = this.entries.get(key);
    if (entry === undefined || (this.windowMs !== undefined && now - entry.start >= this.windowMs)) {
      entry = { count: 0, start: now };
      this.entries.set(key, entry);
    }
    if (entry.count >= this.limit) return this.refuse();
    entry.count++;
    this.granted++;
    return true;
  }

  /** @returns the counters so far */
  stats(): FreebieStats {
    return { granted: this.granted, exhausted: this.exhausted, evictions: this.evicted, storeErrors: 0 };
  }

  /** Forgets every count. */
  async close(): Promise<void> {
    this.entries.clear();
  }

  private refuse(): false {
    this.exhausted++;
    return false;
  }
}
