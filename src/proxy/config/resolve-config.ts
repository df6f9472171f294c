/**
 * Gives meaning to a raw config tree: every key of the Go aperture's
 * aperture.yaml, plus this implementation's few extensions. Records every
 * problem with its path instead of stopping at the first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, normalize, parse, resolve } from 'node:path';
import type {
  ApertureConfig, AuthenticatorConfig, AuthScheme, ConfigPattern, ConfigWarning, IpRange,
  LightningBackendKind, LogLevel, ServiceAuth, ServiceConfig, ServiceRateLimitConfig,
} from './aperture-config.js';
import type { LogSubsystem } from '../ops/logger.js';
import { checkHostPort } from './check-host-port.js';
import { ConfigReader, type ConfigSection, describe, scalarText } from './config-reader.js';
import { compileGoRegexp } from '../../core/go-regexp.js';
import { L402Error } from '../../core/errors.js';
import { parseIpRange } from './ip-range.js';
import { rawFromJson, rawToJson, type JsonValue, type LocatedConfigIssue, type RawNode } from './raw-node.js';
import { resolveHeaderValue } from './resolve-header-value.js';

/** Environment of `resolveConfig`; every part is injectable for tests. */
export interface ResolveConfigContext {
  /** Environment variables for `${NAME}` in headers and `$NAME` in paths. */
  env: Readonly<Record<string, string | undefined>>;
  /** Working directory for relative paths (Go resolves them against the process's). */
  cwd: string;
  /** Home directory for `~`. */
  home: string;
  /** The config file that was read (or looked for). */
  configFile: string;
  configFileFound: boolean;
  readFile: (path: string) => Uint8Array;
  fileExists: (path: string) => boolean;
}

/** Result of `resolveConfig`: the config when there are no issues. */
export interface ResolvedConfig {
  config: ApertureConfig | undefined;
  issues: LocatedConfigIssue[];
  warnings: ConfigWarning[];
}

/** Lower-case key names of the Go reference, by section. */
const REFERENCE_TOP = ['listenaddr', 'servername', 'autocert', 'insecure', 'staticroot', 'servestatic', 'dbbackend', 'sqlite', 'postgres', 'etcd', 'authenticator', 'tor', 'services', 'hashmail', 'prometheus', 'admin', 'debuglevel', 'configfile', 'basedir', 'profile', 'idletimeout', 'readtimeout', 'writetimeout', 'invoicebatchsize', 'strictverify', 'logging', 'wspinginterval', 'wspongwait', 'blocklist'] as const;
const EXTENSION_TOP = ['challengeform', 'trustedproxies', 'ratelimitstore', 'freebiewindow', 'upstreamtimeout', 'globalchallengelimit', 'maxconcurrentstreams', 'upstreamconnections', 'upstreamqueue'] as const;
const AUTH_KEYS = ['network', 'disable', 'lndhost', 'tlspath', 'macdir', 'passphrase', 'mailboxaddress', 'devserver', 'enablempp', 'mpprealm', 'enablesessions', 'sessiondepositmultiplier', 'sessionidletimeout', 'wavelengthgateway', 'wavelengthmacaroonpath', 'backend'];
const SERVICE_KEYS = ['name', 'tlscertpath', 'address', 'protocol', 'auth', 'authscheme', 'hostregexp', 'pathregexp', 'headers', 'timeout', 'capabilities', 'constraints', 'price', 'dynamicprice', 'authwhitelistpaths', 'authskipinvoicecreationpaths', 'ratelimits', 'rewrite', 'tlsinsecureskipverify', 'freebiewindow', 'upstreamtimeout'];
const DYNAMIC_PRICE_KEYS = ['enabled', 'grpcaddress', 'insecure', 'tlscertpath', 'metered', 'usagetailbytes'];
const LOGGER_KEYS = ['disable', 'notimestamps', 'callsite', 'level'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'] as const;
/** The reference's log subsystems this implementation has (see `LogSubsystem`). */
const BUILT_SUBSYSTEMS: readonly LogSubsystem[] = ['APER', 'PRXY', 'AUTH', 'CHLL', 'ADMN'];
/** The reference's other log subsystems: accepted with a warning saying why they have no lines here. */
const OTHER_SUBSYSTEMS: Record<string, string> = {
  L402: 'token parsing has no log lines of its own here (refusals are logged under AUTH)',
  MINT: 'minting has no log lines of its own here (its errors are logged under AUTH)',
  LNDC: 'the lnd client logs under CHLL here',
  MPAY: 'MPP (the Payment scheme) is not built here',
};
const NETWORKS = ['regtest', 'simnet', 'testnet', 'mainnet', 'signet'];

/** Reference defaults. */
export const CONFIG_DEFAULTS = {
  baseDir: '~/.aperture',
  configFileName: 'aperture.yaml',
  idleTimeoutMs: 120_000,
  readTimeoutMs: 15_000,
  writeTimeoutMs: 30_000,
  wsPingIntervalMs: 30_000,
  wsPongWaitMs: 15_000,
  invoiceBatchSize: 100_000,
  mailboxAddress: 'mailbox.terminal.lightning.today:443',
  sessionDepositMultiplier: 20,
  sessionIdleTimeoutSeconds: 300,
  usageTailBytes: 16_384,
  servicePrice: 1,
  freebieWindowMs: 86_400_000,
  upstreamTimeoutMs: 60_000,
  /** `globalchallengelimit`: fresh challenges across every client, 50 per second, burst 500. */
  globalChallengeLimit: { requests: 50, perMs: 1000, burst: 500 },
  maxConcurrentStreams: 250,
  upstreamConnections: 256,
  upstreamQueue: 1024,
} as const;

const MAX_PRICE_SATS = 100_000_000 * 100_000; // the reference's cap: 100,000 BTC
const MAX_USAGE_TAIL_BYTES = 1 << 20;

/**
 * Expands a leading `~` and `$VAR` / `${VAR}` the way lnd's CleanAndExpandPath
 * does, then normalises the path.
 *
 * @param path - the path as written
 * @param home - home directory
 * @param env - environment (unset variables expand to nothing, as in Go)
 * @returns the expanded path; the empty string stays empty
 */
export function expandPath(path: string, home: string, env: Readonly<Record<string, string | undefined>>): string {
  if (path === '') return '';
  let p = path;
  if (p === '~' || p.startsWith('~/')) p = home + p.slice(1);
  p = p.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? '');
  return normalize(p);
}

/**
 * Validates a raw tree and builds the {@link ApertureConfig}.
 *
 * @param root - the merged tree (file, then overrides)
 * @param context - environment, files, paths
 * @returns the config (undefined when there are issues), every issue and every warning; never throws
 */
export function resolveConfig(root: RawNode | undefined, context: Partial<ResolveConfigContext> = {}): ResolvedConfig {
  const ctx: ResolveConfigContext = {
    env: context.env ?? process.env,
    cwd: context.cwd ?? process.cwd(),
    home: context.home ?? (context.env?.['HOME'] || homedir()),
    configFile: context.configFile ?? '',
    configFileFound: context.configFileFound ?? false,
    readFile: context.readFile ?? ((p) => readFileSync(p)),
    fileExists: context.fileExists ?? ((p) => existsSync(p)),
  };
  const r = new ConfigReader();
  const top = r.section(root, '', [...REFERENCE_TOP, ...EXTENSION_TOP]);
  const path = (p: string): string => expandPath(p, ctx.home, ctx.env);
  const abs = (p: string): string => (p === '' || isAbsolute(p) ? p : resolve(ctx.cwd, p));

  const baseDir = abs(path(top.string('basedir', CONFIG_DEFAULTS.baseDir)));
  if (top.has('configfile') && ctx.configFileFound) {
    r.warn(top.path('configfile'), 'ignored', 'configfile inside a config file has no effect (the file is already being read); pass --configfile instead', top.node('configfile'));
  }

  const listenAddr = top.string('listenaddr', '');
  if (listenAddr === '') r.issue('listenaddr', 'missing listen address for the server (e.g. "localhost:8081"); the reference has no default either');
  else checkAddress(r, top, 'listenaddr', listenAddr, true, 'issue');

  const debugLevel = top.string('debuglevel', 'info');
  const { global: logLevel, subsystems: logSubsystems } = parseDebugLevel(r, top, debugLevel);

  const idleTimeoutMs = top.duration('idletimeout', CONFIG_DEFAULTS.idleTimeoutMs, 0);
  const readTimeoutMs = top.duration('readtimeout', CONFIG_DEFAULTS.readTimeoutMs, 0);
  const writeTimeoutMs = top.duration('writetimeout', CONFIG_DEFAULTS.writeTimeoutMs, 0);
  const wsPingIntervalMs = top.duration('wspinginterval', CONFIG_DEFAULTS.wsPingIntervalMs, 0);
  const wsPongWaitMs = top.duration('wspongwait', CONFIG_DEFAULTS.wsPongWaitMs, 0);
  if (wsPingIntervalMs > 0 && wsPongWaitMs >= wsPingIntervalMs) {
    r.issue('wspongwait', `must be less than wspinginterval (${wsPongWaitMs}ms >= ${wsPingIntervalMs}ms)`, top.node('wspongwait'));
  }
  for (const key of ['wspinginterval', 'wspongwait']) {
    if (top.has(key)) r.warn(key, 'not-built', `${key} applies to the reference's LNC WebSocket connections, which are not built here; it has no effect`, top.node(key));
  }

  const invoiceBatchSize = top.int('invoicebatchsize', CONFIG_DEFAULTS.invoiceBatchSize, 1, 2 ** 31 - 1);
  const strictVerify = top.bool('strictverify', false);
  const profile = top.int('profile', 0, 0, 65535);
  if (profile !== 0 && profile < 1024) r.issue('profile', 'the profile port must be between 1024 and 65535', top.node('profile'));
  else if (profile !== 0) r.warn('profile', 'not-built', 'the pprof profile server is not built here; profile is ignored (use node --inspect)', top.node('profile'));

  const autoCert = top.bool('autocert', false);
  const serverName = top.string('servername', '');
  if (autoCert) {
    r.warn('autocert', 'not-built', "Let's Encrypt autocert is not built here; a self-signed <basedir>/tls.cert is used instead", top.node('autocert'));
    if (serverName === '') r.issue('servername', 'autocert needs servername');
  }
  const insecure = top.bool('insecure', false);
  if (!insecure) {
    // Start-up creates a missing pair but refuses a lone certificate or key (it cannot tell which one is stale).
    const certPath = join(baseDir, 'tls.cert');
    const keyPath = join(baseDir, 'tls.key');
    const haveCert = ctx.fileExists(certPath);
    if (haveCert !== ctx.fileExists(keyPath)) {
      r.issue('basedir', `found ${haveCert ? certPath : keyPath} without ${haveCert ? keyPath : certPath}; remove it to have a new pair created, or add the missing file`, top.node('basedir'));
    }
  }
  const serveStatic = top.bool('servestatic', false);
  const staticRoot = top.string('staticroot', '');
  if (serveStatic && staticRoot === '') r.issue('staticroot', 'servestatic is true but staticroot is empty');

  // Storage.
  const dbBackendText = top.string('dbbackend', 'sqlite').toLowerCase();
  let dbBackend: ApertureConfig['dbBackend'] = 'sqlite';
  if (dbBackendText === 'sqlite' || dbBackendText === 'postgres' || dbBackendText === 'etcd') dbBackend = dbBackendText;
  else r.issue('dbbackend', `unknown database backend "${dbBackendText}" (sqlite, postgres)`, top.node('dbbackend'));
  if (dbBackend === 'etcd') r.issue('dbbackend', 'the etcd backend is not built here; use sqlite or postgres (tokens are not migrated from etcd)', top.node('dbbackend'));
  // The reference's YAML loader reads each key as its field name in lower case: `databasefilename`
  // and `maxopenconnections`. Its sample writes the command-line names `dbfile` and
  // `maxconnections`, which its YAML loader ignores. Both are read here, meaning the same.
  const sqliteSection = top.section('sqlite', ['dbfile', 'databasefilename', 'skipmigrations']);
  const dbFileKey = aliasOf(r, sqliteSection, 'dbfile', 'databasefilename');
  const sqlite = {
    dbFile: abs(path(sqliteSection.string(dbFileKey, join(baseDir, 'aperture.db')))),
    // The file the Go aperture opens with this configuration: `databasefilename`, else its data
    // directory's aperture.db, whatever basedir (and `dbfile`, only its flag) say.
    referenceDbFile: sqliteSection.has('databasefilename')
      ? abs(path(sqliteSection.string('databasefilename', '')))
      : join(goAppDataDir(ctx), 'aperture.db'),
    skipMigrations: sqliteSection.bool('skipmigrations', false),
  };
  const pg = top.section('postgres', ['host', 'port', 'user', 'password', 'dbname', 'maxconnections', 'maxopenconnections', 'requiressl', 'skipmigrations']);
  const maxConnectionsKey = aliasOf(r, pg, 'maxconnections', 'maxopenconnections');
  const postgres = {
    host: pg.string('host', 'localhost'),
    port: pg.int('port', 5432, 0, 65535) || 5432,
    user: pg.string('user', ''),
    password: pg.string('password', ''),
    dbName: pg.string('dbname', ''),
    maxConnections: pg.int(maxConnectionsKey, 0, 0, 100_000),
    requireSsl: pg.bool('requiressl', false),
    skipMigrations: pg.bool('skipmigrations', false),
  };
  if (dbBackend === 'postgres' && postgres.dbName === '') r.issue('postgres.dbname', 'dbbackend is postgres but postgres.dbname is empty');
  const etcdSection = top.section('etcd', ['host', 'user', 'password']);
  const etcd = { host: etcdSection.string('host', ''), user: etcdSection.string('user', ''), password: etcdSection.string('password', '') };
  if (dbBackend !== 'etcd') {
    for (const key of ['host', 'user', 'password']) {
      if (etcdSection.has(key)) r.warn(etcdSection.path(key), 'not-built', `etcd.${key} is only used by dbbackend: etcd, which is not built here; it has no effect`, etcdSection.node(key));
    }
  }

  const authenticator = readAuthenticator(r, top.section('authenticator', AUTH_KEYS), path, ctx, listenAddr);

  const admin = readAdmin(r, top, baseDir, listenAddr, insecure, path, abs);

  const hm = top.section('hashmail', ['enabled', 'messagerate', 'messageburstallowance', 'staletimeout']);
  const hashmail = {
    enabled: hm.bool('enabled', false),
    messageRateMs: hm.duration('messagerate', 0, 0),
    messageBurstAllowance: hm.int('messageburstallowance', 0, 0, 2 ** 31 - 1),
    staleTimeoutMs: hm.duration('staletimeout', 0),
  };
  if (hashmail.enabled) r.warn('hashmail.enabled', 'not-built', 'the LNC hashmail server is not built here; hashmail is ignored', hm.node('enabled'));
  for (const key of ['messagerate', 'messageburstallowance', 'staletimeout']) {
    if (hm.has(key)) r.warn(hm.path(key), 'not-built', `the LNC hashmail server is not built here; hashmail.${key} has no effect`, hm.node(key));
  }

  const torSection = top.section('tor', ['control', 'listenport', 'virtualport', 'v3']);
  const tor = {
    control: torSection.string('control', ''),
    listenPort: torSection.int('listenport', 0, 0, 65535),
    virtualPort: torSection.int('virtualport', 0, 0, 65535),
    v3: torSection.bool('v3', false),
  };
  if (tor.control !== '' || tor.v3) r.warn('tor', 'not-built', 'Tor onion services are not built here; tor is ignored', top.node('tor'));
  for (const key of ['listenport', 'virtualport']) {
    if (torSection.has(key)) r.warn(torSection.path(key), 'not-built', `Tor onion services are not built here; tor.${key} has no effect (nothing listens on it)`, torSection.node(key));
  }

  const prom = top.section('prometheus', ['enabled', 'listenaddr']);
  const prometheus = { enabled: prom.bool('enabled', false), listenAddr: prom.string('listenaddr', '') };
  if (prometheus.enabled) {
    if (prometheus.listenAddr === '') r.issue('prometheus.listenaddr', 'prometheus is enabled but has no listenaddr');
    else checkAddress(r, prom, 'listenaddr', prometheus.listenAddr, true, 'issue');
  }

  const blocklist = readIpList(r, top, 'blocklist');
  const trustedProxies = readIpList(r, top, 'trustedproxies');

  const logSection = top.section('logging', ['console', 'file', 'nocommithash', 'accesslog']);
  const consoleSection = logSection.section('console', [...LOGGER_KEYS, 'style']);
  const fileSection = logSection.section('file', [...LOGGER_KEYS, 'compressor', 'maxlogfiles', 'maxlogfilesize']);
  const consoleLevelText = consoleSection.optString('level');
  const consoleLevel = consoleLevelText === undefined ? undefined : parseLevel(r, consoleSection, 'level', consoleLevelText);
  const fileLevel = fileSection.optString('level');
  if (fileLevel !== undefined) parseLevel(r, fileSection, 'level', fileLevel);
  if (consoleSection.bool('style', false)) {
    r.warn(consoleSection.path('style'), 'not-built', 'styled (coloured) console lines are not built here; log lines are JSON', consoleSection.node('style'));
  }
  const callSite = consoleSection.string('callsite', 'off').toLowerCase();
  if (!['off', 'short', 'long'].includes(callSite)) r.issue(consoleSection.path('callsite'), `must be off, short or long, not "${callSite}"`, consoleSection.node('callsite'));
  else if (callSite !== 'off') r.warn(consoleSection.path('callsite'), 'not-built', 'call sites in log lines are not built here; lines carry a subsystem field instead', consoleSection.node('callsite'));
  fileSection.string('callsite', '');
  const logging: ApertureConfig['logging'] = {
    console: { disable: consoleSection.bool('disable', false), level: consoleLevel, noTimestamps: consoleSection.bool('notimestamps', false) },
    fileDisable: fileSection.bool('disable', false),
    accessLog: logSection.bool('accesslog', true),
  };
  if (logSection.has('file') && !logging.fileDisable) {
    r.warn('logging.file', 'not-built', 'file logging is not built here; logs go to stdout (redirect or use a log collector)', logSection.node('file'));
  }

  // Extensions.
  const formText = top.string('challengeform', 'reference').toLowerCase();
  let challengeForm: ApertureConfig['challengeForm'] = 'reference';
  if (formText === 'reference' || formText === 'spec') challengeForm = formText;
  else r.issue('challengeform', `must be "reference" or "spec", not "${formText}"`, top.node('challengeform'));
  const rls = top.section('ratelimitstore', ['backend', 'redisurl', 'onstoreerror']);
  const rlBackend = rls.string('backend', 'memory').toLowerCase();
  const onStoreError = rls.string('onstoreerror', 'allow').toLowerCase();
  const redisUrl = rls.optString('redisurl');
  if (rlBackend !== 'memory' && rlBackend !== 'redis') r.issue('ratelimitstore.backend', `must be "memory" or "redis", not "${rlBackend}"`, rls.node('backend'));
  if (onStoreError !== 'allow' && onStoreError !== 'deny') r.issue('ratelimitstore.onstoreerror', `must be "allow" or "deny", not "${onStoreError}"`, rls.node('onstoreerror'));
  if (rlBackend === 'redis') {
    if (redisUrl === undefined) r.issue('ratelimitstore.redisurl', 'the redis backend needs redisurl (e.g. redis://127.0.0.1:6379)');
    else if (!/^rediss?:\/\//i.test(redisUrl)) r.issue('ratelimitstore.redisurl', `"${redisUrl}" is not a redis:// or rediss:// URL`, rls.node('redisurl'));
  }
  const rateLimitStore: ApertureConfig['rateLimitStore'] = {
    backend: rlBackend === 'redis' ? 'redis' : 'memory',
    redisUrl,
    onStoreError: onStoreError === 'deny' ? 'deny' : 'allow',
  };
  const freebieWindowMs = top.duration('freebiewindow', CONFIG_DEFAULTS.freebieWindowMs, 0);
  const upstreamTimeoutMs = top.duration('upstreamtimeout', CONFIG_DEFAULTS.upstreamTimeoutMs, 0);
  const globalChallengeLimit = readGlobalChallengeLimit(r, top);
  // HTTP/2 streams per client connection (SETTINGS_MAX_CONCURRENT_STREAMS); connections and wait list per backend origin.
  const maxConcurrentStreams = top.int('maxconcurrentstreams', CONFIG_DEFAULTS.maxConcurrentStreams, 1, 2 ** 31 - 1);
  const upstreamConnections = top.int('upstreamconnections', CONFIG_DEFAULTS.upstreamConnections, 0, 1_000_000);
  const upstreamQueue = top.int('upstreamqueue', CONFIG_DEFAULTS.upstreamQueue, 0, 1_000_000);

  const services = readServices(r, top, ctx, path, { freebieWindowMs, upstreamTimeoutMs });

  if (r.issues.length > 0) return { config: undefined, issues: r.issues, warnings: r.warnings };
  const config: ApertureConfig = {
    configFile: ctx.configFile, configFileFound: ctx.configFileFound, baseDir,
    tlsCertPath: join(baseDir, 'tls.cert'), tlsKeyPath: join(baseDir, 'tls.key'),
    listenAddr, serverName, autoCert, insecure, staticRoot: staticRoot === '' ? '' : abs(staticRoot), serveStatic,
    debugLevel, logLevel, logSubsystems, idleTimeoutMs, readTimeoutMs, writeTimeoutMs, wsPingIntervalMs, wsPongWaitMs,
    invoiceBatchSize, strictVerify, profile, dbBackend, sqlite, postgres, etcd, authenticator, admin,
    hashmail, tor, prometheus, blocklist, logging, services, challengeForm, trustedProxies, rateLimitStore,
    freebieWindowMs, upstreamTimeoutMs, globalChallengeLimit, maxConcurrentStreams, upstreamConnections, upstreamQueue,
  };
  return { config, issues: [], warnings: r.warnings };
}

/** Options of {@link resolveServiceEntry}. */
export interface ResolveServiceEntryOptions {
  /** Environment, directories and file access, as for `resolveConfig`. */
  context?: Partial<ResolveConfigContext>;
  /** The top-level `freebiewindow` and `upstreamtimeout` (ms) an entry inherits; the reference defaults when absent. */
  defaults?: { freebieWindowMs?: number; upstreamTimeoutMs?: number };
  /** Unknown keys are issues instead of warnings (an entry set through the admin API is stored, so a typo must not be). */
  strict?: boolean;
}

/** Result of {@link resolveServiceEntry}: the service when there are no issues. */
export interface ResolvedServiceEntry {
  service: ServiceConfig | undefined;
  /** Problems, with paths inside the entry (`price`, `dynamicprice.grpcaddress`, `headers.X-Key`). */
  issues: LocatedConfigIssue[];
  warnings: ConfigWarning[];
}

/**
 * Validates one `services[]` entry by itself, exactly as `resolveConfig`
 * validates each entry of a file: what the admin API and a program loading
 * services from the store use.
 *
 * @param json - the entry as JSON, keys as in aperture.yaml (`{ name, address, pathregexp, headers, … }`)
 * @param options - context, inherited defaults, strictness
 * @returns the service (undefined when there are issues), every issue and warning; never throws
 */
export function resolveServiceEntry(json: JsonValue, options: ResolveServiceEntryOptions = {}): ResolvedServiceEntry {
  const entry = rawFromJson(json);
  const context = options.context ?? {};
  const env = context.env ?? process.env;
  const ctx: ResolveConfigContext = {
    env,
    cwd: context.cwd ?? process.cwd(),
    home: context.home ?? (env['HOME'] || homedir()),
    configFile: context.configFile ?? '',
    configFileFound: context.configFileFound ?? false,
    readFile: context.readFile ?? ((p) => readFileSync(p)),
    fileExists: context.fileExists ?? ((p) => existsSync(p)),
  };
  const r = new ConfigReader();
  const path = (p: string): string => expandPath(p, ctx.home, ctx.env);
  const defaults: ServiceDefaults = {
    freebieWindowMs: options.defaults?.freebieWindowMs ?? CONFIG_DEFAULTS.freebieWindowMs,
    upstreamTimeoutMs: options.defaults?.upstreamTimeoutMs ?? CONFIG_DEFAULTS.upstreamTimeoutMs,
  };
  if (entry.kind !== 'map') {
    r.issue('$', `expected a mapping of service keys, found ${describe(entry)}`, entry);
    return { service: undefined, issues: r.issues, warnings: r.warnings };
  }
  const service = readService(r, entry, '', ctx, path, defaults);
  if (options.strict === true) {
    for (const w of r.warnings) if (w.kind === 'unknown-key') r.issues.push({ path: w.path, message: w.message.replace(' is ignored', '') });
  }
  const warnings = options.strict === true ? r.warnings.filter((w) => w.kind !== 'unknown-key') : r.warnings;
  return { service: r.issues.length === 0 ? service : undefined, issues: r.issues, warnings };
}

/**
 * Which of two keys that mean the same to read: `reference` (the key the
 * reference's YAML loader reads) when only it is set, else `ours`. Both set to
 * different values is an issue.
 */
function aliasOf(r: ConfigReader, s: ConfigSection, ours: string, reference: string): string {
  if (!s.has(reference)) return ours;
  if (!s.has(ours)) return reference;
  const text = (key: string): string | undefined => {
    const node = s.node(key);
    return node === undefined ? undefined : scalarText(node);
  };
  if (text(ours) !== text(reference)) {
    r.issue(s.path(reference), `${reference} and ${ours} mean the same and differ; keep one`, s.node(reference));
  }
  return ours;
}

/**
 * The Go aperture's data directory (btcutil's `AppDataDir("aperture", false)`),
 * where its SQLite file is unless `sqlite.databasefilename` says otherwise.
 * @param ctx - home directory and environment
 * @returns the directory
 */
function goAppDataDir(ctx: ResolveConfigContext): string {
  if (process.platform === 'win32') return join(ctx.env['LOCALAPPDATA'] || join(ctx.home, 'AppData', 'Local'), 'Aperture');
  if (process.platform === 'darwin') return join(ctx.home, 'Library', 'Application Support', 'Aperture');
  return join(ctx.home, '.aperture');
}

function readGlobalChallengeLimit(r: ConfigReader, top: ConfigSection): ApertureConfig['globalChallengeLimit'] {
  if (!top.has('globalchallengelimit')) return { ...CONFIG_DEFAULTS.globalChallengeLimit };
  const s = top.section('globalchallengelimit', ['requests', 'per', 'burst']);
  const before = r.issues.length;
  if (!s.has('requests')) r.issue(s.path('requests'), 'requests is required: fresh challenges per window across all clients, or 0 for no global limit', top.node('globalchallengelimit'));
  const requests = s.int('requests', 0, 0, 2 ** 31 - 1);
  const beforePer = r.issues.length;
  const perMs = s.duration('per', CONFIG_DEFAULTS.globalChallengeLimit.perMs);
  if (perMs <= 0 && r.issues.length === beforePer) r.issue(s.path('per'), 'per must be a positive duration such as 1s', s.node('per'));
  const burst = s.int('burst', 0, 0, 2 ** 31 - 1);
  if (r.issues.length > before || requests === 0) return undefined;
  return { requests, perMs, burst: burst === 0 ? requests : burst };
}

function parseLevel(r: ConfigReader, s: ConfigSection, key: string, text: string): LogLevel | undefined {
  const lower = text.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(lower)) return lower as LogLevel;
  r.issue(s.path(key), `unknown log level "${text}" (${LOG_LEVELS.join(', ')})`, s.node(key));
  return undefined;
}

/**
 * `debuglevel` as lnd reads it: "info", "info,PRXY=debug" or "PRXY=debug,AUTH=trace" (a level
 * without a subsystem is the global one). Subsystems this implementation has get their level; the
 * reference's others are accepted with a warning naming them; unknown ones are refused, as the
 * reference refuses them.
 */
function parseDebugLevel(r: ConfigReader, s: ConfigSection, text: string): { global: LogLevel; subsystems: Partial<Record<LogSubsystem, LogLevel>> } {
  let global: LogLevel = 'info';
  const subsystems: Partial<Record<LogSubsystem, LogLevel>> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const level = parseLevel(r, s, 'debuglevel', eq < 0 ? part : part.slice(eq + 1));
    if (eq < 0) {
      if (level !== undefined) global = level;
      continue;
    }
    const name = part.slice(0, eq).trim().toUpperCase();
    if ((BUILT_SUBSYSTEMS as readonly string[]).includes(name)) {
      if (level !== undefined) subsystems[name as LogSubsystem] = level;
    } else if (Object.hasOwn(OTHER_SUBSYSTEMS, name)) {
      r.warn(s.path('debuglevel'), 'not-built', `subsystem ${name}: ${OTHER_SUBSYSTEMS[name] ?? ''}; its level has no effect`, s.node('debuglevel'));
    } else {
      r.issue(s.path('debuglevel'), `unknown subsystem "${part.slice(0, eq).trim()}" (${[...BUILT_SUBSYSTEMS, ...Object.keys(OTHER_SUBSYSTEMS)].join(', ')})`, s.node('debuglevel'));
    }
  }
  return { global, subsystems };
}

function checkAddress(r: ConfigReader, s: ConfigSection, key: string, value: string, portRequired: boolean, severity: 'issue' | 'warn'): void {
  const problem = checkHostPort(value, portRequired);
  if (problem === undefined) return;
  if (severity === 'issue') r.issue(s.path(key), problem, s.node(key));
  else r.warn(s.path(key), 'address', `${problem}; requests to it will fail`, s.node(key));
}

function readIpList(r: ConfigReader, s: ConfigSection, key: string): IpRange[] {
  const out: IpRange[] = [];
  for (const item of s.stringList(key)) {
    const parsed = parseIpRange(item.value);
    if (parsed.ok) out.push(parsed.range);
    else r.issue(item.path, parsed.reason, item.node);
  }
  return out;
}

function readAuthenticator(r: ConfigReader, a: ConfigSection, path: (p: string) => string, ctx: ResolveConfigContext, listenAddr: string): AuthenticatorConfig {
  const network = a.optString('network');
  if (network !== undefined && !NETWORKS.includes(network.toLowerCase())) {
    r.issue(a.path('network'), `unknown network "${network}" (${NETWORKS.join(', ')})`, a.node('network'));
  }
  const disable = a.bool('disable', false);
  const lndHost = a.optString('lndhost');
  const tlsPathText = a.optString('tlspath');
  const macDirText = a.optString('macdir');
  const passphrase = a.optString('passphrase');
  const enableMpp = a.bool('enablempp', false);
  const enableSessions = a.bool('enablesessions', false);
  const backendText = a.optString('backend')?.toLowerCase();
  const wavelength = a.optString('wavelengthgateway');
  a.optString('wavelengthmacaroonpath');
  const result: AuthenticatorConfig = {
    network: network?.toLowerCase(),
    disable,
    backend: 'none',
    lndHost,
    tlsPath: tlsPathText === undefined ? undefined : path(tlsPathText),
    macDir: macDirText === undefined ? undefined : path(macDirText),
    passphrase,
    mailboxAddress: a.string('mailboxaddress', CONFIG_DEFAULTS.mailboxAddress),
    devServer: a.bool('devserver', false),
    enableMpp,
    mppRealm: a.string('mpprealm', listenAddr),
    enableSessions,
    sessionDepositMultiplier: a.int('sessiondepositmultiplier', CONFIG_DEFAULTS.sessionDepositMultiplier, 0, 1_000_000) || CONFIG_DEFAULTS.sessionDepositMultiplier,
    sessionIdleTimeoutSeconds: a.int('sessionidletimeout', CONFIG_DEFAULTS.sessionIdleTimeoutSeconds, 0, 2 ** 31 - 1) || CONFIG_DEFAULTS.sessionIdleTimeoutSeconds,
  };
  if (enableMpp) r.warn(a.path('enablempp'), 'not-built', 'MPP (the Payment scheme) is not built here yet; only L402 challenges are sent', a.node('enablempp'));
  if (enableSessions && !enableMpp) r.issue(a.path('enablesessions'), 'enablesessions requires enablempp');
  else if (enableSessions) r.warn(a.path('enablesessions'), 'not-built', 'MPP sessions are not built here yet', a.node('enablesessions'));
  if (wavelength !== undefined) r.warn(a.path('wavelengthgateway'), 'not-built', 'the Wavelength invoice backend is not built here', a.node('wavelengthgateway'));
  if (a.has('wavelengthmacaroonpath')) r.warn(a.path('wavelengthmacaroonpath'), 'not-built', 'the Wavelength invoice backend is not built here; wavelengthmacaroonpath has no effect', a.node('wavelengthmacaroonpath'));
  for (const key of ['mpprealm', 'sessiondepositmultiplier', 'sessionidletimeout']) {
    if (a.has(key)) r.warn(a.path(key), 'not-built', `MPP (the Payment scheme) is not built here yet; ${key} has no effect`, a.node(key));
  }
  if (disable) return result;

  let backend: LightningBackendKind;
  if (backendText !== undefined && backendText !== 'lnd' && backendText !== 'dev') {
    r.issue(a.path('backend'), `unknown backend "${backendText}" (lnd, dev)`, a.node('backend'));
    return result;
  }
  if (backendText === 'dev') backend = 'dev';
  else if (backendText === 'lnd' || lndHost !== undefined) backend = 'lnd';
  else if (passphrase !== undefined) {
    r.issue(a.path('passphrase'), 'Lightning Node Connect (passphrase) is not built here; connect to lnd directly with lndhost, tlspath and macdir', a.node('passphrase'));
    return result;
  } else {
    r.issue(a.basePath, 'no invoice backend: set authenticator.lndhost (with tlspath and macdir), authenticator.backend: dev (test payments), or authenticator.disable: true');
    return result;
  }
  result.backend = backend;
  if (backend === 'dev' && result.network === 'mainnet') {
    // DevInvoicer refuses mainnet at start-up; say so here too, so --check-config does not pass a config that cannot start.
    r.issue(a.path('network'), 'the dev backend refuses mainnet: it gives invoices away for free; use lnd (lndhost, tlspath, macdir) for real payments, or a test network (regtest, testnet, signet, simnet)', a.node('network'));
  }
  if (backend === 'lnd') {
    if (lndHost === undefined) r.issue(a.path('lndhost'), 'lnd host required (host:port of lnd\'s gRPC)');
    else checkAddress(r, a, 'lndhost', lndHost, true, 'issue');
    if (result.tlsPath === undefined) r.issue(a.path('tlspath'), 'lnd tls required (path to lnd\'s tls.cert)');
    else if (!ctx.fileExists(result.tlsPath)) r.warn(a.path('tlspath'), 'missing-file', `${result.tlsPath} does not exist (yet)`, a.node('tlspath'));
    if (result.macDir === undefined) r.issue(a.path('macdir'), 'lnd mac dir required (directory holding invoice.macaroon)');
    else if (!ctx.fileExists(join(result.macDir, 'invoice.macaroon'))) r.warn(a.path('macdir'), 'missing-file', `${join(result.macDir, 'invoice.macaroon')} does not exist (yet)`, a.node('macdir'));
    if (passphrase !== undefined) {
      r.warn(a.path('passphrase'), 'conflict', 'both lndhost and passphrase are set: lndhost wins (direct lnd connection) and the LNC passphrase is ignored; the Go aperture refuses this combination', a.node('passphrase'));
    }
  } else if (lndHost !== undefined) {
    r.warn(a.path('lndhost'), 'ignored', 'backend is dev: lndhost is ignored and invoices are issued by the built-in dev Lightning backend', a.node('lndhost'));
  }
  if (passphrase !== undefined && backend === 'dev') r.warn(a.path('passphrase'), 'ignored', 'backend is dev: passphrase is ignored', a.node('passphrase'));
  if (a.has('mailboxaddress') || a.has('devserver')) {
    const key = a.has('mailboxaddress') ? 'mailboxaddress' : 'devserver';
    if (passphrase === undefined) r.warn(a.path(key), 'not-built', 'Lightning Node Connect is not built here; LNC settings are ignored', a.node(key));
  }
  return result;
}

function compilePattern(r: ConfigReader, source: string, at: string, node: RawNode | undefined): ConfigPattern | undefined {
  try {
    return { source, regexp: compileGoRegexp(source) };
  } catch (error) {
    if (!(error instanceof L402Error)) throw error;
    r.issue(at, error.message, node);
    return undefined;
  }
}

function readServices(
  r: ConfigReader, top: ConfigSection, ctx: ResolveConfigContext, path: (p: string) => string,
  defaults: ServiceDefaults,
): ServiceConfig[] {
  const node = top.node('services');
  if (node === undefined) return [];
  if (node.kind !== 'seq') { r.issue('services', `expected a list of services, found ${describe(node)}`, node); return []; }
  const names = new Map<string, number>();
  const out: ServiceConfig[] = [];
  node.items.forEach((item, index) => {
    const base = `services[${index}]`;
    const name = item.kind === 'map' ? item.entries.get('name')?.value : undefined;
    const nameText = name === undefined ? undefined : scalarText(name);
    if (nameText !== undefined && nameText !== '') {
      const previous = names.get(nameText);
      if (previous !== undefined) r.issue(`${base}.name`, `duplicate service name "${nameText}" (also services[${previous}])`, name);
      else names.set(nameText, index);
    }
    const service = readService(r, item, base, ctx, path, defaults);
    if (service !== undefined) out.push(service);
  });
  return out;
}

/** Per-service defaults that come from top-level keys. */
interface ServiceDefaults { freebieWindowMs: number; upstreamTimeoutMs: number }

/** Reads one `services[]` entry; undefined when it has issues (recorded in `r`). */
function readService(
  r: ConfigReader, item: RawNode, base: string, ctx: ResolveConfigContext, path: (p: string) => string,
  defaults: ServiceDefaults,
): ServiceConfig | undefined {
  const s = r.section(item, base, SERVICE_KEYS);
  if (item.kind !== 'map') return undefined;
  const issuesBefore = r.issues.length;
  const name = s.optString('name');
  if (name === undefined) r.issue(s.path('name'), 'every service needs a name', item);
  else if (/[,:=\s]/.test(name)) r.issue(s.path('name'), `service name "${name}" may not contain ',', ':', '=' or spaces (it is written into the token's services caveat)`, s.node('name'));
  const hostRegexp = compilePattern(r, s.string('hostregexp', ''), s.path('hostregexp'), s.node('hostregexp'));
  const pathText = s.optString('pathregexp');
  const pathRegexp = pathText === undefined ? undefined : compilePattern(r, pathText, s.path('pathregexp'), s.node('pathregexp'));
  const patterns = (key: string): ConfigPattern[] => s.stringList(key).flatMap((e) => compilePattern(r, e.value, e.path, e.node) ?? []);
  const authWhitelistPaths = patterns('authwhitelistpaths');
  const authSkipInvoiceCreationPaths = patterns('authskipinvoicecreationpaths');

  const address = s.optString('address');
  if (address === undefined) r.issue(s.path('address'), 'every service needs an address (host:port of the backend)', item);
  else checkAddress(r, s, 'address', address, false, 'warn');

  const protocolText = s.string('protocol', 'http').toLowerCase();
  if (protocolText !== 'http' && protocolText !== 'https') r.issue(s.path('protocol'), `must be http or https, not "${protocolText}"`, s.node('protocol'));
  const protocol = protocolText === 'https' ? 'https' : 'http';
  const tlsCertText = s.optString('tlscertpath');
  const tlsCertPath = tlsCertText === undefined ? undefined : path(tlsCertText);
  const tlsInsecureSkipVerify = s.bool('tlsinsecureskipverify', false);
  if (protocol === 'https') {
    if (tlsCertPath !== undefined && !ctx.fileExists(resolve(ctx.cwd, tlsCertPath))) {
      r.warn(s.path('tlscertpath'), 'missing-file', `${tlsCertPath} does not exist (yet)`, s.node('tlscertpath'));
    }
    if (tlsCertPath === undefined && !tlsInsecureSkipVerify) {
      r.warn(s.path('protocol'), 'behaviour-change', "the backend's TLS certificate is verified against the system roots (the Go aperture never verified it); set tlscertpath to its certificate, or tlsinsecureskipverify: true", s.node('protocol'));
    }
  } else if (tlsCertPath !== undefined || tlsInsecureSkipVerify) {
    r.warn(s.path(tlsCertPath !== undefined ? 'tlscertpath' : 'tlsinsecureskipverify'), 'ignored', 'has no effect with protocol http', s.node('tlscertpath'));
  }

  const auth = readAuth(r, s);
  const authSchemeText = s.string('authscheme', 'l402').toLowerCase();
  let authScheme: AuthScheme = 'l402';
  if (authSchemeText === 'l402' || authSchemeText === 'mpp' || authSchemeText === 'l402+mpp') authScheme = authSchemeText;
  else r.issue(s.path('authscheme'), `must be l402, mpp or l402+mpp, not "${authSchemeText}"`, s.node('authscheme'));
  if (authScheme === 'mpp') r.issue(s.path('authscheme'), 'MPP (the Payment scheme) is not built here yet, so an mpp-only service could never be paid; use l402 or l402+mpp', s.node('authscheme'));
  if (authScheme === 'l402+mpp') r.warn(s.path('authscheme'), 'not-built', 'MPP is not built here yet; only L402 challenges are sent', s.node('authscheme'));

  const dp = s.section('dynamicprice', DYNAMIC_PRICE_KEYS);
  const dynamicPrice = {
    enabled: dp.bool('enabled', false),
    grpcAddress: dp.string('grpcaddress', ''),
    insecure: dp.bool('insecure', false),
    tlsCertPath: ((t) => (t === undefined ? undefined : path(t)))(dp.optString('tlscertpath')),
    metered: dp.bool('metered', false),
    usageTailBytes: dp.int('usagetailbytes', CONFIG_DEFAULTS.usageTailBytes, 0, MAX_USAGE_TAIL_BYTES) || CONFIG_DEFAULTS.usageTailBytes,
  };
  if (dynamicPrice.metered && !dynamicPrice.enabled) r.issue(dp.path('metered'), 'dynamicprice.metered requires dynamicprice.enabled');
  else if (dynamicPrice.metered) r.warn(dp.path('metered'), 'not-built', 'metered pricing is not built here; the pricer is asked for prices only', dp.node('metered'));
  if (dp.has('usagetailbytes')) r.warn(dp.path('usagetailbytes'), 'not-built', 'metered pricing is not built here; usagetailbytes has no effect', dp.node('usagetailbytes'));
  if (dynamicPrice.enabled) {
    if (dynamicPrice.grpcAddress === '') r.issue(dp.path('grpcaddress'), 'dynamicprice is enabled but grpcaddress is empty');
    else checkAddress(r, dp, 'grpcaddress', dynamicPrice.grpcAddress, true, 'warn');
    if (!dynamicPrice.insecure) {
      if (dynamicPrice.tlsCertPath === undefined) r.issue(dp.path('tlscertpath'), 'dynamicprice needs tlscertpath unless insecure is true');
      else if (!ctx.fileExists(resolve(ctx.cwd, dynamicPrice.tlsCertPath))) r.warn(dp.path('tlscertpath'), 'missing-file', `${dynamicPrice.tlsCertPath} does not exist (yet)`, dp.node('tlscertpath'));
    }
  }

  const priceNode = s.node('price');
  let price = s.int('price', 0, 0, MAX_PRICE_SATS);
  if (!dynamicPrice.enabled && price === 0) {
    if (priceNode !== undefined && r.issues.length === issuesBefore) {
      r.warn(s.path('price'), 'behaviour-change', 'price 0 means the default price of 1 sat (as in the Go aperture); for free access use auth: off', priceNode);
    }
    price = CONFIG_DEFAULTS.servicePrice;
  }

  const timeoutSeconds = s.int('timeout', 0, 0, Number.MAX_SAFE_INTEGER);
  const capsNode = s.node('capabilities');
  let capabilities: string[] = [];
  if (capsNode !== undefined) {
    const text = scalarText(capsNode);
    if (text === undefined) r.issue(s.path('capabilities'), `expected a comma-separated string such as "add,subtract", found ${describe(capsNode)}`, capsNode);
    else capabilities = text.split(',').map((c) => c.trim()).filter((c) => c !== '');
  }
  const constraints: Record<string, string> = {};
  for (const c of s.stringMap('constraints')) {
    if (c.key.includes('=') || c.key.trim() === '') r.issue(c.path, 'a constraint key may not be empty or contain "=" (it becomes a key=value caveat)', c.node);
    else constraints[c.key] = c.value;
  }
  const headers: Record<string, string> = {};
  for (const h of s.stringMap('headers')) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h.key)) { r.issue(h.path, `"${h.key}" is not a valid HTTP header name`, h.node); continue; }
    const resolved = resolveHeaderValue(h.value, { env: ctx.env, readFile: ctx.readFile, cwd: ctx.cwd });
    if (resolved.ok) headers[h.key] = resolved.value;
    else r.issue(h.path, resolved.reason, h.node);
  }
  const rewrite = s.section('rewrite', ['prefix']);
  const rewritePrefix = readRewritePrefix(r, rewrite);
  const rateLimits = readRateLimits(r, s);
  const freebieWindowMs = s.duration('freebiewindow', defaults.freebieWindowMs, 0);
  const upstreamTimeoutMs = s.duration('upstreamtimeout', defaults.upstreamTimeoutMs, 0);
  if (s.has('freebiewindow') && auth.mode !== 'freebie') r.warn(s.path('freebiewindow'), 'ignored', 'has no effect unless auth is "freebie N"', s.node('freebiewindow'));

  if (r.issues.length > issuesBefore || name === undefined || hostRegexp === undefined || address === undefined) return undefined;
  return {
    name, hostRegexp, pathRegexp, address, protocol, tlsCertPath, tlsInsecureSkipVerify, auth,
    authWhitelistPaths, authSkipInvoiceCreationPaths, price, timeoutSeconds, capabilities, constraints,
    headers, rewritePrefix, dynamicPrice, authScheme, rateLimits, freebieWindowMs, upstreamTimeoutMs,
    entry: rawToJson(item) as Record<string, JsonValue>,
  };
}

/**
 * Where the admin root key lives, as the reference derives it: the macaroon
 * path without a `.macaroon` suffix, plus `.rootkey` (`admin.macaroon` →
 * `admin.rootkey`, `creds` → `creds.rootkey`).
 *
 * @param macaroonPath - `admin.macaroonpath`
 * @returns the root key's path
 */
export function adminRootKeyPath(macaroonPath: string): string {
  return `${macaroonPath.endsWith('.macaroon') ? macaroonPath.slice(0, -'.macaroon'.length) : macaroonPath}.rootkey`;
}

/**
 * `admin`: the admin API served by the program on its listener. A plaintext
 * (`insecure: true`) listener on an address other than loopback would carry
 * the admin macaroon in the clear: refused unless `admin.allowinsecureremote`.
 */
function readAdmin(
  r: ConfigReader, top: ConfigSection, baseDir: string, listenAddr: string, insecure: boolean,
  path: (p: string) => string, abs: (p: string) => string,
): ApertureConfig['admin'] {
  const s = top.section('admin', ['enabled', 'macaroonpath', 'corsorigin', 'allowinsecureremote']);
  const macaroonText = s.string('macaroonpath', join(baseDir, 'admin.macaroon'));
  const macaroonPath = abs(path(macaroonText));
  const admin = {
    enabled: s.bool('enabled', false),
    macaroonPath,
    rootKeyPath: adminRootKeyPath(macaroonPath),
    corsOrigins: readCorsOrigins(r, s),
    allowInsecureRemote: s.bool('allowinsecureremote', false),
  };
  if (macaroonText.endsWith('/') || macaroonPath === parse(macaroonPath).root) {
    r.issue(s.path('macaroonpath'), `"${macaroonPath}" is a directory; name the file, e.g. ${join(macaroonPath, 'admin.macaroon')}`, s.node('macaroonpath'));
  }
  if (admin.enabled && insecure && listenAddr !== '' && !admin.allowInsecureRemote && !isLoopbackListenAddr(listenAddr)) {
    r.issue(s.path('enabled'), insecureRemoteAdminMessage(listenAddr), s.node('enabled'));
  }
  if (!admin.enabled) {
    for (const key of ['macaroonpath', 'corsorigin', 'allowinsecureremote']) {
      if (s.has(key)) r.warn(s.path(key), 'ignored', `admin.enabled is false: admin.${key} has no effect`, s.node(key));
    }
  }
  return admin;
}

/**
 * Whether a listen address only accepts connections from this machine:
 * `localhost`, 127.0.0.0/8 or `[::1]` (an empty host or `0.0.0.0` is every interface).
 * @param listenAddr - `host:port` or `[v6]:port`
 * @returns whether it is loopback only
 */
export function isLoopbackListenAddr(listenAddr: string): boolean {
  const v6 = /^\[([^\]]+)\]:\d*$/.exec(listenAddr);
  const host = (v6?.[1] ?? listenAddr.slice(0, Math.max(0, listenAddr.lastIndexOf(':')))).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return /^127(\.\d{1,3}){3}$/.test(v4);
}

/**
 * Why a plaintext admin listener on a non-loopback address is refused (the
 * same words in `--check-config` and at start).
 * @param listenAddr - the listen address
 * @returns the message, naming the code and the key that allows it
 */
export function insecureRemoteAdminMessage(listenAddr: string): string {
  return `the admin API would be served over plaintext HTTP on ${listenAddr}, which is not loopback: its macaroon would cross the network in the clear (L402_ERR_ADMIN_INSECURE_REMOTE); serve TLS (insecure: false), listen on loopback (e.g. 127.0.0.1), or set admin.allowinsecureremote: true behind a TLS-terminating proxy you trust`;
}

/** `admin.corsorigin`: `*` or origins `http(s)://host[:port]`, as browsers send them in `Origin`. */
function readCorsOrigins(r: ConfigReader, s: ConfigSection): string[] {
  const out: string[] = [];
  for (const item of s.stringList('corsorigin')) {
    const origin = item.value.trim();
    if (origin === '*') { out.push(origin); continue; }
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin.replace(/\/$/, '').toLowerCase() || url.username !== '' || url.password !== '') {
      r.issue(item.path, `"${item.value}" is not an origin: write "*" or scheme://host[:port] without a path, e.g. https://dashboard.example.com`, item.node);
      continue;
    }
    out.push(url.origin);
  }
  return out;
}

function readAuth(r: ConfigReader, s: ConfigSection): ServiceAuth {
  const node = s.node('auth');
  if (node === undefined) return { mode: 'on' };
  if (node.kind === 'scalar' && typeof node.value === 'boolean') return node.value ? { mode: 'on' } : { mode: 'off' };
  const text = scalarText(node);
  const lower = text?.toLowerCase();
  if (lower === '' || lower === 'on' || lower === 'true') return { mode: 'on' };
  if (lower === 'off' || lower === 'false') return { mode: 'off' };
  if (lower?.startsWith('freebie')) {
    const parts = lower.split(' ');
    if (parts.length === 2 && /^\+?\d{1,9}$/.test(parts[1] ?? '')) return { mode: 'freebie', count: Number(parts[1]) };
    r.issue(s.path('auth'), `"${text ?? ''}" must be "freebie N" with one space and a non-negative whole number N`, node);
    return { mode: 'on' };
  }
  r.issue(s.path('auth'), `must be on, off or "freebie N", not ${describe(node)}`, node);
  return { mode: 'on' };
}

function readRewritePrefix(r: ConfigReader, s: ConfigSection): string | undefined {
  const prefix = s.optString('prefix');
  if (prefix === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(prefix, 'http://placeholder.invalid');
  } catch {
    r.issue(s.path('prefix'), `invalid prefix format "${prefix}"`, s.node('prefix'));
    return undefined;
  }
  if (!prefix.startsWith('/') || prefix.startsWith('//') || url.search !== '' || url.hash !== '' || prefix.includes('?') || prefix.includes('#')) {
    r.issue(s.path('prefix'), `expected an absolute path such as /api/v1, got "${prefix}"`, s.node('prefix'));
    return undefined;
  }
  return url.pathname;
}

function readRateLimits(r: ConfigReader, s: ConfigSection): ServiceRateLimitConfig[] {
  const node = s.node('ratelimits');
  if (node === undefined) return [];
  if (node.kind !== 'seq') { r.issue(s.path('ratelimits'), `expected a list of {pathregexp, requests, per, burst}, found ${describe(node)}`, node); return []; }
  const out: ServiceRateLimitConfig[] = [];
  node.items.forEach((item, i) => {
    const at = `${s.path('ratelimits')}[${i}]`;
    const rule = r.section(item, at, ['pathregexp', 'requests', 'per', 'burst']);
    if (item.kind !== 'map') return;
    const before = r.issues.length;
    const patternText = rule.optString('pathregexp');
    const pathRegexp = patternText === undefined ? undefined : compilePattern(r, patternText, rule.path('pathregexp'), rule.node('pathregexp'));
    if (!rule.has('requests')) r.issue(rule.path('requests'), 'requests is required and must be positive', item);
    const requests = rule.int('requests', 0, 1, 2 ** 31 - 1);
    if (!rule.has('per')) r.issue(rule.path('per'), 'per is required and must be a positive duration such as 1s', item);
    const perMs = rule.duration('per', 0);
    if (rule.has('per') && perMs <= 0 && r.issues.length === before) r.issue(rule.path('per'), 'per must be a positive duration', rule.node('per'));
    const burstRaw = rule.int('burst', 0, 0, 2 ** 31 - 1);
    if (r.issues.length > before) return;
    out.push({ pathRegexp, requests, perMs, burst: burstRaw === 0 ? requests : burstRaw });
  });
  return out;
}
