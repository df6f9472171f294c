/**
 * The `aperture` program's wiring: every part (store, Lightning backend,
 * Minter/Verifier, settlement ledger, services, proxy, listener, operations
 * listener) built from a validated configuration and connected. Each part has
 * its own module; this one only puts them together.
 */
import type { Logger } from 'pino';
import type { AddressInfo } from 'node:net';
import { L402Error } from '../core/errors.js';
import { Minter } from '../core/minter.js';
import { systemClock, type Clock, type Invoicer, type Payer } from '../core/types.js';
import { Verifier } from '../core/verifier.js';
import { equalitySatisfiers } from '../core/caveats.js';
import { DevInvoicer } from '../lightning/dev/dev-invoicer.js';
import { createDevPayHandler } from '../lightning/dev/dev-pay-handler.js';
import { LndInvoicer } from '../lightning/lnd/lnd-invoicer.js';
import { ClnInvoicer } from '../lightning/cln/cln-invoicer.js';
import { SettledInvoiceIndex } from '../lightning/settled-invoice-index.js';
import { clientIp } from '../ratelimit/client-ip.js';
import { IpSet } from '../ratelimit/ip-set.js';
import type { ApertureStore, GarbageReport } from '../store/aperture-store.js';
import { openStore } from '../store/open-store.js';
import type { ApertureConfig, ServiceConfig } from '../proxy/config/aperture-config.js';
import { createLogger, subsystemLogger, type LogSettings } from '../proxy/ops/logger.js';
import { ProxyMetrics } from '../proxy/ops/metrics.js';
import { Proxy } from '../proxy/proxy.js';
import { ProxyServer } from '../proxy/server/proxy-server.js';
import type { TlsCertificateEvent } from '../proxy/server/tls-certificate.js';
import type { NodeRequest } from '../adapters/node/request-view.js';
import { insecureRemoteAdminMessage, isLoopbackListenAddr } from '../proxy/config/resolve-admin.js';
import { ApertureHandler, type RequestNote } from './aperture-handler.js';
import type { AppService } from './app-service.js';
import { createAuthorize } from './create-authorize.js';
import { startOpsListener } from './ops-listener.js';
import { missingPackagesError } from './required-packages.js';
import { RunningServices, type ServicesChange } from './running-services.js';
import { findOpenSecretFiles, formatMode, secretPaths } from './secret-file-modes.js';
import { createProgramAdminApi } from './program-admin-api.js';
import { openProgramMpp } from './program-mpp.js';
import type { MppScheme } from '../mpp/mpp-scheme.js';
import { createProgramDashboard } from './program-dashboard.js';
import { createProgramHashmail } from './program-hashmail.js';
import type { DashboardAssets } from '../dashboard/dashboard-assets.js';
import { DEFAULT_SERVICES_POLL_MS, ProgramAdminBackend, storedServices } from './program-admin-backend.js';
import { openProgramInvoicer, programStoreConfig, type LncContext } from './program-backends.js';
import { ServiceBuilder, type BucketSetting } from './service-builder.js';
import { DEFAULT_GC_GRACE_MS, DEFAULT_GC_INTERVAL_MS, SettlementLedger } from './settlement-ledger.js';

export type { BucketSetting } from './service-builder.js';
export { DEFAULT_GC_GRACE_MS, DEFAULT_GC_INTERVAL_MS } from './settlement-ledger.js';

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
  /**
   * How often the service registry's version is read, so that services
   * created, changed or deleted through the admin API of another instance on
   * the same database are applied here; default 2000 ms, 0 = never.
   */
  servicesPollMs?: number;
  /**
   * Pays MPP session refunds instead of the configured payer (the dev
   * backend itself, or lnd through `authenticator.paymacaroonpath`). Not closed by `close()`.
   */
  refundPayer?: Payer;
  /**
   * How often idle MPP sessions are looked for (closed and refunded); default a quarter of
   * `sessionidletimeout`, between 1 s and 1 min; 0 = never.
   */
  mppSweepIntervalMs?: number;
  /**
   * The web dashboard's build (`admin.dashboard`): a directory, or what
   * `loadDashboardAssets` read; by default the package's own (`dist/dashboard-app/`).
   */
  dashboardAssets?: string | DashboardAssets;
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
  /** The Payment scheme (MPP), when `authenticator.enablempp` is on. */
  readonly mpp: MppScheme | undefined;
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
  /**
   * Makes `services` the running set at once (not persisted: the admin API
   * persists, then calls this). Requests in flight finish on the definitions
   * they started with; services whose definition did not change keep their
   * limiter, freebie and pricer state. On a failure nothing changes.
   * @param services - every service, in route order
   * @returns what changed
   * @throws L402Error `L402_ERR_PRICER_TLS`, `L402_ERR_PROXY_BAD_REGEXP`
   */
  replaceServices(services: readonly ServiceConfig[]): ServicesChange;
  /**
   * Reads the registry's version now and, when it moved, rebuilds the running
   * set from the configuration and every registry row (what the poll every
   * `servicesPollMs` does).
   * @returns whether the running set was rebuilt
   */
  pollServices(): Promise<boolean>;
  /** Stops accepting, drains in-flight requests, closes everything it opened. Idempotent. */
  close(): Promise<void>;
}

/** Default challenge rate per masked client IP. */
export const DEFAULT_CHALLENGE_RATE_LIMIT: BucketSetting = { requests: 20, perMs: 1000, burst: 100 };

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
    logger.warn(
      fields,
      `TLS certificate ${c.certPath} expires on ${fields.notAfter}; aperture did not create it and does not renew it: put a new tls.cert and tls.key in place and restart`,
    );
  } else {
    logger.error(
      fields,
      `TLS certificate ${c.certPath} expired on ${fields.notAfter}; aperture did not create it and does not renew it: put a new tls.cert and tls.key in place and restart`,
    );
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
  if (config.admin.enabled && config.insecure && !config.admin.allowInsecureRemote && !isLoopbackListenAddr(config.listenAddr)) {
    throw new L402Error('L402_ERR_ADMIN_INSECURE_REMOTE', insecureRemoteAdminMessage(config.listenAddr));
  }
  const clock = options.clock ?? systemClock;
  const rootLogger = options.logger ?? createLogger(logSettings(config));
  // One logger per subsystem of the reference (`debuglevel: info,PRXY=debug` sets one of them).
  const logger = subsystemLogger(rootLogger, 'APER');
  const proxyLog = subsystemLogger(rootLogger, 'PRXY');
  const authLog = subsystemLogger(rootLogger, 'AUTH');
  const lnLog = subsystemLogger(rootLogger, 'CHLL');
  const adminLog = subsystemLogger(rootLogger, 'ADMN');
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
    const store = options.store ?? (await openStore(programStoreConfig(config, options.postgresSchema, clock)));
    if (options.store === undefined) cleanups.push(() => store.close());
    logger.info({ backend: store.backend }, 'store open');
    const go = store.goAperture;
    if (go !== undefined) {
      logger.info(
        { goSchemaVersion: go.schema.version, rootKeysInSecrets: go.secrets, imported: go.imported },
        "the Go aperture's database is adopted: root keys in its secrets table verify (and new ones are written there too); its ledger and services are imported; its tables are not altered",
      );
    }
    const stored = await storedServices(config, store, logger);
    const serviceConfigs = stored.services;

    const lncContext: LncContext = { store, defer: (close) => void cleanups.push(close) };
    const invoicer = options.invoicer ?? (await openProgramInvoicer(config, lnLog, clock, lncContext));
    if (options.invoicer === undefined && invoicer !== undefined) cleanups.push(() => invoicer.close());

    let isSettled: ((hash: string) => boolean | Promise<boolean>) | undefined;
    if (config.strictVerify && invoicer?.tracksSettlement === false) {
      throw new L402Error(
        'L402_ERR_CONFIG_INVALID',
        'strictverify is not supported with a Lightning backend that reports no settlement (Wavelength): there is nothing to verify against',
      );
    }
    if (config.strictVerify && invoicer !== undefined) {
      if (invoicer instanceof LndInvoicer || invoicer instanceof ClnInvoicer) {
        const index = await SettledInvoiceIndex.load(invoicer, { batchSize: config.invoiceBatchSize });
        cleanups.push(() => index.close());
        isSettled = (hash) => index.isSettled(hash);
      } else {
        isSettled = (hash) =>
          invoicer.lookupInvoice(hash).then(
            (s) => s.state === 'settled',
            () => false,
          );
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
    if (invoicer !== undefined) metrics.lightningUp.set(invoicer.health().ok ? 1 : 0);
    const ledger = new SettlementLedger({
      store,
      invoicer,
      metrics,
      clock,
      lnLog,
      logger,
      gcGraceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS,
      gcIntervalMs: options.gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS,
    });
    // Settlements being written when the listener closed are awaited before the store closes.
    cleanups.push(() => ledger.close());

    const builder = await ServiceBuilder.open({
      rateLimitStore: config.rateLimitStore,
      redisKeyPrefix: options.redisKeyPrefix,
      clock,
      metrics,
      proxyLog,
      logger,
    });
    cleanups.push(() => builder.close());
    const running = new RunningServices({
      build: (s) => builder.build(s),
      onChange: (change, services) => {
        // A service defined live may bring constraint keys of its own; cached verifications may
        // have been made for a definition that is gone.
        verifier.addSatisfiers(equalitySatisfiers(services.flatMap((s) => Object.keys(s.config.constraints))));
        verifier.clearCache();
        logger.info({ added: change.added, changed: change.changed, removed: change.removed }, 'services replaced');
      },
    });
    cleanups.push(() => running.close());
    running.replaceAll(serviceConfigs);

    const bucket = options.challengeRateLimit ?? DEFAULT_CHALLENGE_RATE_LIMIT;
    const challengeLimiter = bucket === false ? undefined : builder.bucketLimiter('challenges', bucket);
    const globalBucket = config.globalChallengeLimit;
    const globalChallengeLimiter = globalBucket === undefined ? undefined : builder.bucketLimiter('challenges-global', globalBucket);

    const notes = new WeakMap<NodeRequest, RequestNote>();
    const trusted =
      config.trustedProxies.length > 0
        ? new IpSet(
            config.trustedProxies.map((r) => r.text),
            'trustedproxies',
          )
        : undefined;
    const blocklist =
      config.blocklist.length > 0
        ? new IpSet(
            config.blocklist.map((r) => r.text),
            'blocklist',
          )
        : undefined;
    const minter = invoicer === undefined ? undefined : new Minter({ invoicer, secrets: store, clock });
    const mpp = await openProgramMpp(config, store, invoicer, {
      clock,
      log: authLog,
      refundPayer: options.refundPayer ?? lncContext.refundPayer,
      sweepIntervalMs: options.mppSweepIntervalMs,
    });
    if (mpp !== undefined) cleanups.push(() => mpp.close());

    const authorize = createAuthorize({
      minter,
      verifier,
      store,
      mpp: mpp?.scheme,
      onReleaseError: (error, accepted) =>
        authLog.warn(
          {
            reference: accepted.reference,
            code: error instanceof L402Error ? error.code : undefined,
            err: error instanceof Error ? error.message : String(error),
          },
          'could not give back a payment after a failed response',
        ),
      authDisabled: config.authenticator.disable,
      challengeForm: config.challengeForm,
      challengeLimiter,
      globalChallengeLimiter,
      metrics,
      clock,
      // Three quarters of readtimeout: the 402 priced on what arrived goes out before readtimeout
      // cuts the request with 408 (HTTP/2 streams are timed from their headers, like this wait).
      pricerBodyTimeoutMs: Math.floor(config.readTimeoutMs * 0.75),
      onChallenge: (hash, service) => ledger.noteChallenge(hash, service),
      onError: (error, service) => authLog.warn({ service, code: error.code }, error.message),
      // The token ID and which check failed; never the credential itself.
      onRefusal: (refusal, service) => {
        if (authLog.isLevelEnabled('debug'))
          authLog.debug(
            { service, tokenId: refusal.tokenId, reason: refusal.reason, code: refusal.code, detail: refusal.detail },
            'credential refused',
          );
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
      services: running.services,
      authorize: running.holding(authorize),
      schemes: authorize.schemes,
      afterResponse: authorize.afterResponse,
      observes: authorize.observes,
      resolveClientIp: (peer, xff, forwarded) => clientIp(peer, xff, trusted, forwarded),
      // An established WebSocket tunnel is closed after the same silence as an idle connection (`idletimeout`).
      timeouts: { headersMs: config.upstreamTimeoutMs, websocketIdleMs: config.idleTimeoutMs },
      maxConnectionsPerOrigin: config.upstreamConnections,
      maxQueuedPerOrigin: config.upstreamQueue,
      ...(config.serveStatic ? { staticRoot: config.staticRoot } : {}),
      onError: (error, service) => {
        if (error.code.startsWith('L402_ERR_UPSTREAM_'))
          metrics.upstreamErrors.inc({ service: service ?? '', kind: upstreamKind(error.code) });
        proxyLog.warn({ service, code: error.code }, error.message);
      },
    });
    running.route((services) => proxy.replaceServices(services));

    // The running set follows the registry (changes made through the admin API of any instance).
    const programBackend = new ProgramAdminBackend({
      config,
      store,
      running,
      log: adminLog,
      startVersion: stored.version,
      network: invoicer instanceof DevInvoicer ? invoicer.network : '',
      mpp: mpp === undefined ? undefined : { realm: mpp.scheme.realm, sessions: mpp.scheme.intents.includes('session') },
    });
    cleanups.push(() => programBackend.close());
    const admin = config.admin.enabled ? createProgramAdminApi(config, programBackend, clock, adminLog, trusted) : undefined;
    // The web dashboard (admin.dashboard, on with the admin API unless false): loopback clients only.
    const dashboard =
      admin !== undefined && config.admin.dashboard
        ? createProgramDashboard(config, admin, proxy, adminLog, options.dashboardAssets)
        : undefined;

    // The LNC mailbox (hashmail.enabled) on this listener, for its paths no service takes.
    const hashmail = config.hashmail.enabled ? createProgramHashmail(config, proxy, metrics, logger) : undefined;
    if (hashmail !== undefined) cleanups.push(() => hashmail.server.close());

    const handler = new ApertureHandler({
      proxy,
      metrics,
      blocklist,
      trustedProxies: trusted,
      notes,
      ...(invoicer instanceof DevInvoicer
        ? { devPay: createDevPayHandler(invoicer), settled: (hash: string) => ledger.settled(hash) }
        : {}),
      onBlocked: (ip) => proxyLog.debug({ ip }, 'blocked request'),
      ...(admin === undefined ? {} : { admin }),
      ...(dashboard === undefined ? {} : { dashboard }),
      ...(hashmail === undefined
        ? {}
        : {
            hashmail: {
              takes: hashmail.takes,
              handleRequest: (req, res) => hashmail.server.handleRequest(req, res),
              handleUpgrade: (req, socket, head) => hashmail.server.handleUpgrade(req, socket, head),
            },
          }),
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
    // Before the listener drains: the mailbox's calls last as long as their sessions, so they are ended first.
    if (hashmail !== undefined) cleanups.push(() => hashmail.server.close());
    const url = urlOf(proxyAddress, !config.insecure);
    logger.info({ url, services: running.services.map((s) => s.name) }, 'aperture listening');
    if (dashboard !== undefined) adminLog.info({ url: `${url}/` }, 'dashboard served to browsers on this machine');
    if (hashmail !== undefined) logger.info({ url }, 'hashmail mailbox (LNC) served on this listener');

    let metricsAddress: AddressInfo | undefined;
    if (config.prometheus.enabled) {
      const ops = await startOpsListener({ listenAddr: config.prometheus.listenAddr, metrics, store, invoicer });
      cleanups.push(() => ops.close());
      metricsAddress = ops.address;
      logger.info({ url: urlOf(metricsAddress, false) + '/metrics' }, 'prometheus metrics listening');
    }

    const reconciled = ledger.start();
    programBackend.follow(options.servicesPollMs ?? DEFAULT_SERVICES_POLL_MS);

    let closing: Promise<void> | undefined;
    return {
      url,
      addresses: { proxy: proxyAddress, metrics: metricsAddress },
      config,
      store,
      invoicer,
      verifier,
      mpp: mpp?.scheme,
      metrics,
      logger: rootLogger,
      get services() {
        return running.services;
      },
      reconciled,
      get activeRequests() {
        return server.activeRequests;
      },
      collectGarbage: () => ledger.collectGarbage(),
      replaceServices: (services) => running.replaceAll(services),
      pollServices: () => programBackend.poll(),
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
