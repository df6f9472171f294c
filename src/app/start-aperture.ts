/**
 * The `aperture` program as one function: every part (store, Lightning
 * backend, Minter/Verifier, rate limits, freebies, pricers, proxy, listener,
 * metrics) built from a validated configuration and wired together.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { L402Error } from '../core/errors.js';
import { Minter } from '../core/minter.js';
import { systemClock, type Clock, type InvoiceStatus, type Invoicer } from '../core/types.js';
import { Verifier } from '../core/verifier.js';
import { equalitySatisfiers } from '../core/caveats.js';
import { BoundedCache } from '../core/bounded-cache.js';
import { DevInvoicer } from '../lightning/dev/dev-invoicer.js';
import { createDevPayHandler } from '../lightning/dev/dev-pay-handler.js';
import { LndInvoicer } from '../lightning/lnd/lnd-invoicer.js';
import { SettledInvoiceIndex } from '../lightning/settled-invoice-index.js';
import type { LightningNetwork } from '../lightning/network.js';
import { clientIp } from '../ratelimit/client-ip.js';
import type { FreebieCounter } from '../ratelimit/freebie-counter.js';
import { IpSet } from '../ratelimit/ip-set.js';
import { MemoryFreebieCounter } from '../ratelimit/memory-freebie-counter.js';
import { MemoryRateLimitStore } from '../ratelimit/memory-rate-limit-store.js';
import type { CompiledRateLimitRule } from '../ratelimit/rate-limit-rules.js';
import type { RateLimitStore } from '../ratelimit/rate-limit-store.js';
import { RateLimiter } from '../ratelimit/rate-limiter.js';
import { RedisFreebieCounter } from '../ratelimit/redis-freebie-counter.js';
import { RedisRateLimitStore } from '../ratelimit/redis-rate-limit-store.js';
import type { ApertureStore, GarbageReport, PendingCursor } from '../store/aperture-store.js';
import { openStore, type StoreConfig } from '../store/open-store.js';
import type { ApertureConfig, ServiceConfig } from '../proxy/config/aperture-config.js';
import { createLogger, subsystemLogger, type LogSettings } from '../proxy/ops/logger.js';
import { ProxyMetrics } from '../proxy/ops/metrics.js';
import { GrpcPricer } from '../proxy/pricer/grpc-pricer.js';
import { Proxy } from '../proxy/proxy.js';
import { ProxyServer } from '../proxy/server/proxy-server.js';
import type { TlsCertificateEvent } from '../proxy/server/tls-certificate.js';
import { ApertureHandler, type RequestNote } from './aperture-handler.js';
import type { AppService } from './app-service.js';
import { createAuthorize } from './create-authorize.js';
import { findOpenSecretFiles, formatMode, secretPaths } from './secret-file-modes.js';
import { missingPackagesError } from './required-packages.js';
import { mergePersistedServices } from './persisted-services.js';
import type { NodeRequest } from '../adapters/node/request-view.js';

/** A token-bucket setting: `requests` per `perMs`, capacity `burst` (default `requests`). */
export interface BucketSetting {
  requests: number;
  perMs: number;
  burst?: number;
}

/** Options of {@link startAperture}: what the configuration file does not say. */
export interface StartApertureOptions {
  /**
   * Logger; by default pino on standard output at the config's `debuglevel`
   * (with its subsystem levels) and `logging.console` settings. Each subsystem
   * (`APER`, `PRXY`, `AUTH`, `CHLL`) logs through a child of it.
   */
  logger?: Logger;
  /** Clock for token expiry, ledger times, rate limits, freebies and the TLS certificate's validity (tests). */
  clock?: Clock;
  /** Lightning backend to use instead of the configured one (embedding, tests). Not closed by `close()`. */
  invoicer?: Invoicer;
  /** Store to use instead of opening the configured one. Not closed by `close()`. */
  store?: ApertureStore;
  /** PostgreSQL schema for every table (created when missing); default the server's `search_path`. */
  postgresSchema?: string;
  /** How often unpaid, expired challenges are garbage-collected; default 15 min, 0 = never. */
  gcIntervalMs?: number;
  /** How long past its invoice expiry an unpaid challenge is kept; default 1 h. */
  gcGraceMs?: number;
  /**
   * Fresh challenges (each mints an invoice) per masked client IP, across all
   * services; default 20 per second with a burst of 100. `false` = unlimited,
   * as the reference.
   */
  challengeRateLimit?: BucketSetting | false;
  /** How long a verified credential is reused before its root key is read again; default 5000 ms. */
  verifierCacheTtlMs?: number;
  /** How long shutdown waits for in-flight requests; default 10 s. */
  drainTimeoutMs?: number;
  /** Also export Node process metrics (`aperture_process_…`); default true. */
  defaultMetrics?: boolean;
  /**
   * Prefix of every Redis key (rate limits under `<prefix>rl:`, freebies under
   * `<prefix>freebie:`) when `ratelimitstore.backend` is `redis`; default
   * `aperture:`. Deployments sharing one Redis for separate limits use different prefixes.
   */
  redisKeyPrefix?: string;
}

/** A running `aperture`. */
export interface RunningAperture {
  /** Base URL of the proxy listener, e.g. `https://127.0.0.1:8081`. */
  readonly url: string;
  /** Bound addresses: the proxy, and the metrics listener when Prometheus is enabled. */
  readonly addresses: { proxy: AddressInfo; metrics: AddressInfo | undefined };
  /** The configuration it runs. */
  readonly config: ApertureConfig;
  /** The store (root keys and ledger). */
  readonly store: ApertureStore;
  /** The Lightning backend; `undefined` when `authenticator.disable`. */
  readonly invoicer: Invoicer | undefined;
  /** The verifier (its cache is dropped for revoked tokens). */
  readonly verifier: Verifier;
  /** The metrics registry. */
  readonly metrics: ProxyMetrics;
  /** The logger. */
  readonly logger: Logger;
  /** The services, in route order: the configured ones (a service stored in the database under the same name in its place), then those only in the database, oldest first. */
  readonly services: readonly AppService[];
  /** Resolves with the number of pending ledger rows found settled by the start-up reconciliation. */
  readonly reconciled: Promise<number>;
  /** Requests in flight right now. */
  readonly activeRequests: number;
  /** Runs one garbage collection now (the timer does it every `gcIntervalMs`). */
  collectGarbage(): Promise<GarbageReport>;
  /** Stops accepting, drains in-flight requests, closes everything it opened. Idempotent. */
  close(): Promise<void>;
}

/** Default garbage-collection interval: 15 minutes. */
export const DEFAULT_GC_INTERVAL_MS = 15 * 60_000;
/** Default grace after invoice expiry before an unpaid challenge is collected: 1 hour. */
export const DEFAULT_GC_GRACE_MS = 60 * 60_000;
/** First delay before a settlement the store could not record is written again; doubles per attempt. */
const SETTLEMENT_RETRY_INITIAL_MS = 250;
/** Longest delay between attempts to record a settlement. */
const SETTLEMENT_RETRY_MAX_MS = 30_000;
/** Pending ledger rows read per page by the start-up reconciliation (it reads every page). */
const PENDING_PAGE_SIZE = 1000;
/** Default challenge rate per masked client IP. */
export const DEFAULT_CHALLENGE_RATE_LIMIT: BucketSetting = { requests: 20, perMs: 1000, burst: 100 };

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

function storeConfig(config: ApertureConfig, options: StartApertureOptions, clock: Clock): StoreConfig {
  if (config.dbBackend === 'postgres') {
    const p = config.postgres;
    const out: StoreConfig = {
      backend: 'postgres',
      host: p.host,
      port: p.port,
      user: p.user,
      password: p.password,
      dbname: p.dbName,
      requiressl: p.requireSsl,
      skipMigrations: p.skipMigrations,
      clock,
    };
    if (p.maxConnections > 0) out.maxconnections = p.maxConnections;
    if (options.postgresSchema !== undefined) out.schema = options.postgresSchema;
    return out;
  }
  if (config.dbBackend === 'etcd') {
    throw new L402Error('L402_ERR_CONFIG_INVALID', 'dbbackend etcd is not built; use sqlite or postgres');
  }
  return { backend: 'sqlite', path: config.sqlite.dbFile, skipMigrations: config.sqlite.skipMigrations, clock };
}

async function openInvoicer(config: ApertureConfig, logger: Logger, clock: Clock): Promise<Invoicer | undefined> {
  const a = config.authenticator;
  if (a.disable) return undefined;
  const network = a.network as LightningNetwork | undefined;
  if (a.backend === 'dev') {
    return new DevInvoicer({
      keyFile: join(config.baseDir, 'dev-node.key'),
      ...(network === undefined ? {} : { network: network as Exclude<LightningNetwork, 'mainnet'> }),
      clock,
      onWarning: (message) => logger.warn(message),
    });
  }
  if (a.lndHost === undefined || a.macDir === undefined || a.tlsPath === undefined) {
    throw new L402Error('L402_ERR_CONFIG_INVALID', 'authenticator: lndhost, tlspath and macdir are required for the lnd backend');
  }
  return LndInvoicer.connect({
    host: a.lndHost,
    tlsCertPath: a.tlsPath,
    // The reference reads the invoice macaroon by this file name from macdir.
    macaroonPath: join(a.macDir, 'invoice.macaroon'),
    ...(network === undefined ? {} : { network }),
    clock,
    onConnectionChange: (health) => {
      if (health.ok) logger.info({ lnd: a.lndHost }, 'lnd connection up');
      else logger.warn({ lnd: a.lndHost, detail: health.detail }, 'lnd connection lost; challenges answer 503 until it is back');
    },
  });
}

function listen(server: Server, addr: string): Promise<AddressInfo> {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  const m = v6 ?? /^([^:]*):(\d+)$/.exec(addr);
  if (m === null) return Promise.reject(new L402Error('L402_ERR_PROXY_LISTEN_FAILED', `listen address ${JSON.stringify(addr)} is not host:port`));
  server.listen({ host: m[1] === '' ? undefined : m[1], port: Number(m[2]) });
  return once(server, 'listening').then(
    () => server.address() as AddressInfo,
    (cause: unknown) => {
      const code = (cause as { code?: unknown }).code;
      throw new L402Error(
        code === 'EADDRINUSE' ? 'L402_ERR_PROXY_ADDRESS_IN_USE' : 'L402_ERR_PROXY_LISTEN_FAILED',
        `cannot listen on ${addr} (prometheus.listenaddr): ${code === 'EADDRINUSE' ? 'address already in use' : String(cause)}`,
        { cause },
      );
    },
  );
}

function urlOf(address: AddressInfo, tls: boolean): string {
  const unspecified = address.address === '0.0.0.0' || address.address === '::';
  const host = unspecified ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

function logCertificateEvent(logger: Logger, event: TlsCertificateEvent): void {
  if (event.kind === 'error') {
    logger.warn({ err: event.error, retryInMs: event.retryInMs }, `cannot read or renew the TLS certificate: ${event.error.message}`);
    return;
  }
  const c = event.certificate;
  const fields = { certPath: c.certPath, notAfter: new Date(c.notAfter).toISOString() };
  if (event.kind === 'created') logger.info(fields, 'TLS certificate created (self-signed)');
  else if (event.kind === 'renewed') {
    logger.info(
      { ...fields, ...(c.previousNotAfter === undefined ? {} : { previousNotAfter: new Date(c.previousNotAfter).toISOString() }) },
      'TLS certificate renewed (self-signed, past half of its validity)',
    );
  } else if (event.kind === 'reloaded') logger.info(fields, 'TLS certificate changed on disk; now served');
  else if (event.kind === 'expiring') {
    logger.warn(fields, `TLS certificate ${c.certPath} expires on ${fields.notAfter}; aperture did not create it and does not renew it: put a new tls.cert and tls.key in place and restart`);
  } else {
    logger.error(fields, `TLS certificate ${c.certPath} expired on ${fields.notAfter}; aperture did not create it and does not renew it: put a new tls.cert and tls.key in place and restart`);
  }
}

/** The logger settings a configuration asks for (`debuglevel`, `logging.console`). */
function logSettings(config: ApertureConfig): LogSettings {
  const c = config.logging.console;
  return {
    level: config.logLevel,
    subsystems: config.logSubsystems,
    ...(c.level === undefined ? {} : { consoleLevel: c.level }),
    disable: c.disable,
    noTimestamps: c.noTimestamps,
  };
}

function upstreamKind(code: string): string {
  if (code === 'L402_ERR_UPSTREAM_TIMEOUT') return 'timeout';
  if (code === 'L402_ERR_UPSTREAM_TLS') return 'tls';
  if (code === 'L402_ERR_UPSTREAM_UNREACHABLE') return 'unreachable';
  if (code === 'L402_ERR_UPSTREAM_FAILED') return 'failed';
  if (code === 'L402_ERR_UPSTREAM_BUSY') return 'busy';
  return 'other';
}

/**
 * Starts `aperture` from a validated configuration (see `loadConfig`): opens
 * the store, connects the Lightning backend, builds the request pipeline,
 * listens, and starts the background jobs (ledger reconciliation, garbage
 * collection).
 *
 * @param config - the configuration, from `loadConfig` or `checkConfig`
 * @param options - logger, clock, injected parts, intervals
 * @returns the running proxy; `close()` drains and stops it
 * @throws L402Error `L402_ERR_PROXY_ADDRESS_IN_USE` when a listen address is taken,
 *   `L402_ERR_STORE_UNAVAILABLE` when the database cannot be opened,
 *   `L402_ERR_LN_CONNECT_FAILED` (naming the host and the cause) when lnd cannot be reached at start,
 *   `L402_ERR_PROXY_TLS_CERT`, `L402_ERR_PRICER_TLS`, `L402_ERR_CONFIG_INVALID`,
 *   `L402_ERR_DEPENDENCY_MISSING` (before anything starts) naming every optional package the
 *   configuration needs and cannot find (better-sqlite3, pg, ioredis, the gRPC packages)
 * @example
 * ```ts
 * const { config } = loadConfig({ configFile: 'aperture.yaml' });
 * const aperture = await startAperture(config);
 * process.once('SIGTERM', () => void aperture.close());
 * ```
 */
export async function startAperture(config: ApertureConfig, options: StartApertureOptions = {}): Promise<RunningAperture> {
  const missing = missingPackagesError(config, { store: options.store !== undefined, invoicer: options.invoicer !== undefined });
  if (missing !== undefined) throw missing;
  const clock = options.clock ?? systemClock;
  const rootLogger = options.logger ?? createLogger(logSettings(config));
  // One logger per subsystem of the reference (`debuglevel: info,PRXY=debug` sets one of them).
  const logger = subsystemLogger(rootLogger, 'APER');
  const proxyLog = subsystemLogger(rootLogger, 'PRXY');
  const authLog = subsystemLogger(rootLogger, 'AUTH');
  const lnLog = subsystemLogger(rootLogger, 'CHLL');
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        logger.warn({ err: error }, 'error while shutting down');
      }
    }
  };

  try {
    // Files holding secrets are created private; existing ones are left as they are, and reported.
    for (const open of findOpenSecretFiles(secretPaths(config, options.store === undefined))) {
      const mode = formatMode(open.mode);
      logger.warn(
        { path: open.path, mode },
        open.kind === 'file'
          ? `${open.path} holds secrets and is open to group or others (mode ${mode}); restrict it: chmod 600 ${open.path}`
          : `${open.path} holds aperture's secret files and is open to group or others (mode ${mode}); restrict it: chmod 700 ${open.path}`,
      );
    }
    // Settlements being written when the listener closed are awaited before the store closes.
    const settling = new Map<string, Promise<void>>();
    const store = options.store ?? (await openStore(storeConfig(config, options, clock)));
    cleanups.push(async () => {
      await Promise.allSettled([...settling.values()]);
      if (options.store === undefined) await store.close();
    });
    logger.info({ backend: store.backend }, 'store open');
    const go = store.goAperture;
    if (go !== undefined) {
      logger.info(
        { goSchemaVersion: go.schema.version, rootKeysInSecrets: go.secrets, imported: go.imported },
        "the Go aperture's database is adopted: root keys in its secrets table verify (and new ones are written there too); its ledger and services are imported; its tables are not altered",
      );
    }
    // Services stored in the database (imported from the Go aperture, or set through the admin
    // API) override configured services of the same name, as in the Go aperture; route order
    // as the admin API's (src/proxy/app/persisted-services.ts).
    const merged = await mergePersistedServices(config, store).catch((error: unknown) => {
      // As the Go aperture: without the stored services, the configured ones still run.
      logger.warn({ err: error }, 'cannot read the services stored in the database; serving the configured services only');
      return { services: config.services, fromRegistry: [], deleted: [], invalid: [] };
    });
    for (const bad of merged.invalid) logger.warn({ service: bad.name, reason: bad.reason }, 'a service stored in the database is not a valid definition; it is not served');
    if (merged.fromRegistry.length > 0) logger.info({ services: merged.fromRegistry }, 'services loaded from the database');
    if (merged.deleted.length > 0) logger.info({ services: merged.deleted }, 'configured services deleted in the database are not served');
    const serviceConfigs = merged.services;

    const invoicer = options.invoicer ?? (await openInvoicer(config, lnLog, clock));
    if (options.invoicer === undefined && invoicer !== undefined) cleanups.push(() => invoicer.close());

    let isSettled: ((hash: string) => boolean | Promise<boolean>) | undefined;
    if (config.strictVerify && invoicer !== undefined) {
      if (invoicer instanceof LndInvoicer) {
        const index = await SettledInvoiceIndex.load(invoicer, { batchSize: config.invoiceBatchSize });
        cleanups.push(() => index.close());
        isSettled = (hash) => index.isSettled(hash);
      } else {
        isSettled = (hash) => invoicer.lookupInvoice(hash).then((s) => s.state === 'settled', () => false);
      }
    }

    const verifier = new Verifier({
      secrets: store,
      clock,
      // 'repeat': with more active tokens than cache entries, the cache would churn on every request.
      cache: { ttlMs: options.verifierCacheTtlMs ?? 5000, admission: 'repeat' },
      ...(isSettled === undefined ? {} : { isSettled }),
      // Constraints are fixed values: a token may not repeat one with another value (max_size=100, then max_size=999999).
      satisfiers: equalitySatisfiers(serviceConfigs.flatMap((s) => Object.keys(s.constraints))),
    });
    const stopRevoked = store.onRevoked((event) => {
      if (event.tokenId !== undefined) verifier.forget(event.tokenId);
      else verifier.clearCache();
      authLog.info({ tokenId: event.tokenId, remote: event.remote }, 'token revoked');
    });
    cleanups.push(stopRevoked);

    const metrics = new ProxyMetrics({ defaultMetrics: options.defaultMetrics ?? true });
    const serviceOfHash = new BoundedCache<string, string>(100_000);
    if (invoicer !== undefined) {
      const health = (): void => metrics.lightningUp.set(invoicer.health().ok ? 1 : 0);
      health();
      // A settlement the store could not record (database down) is retried with backoff while
      // the process runs: left pending, its row would be garbage-collected (root key and all)
      // once the invoice expired, and a paid token would stop working.
      let settlementsStopped = false;
      const retryTimers = new Set<NodeJS.Timeout>();
      const record = (hash: string, settledAt: number, amountSats: number, attempt: number): void => {
        const write = store
          .markSettled(hash, settledAt, amountSats)
          .then((changed) => {
            if (changed) metrics.tokensPaid.inc({ service: serviceOfHash.get(hash) ?? 'unknown' });
            lnLog.info({ paymentHash: hash, attempt }, 'invoice settled');
          }, (error: unknown) => {
            if (settlementsStopped) {
              lnLog.error({ err: error, paymentHash: hash }, 'could not record a settlement; it is reconciled at the next start');
              return;
            }
            const delayMs = Math.min(SETTLEMENT_RETRY_INITIAL_MS * 2 ** attempt, SETTLEMENT_RETRY_MAX_MS);
            lnLog.warn({ err: error, paymentHash: hash, attempt, retryInMs: delayMs }, 'could not record a settlement; retrying');
            const timer = setTimeout(() => {
              retryTimers.delete(timer);
              if (!settlementsStopped) record(hash, settledAt, amountSats, attempt + 1);
            }, delayMs);
            timer.unref();
            retryTimers.add(timer);
          })
          .finally(() => {
            if (settling.get(hash) === write) settling.delete(hash);
          });
        settling.set(hash, write);
      };
      const stopSettled = invoicer.onSettled((status: InvoiceStatus) => {
        if (status.state !== 'settled') return;
        record(status.paymentHash, status.settledAt ?? clock.now(), status.amountPaidSats ?? 0, 0);
      });
      cleanups.push(() => {
        settlementsStopped = true;
        stopSettled();
        for (const timer of retryTimers) clearTimeout(timer);
        if (retryTimers.size > 0) lnLog.warn({ unrecorded: retryTimers.size }, 'settlements not yet recorded are reconciled at the next start');
        retryTimers.clear();
      });
    }

    // Rate limits: one shared store for every service when Redis is configured.
    const rl = config.rateLimitStore;
    let sharedStore: RateLimitStore | undefined;
    let redisStore: RedisRateLimitStore | undefined;
    if (rl.backend === 'redis') {
      const opened = new RedisRateLimitStore({
        url: rl.redisUrl as string,
        keyPrefix: `${options.redisKeyPrefix ?? 'aperture:'}rl:`,
        onConnectionError: (e) => proxyLog.warn({ err: e.message }, 'redis rate-limit store'),
      });
      redisStore = opened;
      sharedStore = opened;
      cleanups.push(() => opened.close());
      // Without an offline queue, commands sent before the connection is up fail: wait for it
      // (briefly) so that the first requests are not answered per `onstoreerror`.
      try {
        await opened.ready();
      } catch (error) {
        logger.warn({ err: (error as Error).message, onstoreerror: rl.onStoreError }, 'Redis not reachable at start; rate limits follow onstoreerror until it is');
      }
    }
    const limiterOf = (service: string, rules: CompiledRateLimitRule[], localFallback = false): RateLimiter =>
      new RateLimiter({
        service,
        rules,
        ...(sharedStore === undefined ? {} : { store: sharedStore }),
        // Challenge limits hold while Redis is down (`onstoreerror: allow`), per process:
        // an outage must not let anyone mint unlimited invoices.
        ...(sharedStore !== undefined && localFallback ? { fallbackStore: new MemoryRateLimitStore() } : {}),
        clock,
        onStoreError: rl.onStoreError,
        onError: (e) => proxyLog.warn({ service, code: e.code }, e.message),
      });
    const bucketRule = (bucket: BucketSetting): CompiledRateLimitRule[] => [{
      index: 0,
      id: `0:${bucket.requests}/${bucket.perMs}/${bucket.burst ?? bucket.requests}`,
      pattern: undefined,
      requests: bucket.requests,
      per: bucket.perMs,
      burst: bucket.burst ?? bucket.requests,
    }];

    const services: AppService[] = [];
    for (const s of serviceConfigs) {
      let freebies: FreebieCounter | undefined;
      if (s.auth.mode === 'freebie') {
        const base = { limit: s.auth.count, windowMs: s.freebieWindowMs, clock };
        const counter: FreebieCounter = rl.backend === 'redis'
          ? new RedisFreebieCounter({
            ...base,
            // One connection for every counter and the rate limits; the rate-limit store closes it.
            redis: (redisStore as RedisRateLimitStore).redis,
            keyPrefix: `${options.redisKeyPrefix ?? 'aperture:'}freebie:`,
            onError: (e) => proxyLog.warn({ service: s.name, code: e.code }, e.message),
          })
          : new MemoryFreebieCounter(base);
        freebies = counter;
        metrics.trackFreebies(s.name, counter);
        cleanups.push(() => counter.close());
      }
      let pricer: GrpcPricer | undefined;
      if (s.dynamicPrice.enabled) {
        const p = new GrpcPricer({
          address: s.dynamicPrice.grpcAddress,
          insecure: s.dynamicPrice.insecure,
          ...(s.dynamicPrice.tlsCertPath === undefined ? {} : { tlsCertPath: s.dynamicPrice.tlsCertPath }),
        });
        pricer = p;
        cleanups.push(() => p.close());
      }
      const rules = compiledRules(s);
      const limiter = rules.length > 0 ? limiterOf(s.name, rules) : undefined;
      if (limiter !== undefined) metrics.trackRateLimiter(s.name, limiter);
      services.push({
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
      });
    }

    const bucket = options.challengeRateLimit ?? DEFAULT_CHALLENGE_RATE_LIMIT;
    const challengeLimiter = bucket === false ? undefined : limiterOf('challenges', bucketRule(bucket), true);
    if (challengeLimiter !== undefined) metrics.trackRateLimiter('challenges', challengeLimiter);
    const globalBucket = config.globalChallengeLimit;
    const globalChallengeLimiter = globalBucket === undefined ? undefined : limiterOf('challenges-global', bucketRule(globalBucket), true);
    if (globalChallengeLimiter !== undefined) metrics.trackRateLimiter('challenges-global', globalChallengeLimiter);

    const notes = new WeakMap<NodeRequest, RequestNote>();
    const trusted = config.trustedProxies.length > 0 ? new IpSet(config.trustedProxies.map((r) => r.text), 'trustedproxies') : undefined;
    const blocklist = config.blocklist.length > 0 ? new IpSet(config.blocklist.map((r) => r.text), 'blocklist') : undefined;
    const minter = invoicer === undefined ? undefined : new Minter({ invoicer, secrets: store, clock });

    const authorize = createAuthorize({
      minter,
      verifier,
      store,
      authDisabled: config.authenticator.disable,
      challengeForm: config.challengeForm,
      challengeLimiter,
      globalChallengeLimiter,
      metrics,
      clock,
      // Three quarters of readtimeout: the 402 priced on what arrived goes out before readtimeout
      // cuts the request with 408 (HTTP/2 streams are timed from their headers, like this wait).
      pricerBodyTimeoutMs: Math.floor(config.readTimeoutMs * 0.75),
      onChallenge: (hash, service) => serviceOfHash.set(hash, service),
      onError: (error, service) => authLog.warn({ service, code: error.code }, error.message),
      // The token ID and which check failed; never the credential itself.
      onRefusal: (refusal, service) => {
        if (authLog.isLevelEnabled('debug')) authLog.debug({ service, tokenId: refusal.tokenId, reason: refusal.reason, code: refusal.code, detail: refusal.detail }, 'credential refused');
      },
      setOutcome: (context, outcome) => {
        const note = notes.get(context.raw);
        if (note !== undefined) {
          note.service = context.service.name;
          note.outcome = outcome;
        }
      },
    });

    const proxy = new Proxy<AppService>({
      services,
      authorize,
      schemes: authorize.schemes,
      afterResponse: authorize.afterResponse,
      resolveClientIp: (peer, xff, forwarded) => clientIp(peer, xff, trusted, forwarded),
      // An established WebSocket tunnel is closed after the same silence as an idle connection (`idletimeout`).
      timeouts: { headersMs: config.upstreamTimeoutMs, websocketIdleMs: config.idleTimeoutMs },
      maxConnectionsPerOrigin: config.upstreamConnections,
      maxQueuedPerOrigin: config.upstreamQueue,
      ...(config.serveStatic ? { staticRoot: config.staticRoot } : {}),
      onError: (error, service) => {
        if (error.code.startsWith('L402_ERR_UPSTREAM_')) metrics.upstreamErrors.inc({ service: service ?? '', kind: upstreamKind(error.code) });
        proxyLog.warn({ service, code: error.code }, error.message);
      },
    });

    const handler = new ApertureHandler({
      proxy,
      metrics,
      blocklist,
      trustedProxies: trusted,
      notes,
      ...(invoicer instanceof DevInvoicer
        ? {
          devPay: createDevPayHandler(invoicer),
          settled: async (hash: string) => {
            await settling.get(hash);
          },
        }
        : {}),
      onBlocked: (ip) => proxyLog.debug({ ip }, 'blocked request'),
      ...(config.logging.accessLog ? { accessLog: proxyLog } : {}),
    });

    const server = new ProxyServer({
      handler,
      listenAddr: config.listenAddr,
      insecure: config.insecure,
      baseDir: config.baseDir,
      ...(config.serverName === '' ? {} : { serverName: config.serverName }),
      idleTimeoutMs: config.idleTimeoutMs,
      readTimeoutMs: config.readTimeoutMs,
      writeTimeoutMs: config.writeTimeoutMs,
      maxConcurrentStreams: config.maxConcurrentStreams,
      drainTimeoutMs: options.drainTimeoutMs ?? 10_000,
      certificate: { clock, onEvent: (event) => logCertificateEvent(logger, event) },
    });
    const proxyAddress = await server.listen();
    cleanups.push(() => server.close());
    const url = urlOf(proxyAddress, !config.insecure);
    logger.info({ url, services: services.map((s) => s.name) }, 'aperture listening');

    let metricsAddress: AddressInfo | undefined;
    if (config.prometheus.enabled) {
      const metricsServer = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method === 'GET' && path === '/metrics') {
          if (invoicer !== undefined) metrics.lightningUp.set(invoicer.health().ok ? 1 : 0);
          metrics.render().then(({ contentType, body }) => {
            res.writeHead(200, { 'content-type': contentType });
            res.end(body);
          }, () => {
            res.writeHead(500);
            res.end();
          });
          return;
        }
        if (req.method === 'GET' && path === '/healthz') {
          store.health().then((db) => {
            const ln = invoicer?.health();
            const ok = db.ok && (ln === undefined || ln.ok);
            const body = JSON.stringify({ ok, store: db, lightning: ln ?? { ok: true, detail: 'authenticator disabled' } });
            res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
            res.end(body);
          }, () => {
            res.writeHead(503);
            res.end();
          });
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      });
      metricsServer.on('error', () => undefined);
      metricsAddress = await listen(metricsServer, config.prometheus.listenAddr);
      cleanups.push(() => new Promise<void>((resolve) => {
        metricsServer.close(() => resolve());
        metricsServer.closeAllConnections();
      }));
      logger.info({ url: urlOf(metricsAddress, false) + '/metrics' }, 'prometheus metrics listening');
    }

    const gcGrace = options.gcGraceMs ?? DEFAULT_GC_GRACE_MS;
    // Challenges paid while aperture was down: ask the backend about every pending, unexpired row.
    const reconciled = (async (): Promise<number> => {
      if (invoicer === undefined) return 0;
      let found = 0;
      try {
        // Rows whose invoice expired less than the GC grace ago are still in the ledger and may
        // have been paid just before expiry, while aperture was down: look them up too, or
        // garbage collection would take the root key of a paid token.
        const since = clock.now() - gcGrace;
        let pending = 0;
        let after: PendingCursor | undefined;
        for (;;) {
          const page = await store.listPendingUnexpired(since, PENDING_PAGE_SIZE, after);
          const last = page[page.length - 1];
          if (last === undefined) break;
          pending += page.length;
          after = { createdAt: last.createdAt, tokenId: last.tokenId };
          for (const row of page) {
            // Settlements of these rows may also arrive through onSettled (after a restart the
            // challenge-time mapping is empty): label them with the row's service, not 'unknown'.
            serviceOfHash.set(row.paymentHash, row.service);
            try {
              const status = await invoicer.lookupInvoice(row.paymentHash);
              if (status.state !== 'settled') continue;
              // A backend may report a looked-up settlement through onSettled too (LndInvoicer does),
              // whose write then wins the row and counts the payment: wait for it, count the row once.
              await settling.get(row.paymentHash);
              if (await store.markSettled(row.paymentHash, status.settledAt ?? clock.now(), status.amountPaidSats ?? row.priceSats)) {
                metrics.tokensPaid.inc({ service: row.service });
              }
              found++;
            } catch {
              // Unknown to the backend (e.g. the dev backend after a restart) or not reachable: left pending.
            }
          }
          if (page.length < PENDING_PAGE_SIZE) break;
        }
        if (pending > 0) lnLog.info({ pending, settled: found }, 'reconciled pending challenges');
      } catch (error) {
        lnLog.warn({ err: error }, 'could not reconcile pending challenges');
      }
      return found;
    })();

    const collectGarbage = async (): Promise<GarbageReport> => {
      const report = await store.collectGarbage(clock.now(), gcGrace);
      if (report.rootKeys + report.transactions + report.charges > 0) logger.info(report, 'garbage collected');
      return report;
    };
    const gcInterval = options.gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS;
    if (gcInterval > 0) {
      const timer = setInterval(() => {
        collectGarbage().catch((error: unknown) => logger.warn({ err: error }, 'garbage collection failed'));
      }, gcInterval);
      timer.unref();
      cleanups.push(() => clearInterval(timer));
    }

    let closing: Promise<void> | undefined;
    return {
      url,
      addresses: { proxy: proxyAddress, metrics: metricsAddress },
      config,
      store,
      invoicer,
      verifier,
      metrics,
      logger: rootLogger,
      services,
      reconciled,
      get activeRequests() {
        return server.activeRequests;
      },
      collectGarbage,
      close: () => {
        closing ??= (async () => {
          await reconciled;
          await cleanup();
          logger.info('aperture stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
