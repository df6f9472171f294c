import type { Redis } from 'ioredis';
import type { CompiledRateLimitRule } from './rate-limit-rules.js';
import type { RateLimitStore } from './rate-limit-store.js';
import {
  closeRedis,
  openRedis,
  redisReady,
  storeUnavailable,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisHandle,
} from './redis-connection.js';
import { ALLOWED, type TakeResult } from './token-bucket.js';

/** Options of {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key; `aperture:rl:` by default. Give each deployment (or test run) its own. */
  keyPrefix?: string;
  /**
   * Extra lifetime of an idle bucket beyond the time it needs to refill
   * completely, in ms; 1000 by default. A bucket that is full again carries no
   * information, so Redis may forget it; the slack keeps it a little longer so
   * that small clock differences between instances never matter.
   */
  idleSlackMs?: number;
}

// KEYS: one hash per matching rule. ARGV: now, slack, then requests/per/cap per key.
// Same arithmetic as MemoryRateLimitStore: units of 1/per token, one token = per units.
// Numbers are written with %.17g because Redis turns Lua numbers into strings with
// only 14 significant digits.
const TAKE_SCRIPT = `
local now = tonumber(ARGV[1])
local slack = tonumber(ARGV[2])
local units = {}
local lasts = {}
local wait = 0
for i = 1, #KEYS do
  local requests = tonumber(ARGV[3 * i])
  local per = tonumber(ARGV[3 * i + 1])
  local cap = tonumber(ARGV[3 * i + 2])
  local state = redis.call('HMGET', KEYS[i], 'u', 't')
  local u = tonumber(state[1])
  local t = tonumber(state[2])
  if u == nil or t == nil then
    u = cap
    t = now
  elseif now > t then
    u = math.min(cap, u + (now - t) * requests)
    t = now
  end
  if u > cap then u = cap end
  units[i] = u
  lasts[i] = t
  if u < per then
    local w = math.ceil((per - u) / requests)
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, wait} end
for i = 1, #KEYS do
  local requests = tonumber(ARGV[3 * i])
  local per = tonumber(ARGV[3 * i + 1])
  local cap = tonumber(ARGV[3 * i + 2])
  local u = units[i] - per
  redis.call('HSET', KEYS[i], 'u', string.format('%.17g', u), 't', string.format('%.17g', lasts[i]))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - u) / requests) + slack)
end
return {1, 0}
`;

const COMMAND = 'apertureRateLimitTake';

type TakeCommand = (numKeys: number, ...args: (string | number)[]) => Promise<[number, number]>;

/**
 * Token buckets in Redis, shared by every proxy instance using the same Redis
 * and key prefix. Each request is one round trip: a Lua script (sent once,
 * then called by SHA) refills and checks every matching bucket and charges
 * them all or none, atomically. Buckets carry a TTL, so idle clients vanish.
 *
 * The caller's clock is passed into the script, so buckets follow the proxy's
 * time (and tests can use a fake clock); instances should run NTP.
 *
 * The keys of one request share a hash tag (`{scope|client}`), so the script
 * also runs on Redis Cluster.
 *
 * Failures (Redis down, timeout) reject with `L402_ERR_RATELIMIT_STORE_UNAVAILABLE`
 * quickly: the client has no offline queue and a short command timeout.
 * {@link RateLimiter} turns that into allow or deny per its `onStoreError`.
 *
 * @example
 * ```ts
 * const store = new RedisRateLimitStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'myapp:rl:' });
 * const limiter = new RateLimiter({ service: 'api', rules, store });
 * ```
 */
export class RedisRateLimitStore implements RateLimitStore {
  /** Redis expires idle buckets itself; nothing is evicted. */
  readonly evictions = 0;
  private readonly handle: RedisHandle;
  private readonly prefix: string;
  private readonly slack: number;
  private readonly command: TakeCommand;

  /**
   * @param options - connection, key prefix and idle slack
   * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` when no client is given and ioredis is not installed
   */
  constructor(options: RedisRateLimitStoreOptions = {}) {
    this.handle = openRedis(options, 'RedisRateLimitStore');
    this.prefix = options.keyPrefix ?? 'aperture:rl:';
    this.slack = Math.max(0, Math.ceil(options.idleSlackMs ?? 1000));
    const client = this.handle.client as Redis & Record<string, unknown>;
    if (typeof client[COMMAND] !== 'function') client.defineCommand(COMMAND, { lua: TAKE_SCRIPT });
    this.command = (client[COMMAND] as TakeCommand).bind(client);
  }

  /** The ioredis client, e.g. for health checks (cast it to ioredis's `Redis` for its full type). */
  get redis(): RedisClient {
    return this.handle.client;
  }

  /**
   * Waits until the connection is ready, e.g. at start-up.
   * @param timeoutMs - how long to wait (default 2000)
   * @returns when connected
   * @throws L402Error `L402_ERR_RATELIMIT_STORE_UNAVAILABLE` when not ready in time
   */
  ready(timeoutMs = 2000): Promise<void> {
    return redisReady(this.handle.client, timeoutMs);
  }

  /**
   * Takes one token from each rule's bucket for `client`, or none; one round trip.
   * See {@link RateLimitStore.take}.
   * @param scope - the service name
   * @param client - the client key
   * @param rules - the matching rules
   * @param now - current time in ms
   * @returns the outcome
   * @throws L402Error `L402_ERR_RATELIMIT_STORE_UNAVAILABLE` (as a rejection) when Redis does not answer
   */
  async take(scope: string, client: string, rules: readonly CompiledRateLimitRule[], now: number): Promise<TakeResult> {
    const args: (string | number)[] = [];
    const base = `${this.prefix}{${scope}|${client}}:`;
    for (const rule of rules) args.push(base + rule.id);
    args.push(now, this.slack);
    for (const rule of rules) args.push(rule.requests, rule.per, rule.burst * rule.per);
    let reply: [number, number];
    try {
      reply = await this.command(rules.length, ...args);
    } catch (error) {
      throw storeUnavailable('rate limit check', error);
    }
    return reply[0] === 1 ? ALLOWED : { allowed: false, retryAfterMs: Number(reply[1]) };
  }

  /** Closes the connection if the store opened it. */
  close(): Promise<void> {
    return closeRedis(this.handle);
  }
}
