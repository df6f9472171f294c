/**
 * Gives meaning to a raw config tree: every key of the Go aperture's
 * aperture.yaml, plus this implementation's few extensions. Records every
 * problem with its path instead of stopping at the first. The top level and
 * logging are read here; `services`, `authenticator` and `admin` each have a
 * module of their own (resolve-services.ts, resolve-authenticator.ts,
 * resolve-admin.ts), sharing config-context.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ApertureConfig, ConfigWarning, IpRange, LogLevel } from './aperture-config.js';
import type { LogSubsystem } from '../ops/logger.js';
import { CONFIG_DEFAULTS, checkAddress, expandPath, type ResolveConfigContext } from './config-context.js';
import { ConfigReader, type ConfigSection, scalarText } from './config-reader.js';
import { parseIpRange } from './ip-range.js';
import type { LocatedConfigIssue, RawNode } from './raw-node.js';
import { readAdmin } from './resolve-admin.js';
import { AUTH_KEYS, readAuthenticator } from './resolve-authenticator.js';
import { readServices } from './resolve-services.js';

// Each section in a module of its own; these names stay importable from here.
export { CONFIG_DEFAULTS, expandPath, type ResolveConfigContext } from './config-context.js';
export { adminRootKeyPath, insecureRemoteAdminMessage, isLoopbackListenAddr } from './resolve-admin.js';
export { resolveServiceEntry, type ResolveServiceEntryOptions, type ResolvedServiceEntry } from './resolve-services.js';

/** Result of `resolveConfig`: the config when there are no issues. */
export interface ResolvedConfig {
  config: ApertureConfig | undefined;
  issues: LocatedConfigIssue[];
  warnings: ConfigWarning[];
}

/** Lower-case key names of the Go reference, by section. */
const REFERENCE_TOP = [
  'listenaddr',
  'servername',
  'autocert',
  'insecure',
  'staticroot',
  'servestatic',
  'dbbackend',
  'sqlite',
  'postgres',
  'etcd',
  'authenticator',
  'tor',
  'services',
  'hashmail',
  'prometheus',
  'admin',
  'debuglevel',
  'configfile',
  'basedir',
  'profile',
  'idletimeout',
  'readtimeout',
  'writetimeout',
  'invoicebatchsize',
  'strictverify',
  'logging',
  'wspinginterval',
  'wspongwait',
  'blocklist',
] as const;
const EXTENSION_TOP = [
  'challengeform',
  'trustedproxies',
  'ratelimitstore',
  'freebiewindow',
  'upstreamtimeout',
  'globalchallengelimit',
  'maxconcurrentstreams',
  'upstreamconnections',
  'upstreamqueue',
] as const;
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
    r.warn(
      top.path('configfile'),
      'ignored',
      'configfile inside a config file has no effect (the file is already being read); pass --configfile instead',
      top.node('configfile'),
    );
  }

  const listenAddr = top.string('listenaddr', '');
  if (listenAddr === '')
    r.issue('listenaddr', 'missing listen address for the server (e.g. "localhost:8081"); the reference has no default either');
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
  const invoiceBatchSize = top.int('invoicebatchsize', CONFIG_DEFAULTS.invoiceBatchSize, 1, 2 ** 31 - 1);
  const strictVerify = top.bool('strictverify', false);
  const profile = top.int('profile', 0, 0, 65535);
  if (profile !== 0 && profile < 1024) r.issue('profile', 'the profile port must be between 1024 and 65535', top.node('profile'));
  else if (profile !== 0)
    r.warn(
      'profile',
      'not-built',
      'the pprof profile server is not built here; profile is ignored (use node --inspect)',
      top.node('profile'),
    );

  const autoCert = top.bool('autocert', false);
  const serverName = top.string('servername', '');
  if (autoCert) {
    r.warn(
      'autocert',
      'not-built',
      "Let's Encrypt autocert is not built here; a self-signed <basedir>/tls.cert is used instead",
      top.node('autocert'),
    );
    if (serverName === '') r.issue('servername', 'autocert needs servername');
  }
  const insecure = top.bool('insecure', false);
  if (!insecure) {
    // Start-up creates a missing pair but refuses a lone certificate or key (it cannot tell which one is stale).
    const certPath = join(baseDir, 'tls.cert');
    const keyPath = join(baseDir, 'tls.key');
    const haveCert = ctx.fileExists(certPath);
    if (haveCert !== ctx.fileExists(keyPath)) {
      r.issue(
        'basedir',
        `found ${haveCert ? certPath : keyPath} without ${haveCert ? keyPath : certPath}; remove it to have a new pair created, or add the missing file`,
        top.node('basedir'),
      );
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
  if (dbBackend === 'etcd')
    r.issue(
      'dbbackend',
      'the etcd backend is not built here; use sqlite or postgres (tokens are not migrated from etcd)',
      top.node('dbbackend'),
    );
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
  const pg = top.section('postgres', [
    'host',
    'port',
    'user',
    'password',
    'dbname',
    'maxconnections',
    'maxopenconnections',
    'requiressl',
    'skipmigrations',
  ]);
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
      if (etcdSection.has(key))
        r.warn(
          etcdSection.path(key),
          'not-built',
          `etcd.${key} is only used by dbbackend: etcd, which is not built here; it has no effect`,
          etcdSection.node(key),
        );
    }
  }

  const authenticator = readAuthenticator(r, top.section('authenticator', AUTH_KEYS), path, ctx, listenAddr);
  if (strictVerify && authenticator.backend === 'wavelength') {
    // As the reference: strict verification needs every invoice's state, which the Wavelength gateway does not report.
    r.issue(
      top.path('strictverify'),
      'strictverify is not supported with the Wavelength backend (wavelengthgateway): the wallet gateway reports no settlement to verify against',
      top.node('strictverify'),
    );
  }

  const admin = readAdmin(r, top, baseDir, listenAddr, insecure, path, abs);

  const hm = top.section('hashmail', ['enabled', 'messagerate', 'messageburstallowance', 'staletimeout']);
  const hashmail = {
    enabled: hm.bool('enabled', false),
    messageRateMs: hm.duration('messagerate', 0, 0),
    messageBurstAllowance: hm.int('messageburstallowance', 0, 0, 2 ** 31 - 1),
    staleTimeoutMs: hm.duration('staletimeout', 0),
  };
  if (!hashmail.enabled) {
    for (const key of ['messagerate', 'messageburstallowance', 'staletimeout']) {
      if (hm.has(key)) r.warn(hm.path(key), 'ignored', `hashmail.enabled is false: hashmail.${key} has no effect`, hm.node(key));
    }
    for (const key of ['wspinginterval', 'wspongwait']) {
      if (top.has(key))
        r.warn(key, 'ignored', `${key} applies to the hashmail WebSockets, and hashmail.enabled is false; it has no effect`, top.node(key));
    }
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
    if (torSection.has(key))
      r.warn(
        torSection.path(key),
        'not-built',
        `Tor onion services are not built here; tor.${key} has no effect (nothing listens on it)`,
        torSection.node(key),
      );
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
    r.warn(
      consoleSection.path('style'),
      'not-built',
      'styled (coloured) console lines are not built here; log lines are JSON',
      consoleSection.node('style'),
    );
  }
  const callSite = consoleSection.string('callsite', 'off').toLowerCase();
  if (!['off', 'short', 'long'].includes(callSite))
    r.issue(consoleSection.path('callsite'), `must be off, short or long, not "${callSite}"`, consoleSection.node('callsite'));
  else if (callSite !== 'off')
    r.warn(
      consoleSection.path('callsite'),
      'not-built',
      'call sites in log lines are not built here; lines carry a subsystem field instead',
      consoleSection.node('callsite'),
    );
  fileSection.string('callsite', '');
  const logging: ApertureConfig['logging'] = {
    console: {
      disable: consoleSection.bool('disable', false),
      level: consoleLevel,
      noTimestamps: consoleSection.bool('notimestamps', false),
    },
    fileDisable: fileSection.bool('disable', false),
    accessLog: logSection.bool('accesslog', true),
  };
  if (logSection.has('file') && !logging.fileDisable) {
    r.warn(
      'logging.file',
      'not-built',
      'file logging is not built here; logs go to stdout (redirect or use a log collector)',
      logSection.node('file'),
    );
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
  if (rlBackend !== 'memory' && rlBackend !== 'redis')
    r.issue('ratelimitstore.backend', `must be "memory" or "redis", not "${rlBackend}"`, rls.node('backend'));
  if (onStoreError !== 'allow' && onStoreError !== 'deny')
    r.issue('ratelimitstore.onstoreerror', `must be "allow" or "deny", not "${onStoreError}"`, rls.node('onstoreerror'));
  if (rlBackend === 'redis') {
    if (redisUrl === undefined) r.issue('ratelimitstore.redisurl', 'the redis backend needs redisurl (e.g. redis://127.0.0.1:6379)');
    else if (!/^rediss?:\/\//i.test(redisUrl))
      r.issue('ratelimitstore.redisurl', `"${redisUrl}" is not a redis:// or rediss:// URL`, rls.node('redisurl'));
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

  const services = readServices(r, top, ctx, path, {
    freebieWindowMs,
    upstreamTimeoutMs,
    ...(authenticator.disable ? {} : { mppEnabled: authenticator.enableMpp }),
  });

  if (r.issues.length > 0) return { config: undefined, issues: r.issues, warnings: r.warnings };
  const config: ApertureConfig = {
    configFile: ctx.configFile,
    configFileFound: ctx.configFileFound,
    baseDir,
    tlsCertPath: join(baseDir, 'tls.cert'),
    tlsKeyPath: join(baseDir, 'tls.key'),
    listenAddr,
    serverName,
    autoCert,
    insecure,
    staticRoot: staticRoot === '' ? '' : abs(staticRoot),
    serveStatic,
    debugLevel,
    logLevel,
    logSubsystems,
    idleTimeoutMs,
    readTimeoutMs,
    writeTimeoutMs,
    wsPingIntervalMs,
    wsPongWaitMs,
    invoiceBatchSize,
    strictVerify,
    profile,
    dbBackend,
    sqlite,
    postgres,
    etcd,
    authenticator,
    admin,
    hashmail,
    tor,
    prometheus,
    blocklist,
    logging,
    services,
    challengeForm,
    trustedProxies,
    rateLimitStore,
    freebieWindowMs,
    upstreamTimeoutMs,
    globalChallengeLimit,
    maxConcurrentStreams,
    upstreamConnections,
    upstreamQueue,
  };
  return { config, issues: [], warnings: r.warnings };
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
  if (!s.has('requests'))
    r.issue(
      s.path('requests'),
      'requests is required: fresh challenges per window across all clients, or 0 for no global limit',
      top.node('globalchallengelimit'),
    );
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
function parseDebugLevel(
  r: ConfigReader,
  s: ConfigSection,
  text: string,
): { global: LogLevel; subsystems: Partial<Record<LogSubsystem, LogLevel>> } {
  let global: LogLevel = 'info';
  const subsystems: Partial<Record<LogSubsystem, LogLevel>> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
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
      r.warn(
        s.path('debuglevel'),
        'not-built',
        `subsystem ${name}: ${OTHER_SUBSYSTEMS[name] ?? ''}; its level has no effect`,
        s.node('debuglevel'),
      );
    } else {
      r.issue(
        s.path('debuglevel'),
        `unknown subsystem "${part.slice(0, eq).trim()}" (${[...BUILT_SUBSYSTEMS, ...Object.keys(OTHER_SUBSYSTEMS)].join(', ')})`,
        s.node('debuglevel'),
      );
    }
  }
  return { global, subsystems };
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
