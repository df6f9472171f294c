import type { Redis } from 'ioredis';
import { ConfigError, type L402Error } from '../core/errors.js';
import { systemClock, type Clock } from '../core/types.js';
import { freebieOptionProblems, type FreebieCounter, type FreebieCounterOptions, type FreebieStats } from './freebie-counter.js';
import { maskIp } from './mask-ip.js';
import {
  closeRedis,
  openRedis,
  redisReady,
  storeUnavailable,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisHandle,
} from './redis-connection.js';
import type { StoreErrorPolicy } from './rate-limiter.js';

/** Options of {@link RedisFreebieCounter}. */
export interface RedisFreebieCounterOptions extends FreebieCounterOptions, RedisConnectionOptions {
  /** Prefix of every key; `aperture:freebie:` by default. */
  keyPrefix?: string;
  /**
   * When Redis fails: `deny` (default) grants no freebie, so the client gets
   * the normal payment challenge; `allow` grants it.
   */
  onStoreError?: StoreErrorPolicy;
  /** Told about each store failure; failures are also counted. */
  onError?: (error: L402Error) => void;
}

// KEYS[1]: the network's hash. ARGV: now, limit, window (0 = never resets), slack.
// The window starts at the first free request; the clock comes from the caller.
const USE_SCRIPT = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'c', 't')
local c = tonumber(state[1])
local t = tonumber(state[2])
if c == nil or t == nil or (window > 0 and now - t >= window) then
  c = 0
  t = now
end
if c >= limit then return 0 end
redis.call('HSET', KEYS[1], 'c', c + 1, 't', string.format('%.17g', t))
if window > 0 then
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(t + window - now)) + tonumber(ARGV[4]))
end
return 1
`;

const COMMAND = 'apertureFreebieUse';

type UseCommand = (key: string, now: number, limit: number, window: number, slack: number) => Promise<number>;

/**
 * Freebie counts in Redis, shared by every instance using the same Redis and
 * prefix; one atomic Lua call per request. With a window, keys expire after
 * it; without one they persist (unlike the reference, which forgets on restart).
 *
 * Never throws from {@link tryUse}: a failure answers per `onStoreError`.
 */
export class RedisFreebieCounter implements FreebieCounter {
  /** Free requests per network. */
  readonly limit: number;
  private readonly windowMs: number;
  private readonly clock: Clock;
  private readonly handle: RedisHandle;
  private readonly prefix: string;
  private readonly policy: StoreErrorPolicy;
  private readonly onError: ((error: L402Error) => void) | undefined;
  private readonly command: UseCommand;
  private granted = 0;
  private exhausted = 0;
  private storeErrors = 0;

  /**
   * @param options - limit, window, connection, prefix and failure policy
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the limit or window is invalid;
   *   L402Error `L402_ERR_DEPENDENCY_MISSING` when no client is given and ioredis is not installed
   */
  constructor(options: RedisFreebieCounterOptions) {
    const problem = freebieOptionProblems(options);
    if (problem !== undefined) throw new ConfigError([{ path: 'auth', message: problem }]);
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 0;
    this.clock = options.clock ?? systemClock;
    this.handle = openRedis(options, 'RedisFreebieCounter');
    this.prefix = options.keyPrefix ?? 'aperture:freebie:';
    this.policy = options.onStoreError ?? 'deny';
    this.onError = options.onError;
    const client = this.handle.client as Redis & Record<string, unknown>;
    if (typeof client[COMMAND] !== 'function') client.defineCommand(COMMAND, { lua: USE_SCRIPT, numberOfKeys: 1 });
    this.command = (client[COMMAND] as UseCommand).bind(client);
  }

  /** The ioredis client, e.g. for health checks (cast it to ioredis's `Redis` for its full type). */
  get redis(): RedisClient {
    return this.handle.client;
  }

  /**
   * Waits until the connection is ready.
   * @param timeoutMs - how long to wait (default 2000)
   * @returns when connected
   * @throws L402Error `L402_ERR_RATELIMIT_STORE_UNAVAILABLE` when not ready in time
   */
  ready(timeoutMs = 2000): Promise<void> {
    return redisReady(this.handle.client, timeoutMs);
  }

  /**
   * Uses one free request of `ip`'s network if any is left; one round trip.
   * @param ip - the client address
   * @returns whether this request is free; never rejects
   */
  async tryUse(ip: string): Promise<boolean> {
    if (this.limit === 0) {
      this.exhausted++;
      return false;
    }
    try {
      const granted = (await this.command(this.prefix + maskIp(ip), this.clock.now(), this.limit, this.windowMs, 1000)) === 1;
      if (granted) this.granted++;
      else this.exhausted++;
      return granted;
    } catch (error) {
      this.storeErrors++;
      try {
        this.onError?.(storeUnavailable('freebie count', error));
      } catch {
        // A failing logger must not turn a store outage into a crash.
      }
      return this.policy === 'allow';
    }
  }

  /** @returns the counters so far */
  stats(): FreebieStats {
    return { granted: this.granted, exhausted: this.exhausted, evictions: 0, storeErrors: this.storeErrors };
  }

  /** Closes the connection if the counter opened it. */
  close(): Promise<void> {
    return closeRedis(this.handle);
  }
}
