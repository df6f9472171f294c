/**
 * Turns one service's configuration into a running service of the program:
 * its rate limiter, freebie counter and pricer, on the rate-limit store the
 * configuration names (memory per process, or one Redis shared by every
 * service and instance). Called once per service at start and again for every
 * service defined or changed while the program runs.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/types.js';
import type { FreebieCounter } from '../ratelimit/freebie-counter.js';
import { MemoryFreebieCounter } from '../ratelimit/memory-freebie-counter.js';
import { MemoryRateLimitStore } from '../ratelimit/memory-rate-limit-store.js';
import type { CompiledRateLimitRule } from '../ratelimit/rate-limit-rules.js';
import { RateLimiter } from '../ratelimit/rate-limiter.js';
import { RedisFreebieCounter } from '../ratelimit/redis-freebie-counter.js';
import { RedisRateLimitStore } from '../ratelimit/redis-rate-limit-store.js';
import type { RateLimitStoreConfig, ServiceConfig } from '../proxy/config/aperture-config.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';
import { GrpcPricer } from '../proxy/pricer/grpc-pricer.js';
import type { AppService } from './app-service.js';

/** A token-bucket setting: `requests` per `perMs`, capacity `burst` (default `requests`). */
export interface BucketSetting {
  requests: number;
  perMs: number;
  burst?: number;
}

/** A service built by {@link ServiceBuilder.build}, with what releases its parts. */
export interface BuiltService {
  /** The running service. */
  readonly service: AppService;
  /** Closes its freebie counter and pricer and stops exporting their metrics. */
  close(): Promise<void>;
}

/** Options of {@link ServiceBuilder.open}. */
export interface ServiceBuilderOptions {
  /** `ratelimitstore`. */
  rateLimitStore: RateLimitStoreConfig;
  /** Prefix of every Redis key (`<prefix>rl:`, `<prefix>freebie:`); default `aperture:`. */
  redisKeyPrefix?: string | undefined;
  /** Time of rate limits and freebies. */
  clock: Clock;
  /** Limiters and freebie counters are exported here. */
  metrics: ProxyMetrics;
  /** Store errors of limiters and counters (`PRXY`). */
  proxyLog: Logger;
  /** Start-up notes (`APER`). */
  logger: Logger;
}

/** The rules of a service's `ratelimits`, in order. */
function compiledRules(config: ServiceConfig): CompiledRateLimitRule[] {
  return config.rateLimits.map((rule, index) => ({
    index,
    id: `${index}:${rule.requests}/${rule.perMs}/${rule.burst}`,
    pattern: rule.pathRegexp?.regexp,
    requests: rule.requests,
    per: rule.perMs,
    burst: rule.burst,
  }));
}

/** One rule of a single bucket. */
function bucketRule(bucket: BucketSetting): CompiledRateLimitRule[] {
  return [
    {
      index: 0,
      id: `0:${bucket.requests}/${bucket.perMs}/${bucket.burst ?? bucket.requests}`,
      pattern: undefined,
      requests: bucket.requests,
      per: bucket.perMs,
      burst: bucket.burst ?? bucket.requests,
    },
  ];
}

/**
 * Whether two services have the same definition (every validated field; the
 * entry's spelling aside). A service whose definition did not change keeps its
 * running parts, and with them its limiter and freebie state.
 * @param a - a service
 * @param b - another
 * @returns whether they are the same definition
 */
export function sameDefinition(a: ServiceConfig, b: ServiceConfig): boolean {
  return definitionKey(a) === definitionKey(b);
}

function definitionKey(config: ServiceConfig): string {
  const { entry: _entry, ...rest } = config;
  return JSON.stringify(rest, (_key, value: unknown) => (value instanceof RegExp ? `/${value.source}/${value.flags}` : value));
}

/**
 * Builds running services (and the challenge limiters) on the configured
 * rate-limit store.
 */
export class ServiceBuilder {
  readonly #o: ServiceBuilderOptions;
  readonly #redis: RedisRateLimitStore | undefined;

  private constructor(options: ServiceBuilderOptions, redis: RedisRateLimitStore | undefined) {
    this.#o = options;
    this.#redis = redis;
  }

  /**
   * Opens the rate-limit store (Redis, when configured: waits briefly for its
   * connection, so that the first requests are not answered per
   * `onstoreerror`).
   * @param options - store settings, clock, metrics, logs
   * @returns the builder; {@link ServiceBuilder.close} closes the store
   */
  static async open(options: ServiceBuilderOptions): Promise<ServiceBuilder> {
    const rl = options.rateLimitStore;
    if (rl.backend !== 'redis') return new ServiceBuilder(options, undefined);
    const redis = new RedisRateLimitStore({
      url: rl.redisUrl as string,
      keyPrefix: `${options.redisKeyPrefix ?? 'aperture:'}rl:`,
      onConnectionError: (e) => options.proxyLog.warn({ err: e.message }, 'redis rate-limit store'),
    });
    // Without an offline queue, commands sent before the connection is up fail: wait for it.
    try {
      await redis.ready();
    } catch (error) {
      options.logger.warn(
        { err: (error as Error).message, onstoreerror: rl.onStoreError },
        'Redis not reachable at start; rate limits follow onstoreerror until it is',
      );
    }
    return new ServiceBuilder(options, redis);
  }

  /**
   * A limiter of one bucket on the configured store, e.g. the challenge limits.
   * With Redis, it holds per process while Redis is down (`onstoreerror:
   * allow`): an outage must not let anyone mint unlimited invoices.
   * @param name - the limiter's service label
   * @param bucket - the bucket
   * @returns the limiter (exported in metrics under `name`)
   */
  bucketLimiter(name: string, bucket: BucketSetting): RateLimiter {
    const limiter = this.#limiter(name, bucketRule(bucket), true);
    this.#o.metrics.trackRateLimiter(name, limiter);
    return limiter;
  }

  #limiter(service: string, rules: CompiledRateLimitRule[], localFallback: boolean): RateLimiter {
    const rl = this.#o.rateLimitStore;
    return new RateLimiter({
      service,
      rules,
      ...(this.#redis === undefined ? {} : { store: this.#redis }),
      ...(this.#redis !== undefined && localFallback ? { fallbackStore: new MemoryRateLimitStore() } : {}),
      clock: this.#o.clock,
      onStoreError: rl.onStoreError,
      onError: (e) => this.#o.proxyLog.warn({ service, code: e.code }, e.message),
    });
  }

  /**
   * Builds one service: limiter of its `ratelimits`, freebie counter for
   * `auth: freebie N`, pricer for `dynamicprice`.
   * @param s - the validated service
   * @returns the service and what closes its parts
   * @throws L402Error `L402_ERR_PRICER_TLS` when the pricer's certificate cannot be read
   */
  build(s: ServiceConfig): BuiltService {
    const { clock, metrics, proxyLog } = this.#o;
    const closers: (() => Promise<void> | void)[] = [];
    try {
      let freebies: FreebieCounter | undefined;
      if (s.auth.mode === 'freebie') {
        const base = { limit: s.auth.count, windowMs: s.freebieWindowMs, clock };
        const counter: FreebieCounter =
          this.#redis !== undefined
            ? new RedisFreebieCounter({
                ...base,
                // One connection for every counter and the rate limits; the rate-limit store closes it.
                redis: this.#redis.redis,
                keyPrefix: `${this.#o.redisKeyPrefix ?? 'aperture:'}freebie:`,
                onError: (e) => proxyLog.warn({ service: s.name, code: e.code }, e.message),
              })
            : new MemoryFreebieCounter(base);
        freebies = counter;
        closers.push(metrics.trackFreebies(s.name, counter), () => counter.close());
      }
      let pricer: GrpcPricer | undefined;
      if (s.dynamicPrice.enabled) {
        const p = new GrpcPricer({
          address: s.dynamicPrice.grpcAddress,
          insecure: s.dynamicPrice.insecure,
          ...(s.dynamicPrice.tlsCertPath === undefined ? {} : { tlsCertPath: s.dynamicPrice.tlsCertPath }),
        });
        pricer = p;
        closers.push(() => p.close());
      }
      const rules = compiledRules(s);
      const limiter = rules.length > 0 ? this.#limiter(s.name, rules, false) : undefined;
      if (limiter !== undefined) closers.push(metrics.trackRateLimiter(s.name, limiter));
      const service: AppService = {
        name: s.name,
        hostRegexp: s.hostRegexp.regexp,
        pathRegexp: s.pathRegexp?.regexp,
        address: s.address,
        protocol: s.protocol,
        tlsCertPath: s.tlsCertPath,
        tlsInsecureSkipVerify: s.tlsInsecureSkipVerify,
        headers: s.headers,
        rewritePrefix: s.rewritePrefix,
        upstreamTimeoutMs: s.upstreamTimeoutMs,
        config: s,
        limiter,
        freebies,
        pricer,
      };
      return { service, close: () => closeAll(closers) };
    } catch (error) {
      void closeAll(closers);
      throw error;
    }
  }

  /** Closes the Redis connection, when there is one. */
  async close(): Promise<void> {
    await this.#redis?.close();
  }
}

async function closeAll(closers: (() => Promise<void> | void)[]): Promise<void> {
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch {
      // one part failing to close does not keep the others open
    }
  }
}
