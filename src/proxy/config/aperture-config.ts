/**
 * The validated configuration of the `aperture` binary: what an aperture.yaml
 * means once every key has been checked, every default applied, every regular
 * expression compiled, every duration converted to milliseconds and every
 * header value resolved. See docs/configuration.md for each key.
 */
import type { HttpBackendConfig, HttpLightningBackend } from './http-backend-config.js';
import type { WavelengthConfig } from './wavelength-config.js';
import type { GoRegexp } from '../../core/go-regexp.js';

import type { LogSubsystem } from '../ops/logger.js';
import type { JsonValue } from './raw-node.js';

/** A log level of the reference (`debuglevel`, `logging.console.level`). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical' | 'off';

/** A regular expression from the config: the text as written, and the compiled form. */
export interface ConfigPattern {
  /** The expression as written in the file (Go RE2 syntax). */
  source: string;
  /** The compiled expression: `test()` is stateless, unanchored like Go's `MatchString`, and linear in the input. */
  regexp: GoRegexp;
}

/** An IP address or CIDR range (`blocklist`, `trustedproxies`). */
export interface IpRange {
  /** As written in the file. */
  text: string;
  /** Network address, normalised. */
  address: string;
  /** Prefix length: 32 / 128 for a single address. */
  prefixLength: number;
  /** Address family. */
  family: 'ipv4' | 'ipv6';
}

/** `auth` of a service: always pay, never pay, or N free requests per masked client IP. */
export type ServiceAuth = { mode: 'on' } | { mode: 'off' } | { mode: 'freebie'; count: number };

/** One `ratelimits` rule of a service: a token bucket of `requests` per `perMs`, capacity `burst`. */
export interface ServiceRateLimitConfig {
  /** Paths the rule applies to; undefined = every path of the service. */
  pathRegexp: ConfigPattern | undefined;
  /** Requests allowed per window (positive). */
  requests: number;
  /** Window length in milliseconds (positive). */
  perMs: number;
  /** Bucket capacity; `requests` when not configured. */
  burst: number;
}

/** `dynamicprice` of a service: ask a pricesrpc.Prices gRPC server for each price. */
export interface DynamicPriceConfig {
  enabled: boolean;
  /** host:port of the pricer. */
  grpcAddress: string;
  /** Plaintext gRPC (no TLS) to the pricer. */
  insecure: boolean;
  /** The pricer's TLS certificate (used when not insecure). */
  tlsCertPath: string | undefined;
  /** Metered MPP sessions: a session request is debited the pricer's `QuoteSession` and settled by its `SettleSession`. */
  metered: boolean;
  /** Metered sessions: trailing response bytes captured for `SettleSession` (default 16384). */
  usageTailBytes: number;
}

/** Payment schemes a service offers. */
export type AuthScheme = 'l402' | 'mpp' | 'l402+mpp';

/** One entry of `services`. */
export interface ServiceConfig {
  /** Unique name; used in the `services` caveat and `<name>_capabilities`. */
  name: string;
  /** Matched against the Host header (with port); the empty expression matches every host. */
  hostRegexp: ConfigPattern;
  /** Matched against the URL path, when set. */
  pathRegexp: ConfigPattern | undefined;
  /** host:port of the backend. */
  address: string;
  /** Scheme used to reach the backend. */
  protocol: 'http' | 'https';
  /** CA / certificate the backend's TLS is verified against (in addition to the system roots). */
  tlsCertPath: string | undefined;
  /** Extension: skip verification of the backend's TLS certificate (the reference never verified it). */
  tlsInsecureSkipVerify: boolean;
  auth: ServiceAuth;
  /** Paths that need no payment. */
  authWhitelistPaths: ConfigPattern[];
  /** Paths where an unauthenticated request gets 401 instead of a fresh invoice. */
  authSkipInvoiceCreationPaths: ConfigPattern[];
  /** Static price in satoshis (0 in the file means the reference's default of 1). */
  price: number;
  /** Seconds a token stays valid (`<name>_valid_until` caveat); 0 = no expiry. */
  timeoutSeconds: number;
  /** Capabilities granted at the base tier (`<name>_capabilities` caveat). */
  capabilities: string[];
  /** Extra `key=value` caveats. */
  constraints: Record<string, string>;
  /** Headers set on every upstream request, already resolved (`${ENV}`, `!file+hex:`, `!file+base64:`). */
  headers: Record<string, string>;
  /** Absolute path prefix prepended to the forwarded path. */
  rewritePrefix: string | undefined;
  dynamicPrice: DynamicPriceConfig;
  authScheme: AuthScheme;
  rateLimits: ServiceRateLimitConfig[];
  /** Extension: window after which freebie counters reset, in ms; 0 = never (the reference). */
  freebieWindowMs: number;
  /** Extension: how long to wait for the backend's response headers, in ms; 0 = no limit. */
  upstreamTimeoutMs: number;
  /**
   * The `services[]` entry this was read from, as JSON: keys as written, header
   * values unresolved (`${ENV}` and `!file+…` references stay references). What the
   * admin API stores and shows, and what a copy of the service is built from.
   */
  entry: Readonly<Record<string, JsonValue>>;
}

/** Which Lightning backend issues invoices. */
export type LightningBackendKind = 'lnd' | 'dev' | HttpLightningBackend | 'wavelength' | 'none';

/** `authenticator`: the Lightning node that issues invoices. */
export interface AuthenticatorConfig {
  /** Chain network (regtest, simnet, testnet, mainnet, signet), if set. */
  network: string | undefined;
  /** No payments at all: every request is forwarded. */
  disable: boolean;
  /** Extension: the backend in use; `none` only when `disable` is set. */
  backend: LightningBackendKind;
  lndHost: string | undefined;
  /** lnd's tls.cert, `~` expanded. */
  tlsPath: string | undefined;
  /** lnd's macaroon directory (invoice.macaroon is read from it), `~` expanded. */
  macDir: string | undefined;
  /** Lightning Node Connect: with no `lndhost`, lnd is reached through the mailbox with this pairing phrase. */
  passphrase: string | undefined;
  /** The LNC mailbox, `host:port` (the reference's by default). */
  mailboxAddress: string;
  /** Leave the LNC mailbox's TLS certificate unverified (tests, development mailboxes). */
  devServer: boolean;
  /** Offer and accept the Payment scheme (MPP) on services whose `authscheme` names it. */
  enableMpp: boolean;
  /** Realm of Payment challenges; `listenaddr` by default. */
  mppRealm: string;
  /** The session intent besides the charge (needs `enableMpp`). */
  enableSessions: boolean;
  /**
   * Extension: also accept Payment challenges the Go aperture issued with the shared secret (lossless switch);
   * `undefined` (unset) = on when the database was adopted from the Go aperture.
   */
  acceptGoChallenges: boolean | undefined;
  /** Session deposit = price × this; 20 by default (0 means the default). */
  sessionDepositMultiplier: number;
  /** Idle sessions are closed and refunded after this many seconds; 300 by default (0 means the default). */
  sessionIdleTimeoutSeconds: number;
  /** Extension: the settings of `backend: cln | lnbits | phoenixd | nwc` (http-backend-config.ts). */
  http?: HttpBackendConfig;
  /** The reference's `wavelengthgateway` and `wavelengthmacaroonpath`, when they select the Wavelength backend (wavelength-config.ts). */
  wavelength?: WavelengthConfig;
  /** Extension: a macaroon that can pay, for session refunds through lnd (`paymacaroonpath`), `~` expanded. */
  payMacaroonPath: string | undefined;
}

/** `ratelimitstore` (extension): where token buckets live. */
export interface RateLimitStoreConfig {
  backend: 'memory' | 'redis';
  /** redis://… URL, required for the redis backend. */
  redisUrl: string | undefined;
  /** What to do when the store cannot be reached: let requests through, or refuse them (503). */
  onStoreError: 'allow' | 'deny';
}

/** The complete, validated configuration of the `aperture` binary. */
export interface ApertureConfig {
  /** The config file that was read, or that would have been read when absent. */
  configFile: string;
  /** Whether that file existed. */
  configFileFound: boolean;
  /** Directory for aperture's own files, `~` expanded. */
  baseDir: string;
  /** Self-signed TLS certificate and key used when no other is configured: `<basedir>/tls.cert`, `tls.key`. */
  tlsCertPath: string;
  tlsKeyPath: string;
  listenAddr: string;
  serverName: string;
  autoCert: boolean;
  /** Plaintext (h2c and HTTP/1.1) instead of TLS on the listener. */
  insecure: boolean;
  staticRoot: string;
  serveStatic: boolean;
  /** `debuglevel` as written (a level, optionally with `SUBSYSTEM=level` parts). */
  debugLevel: string;
  /** The global level from `debuglevel`. */
  logLevel: LogLevel;
  /** Levels of single subsystems from `debuglevel` (`PRXY=debug`), for those this implementation has. */
  logSubsystems: Partial<Record<LogSubsystem, LogLevel>>;
  idleTimeoutMs: number;
  readTimeoutMs: number;
  writeTimeoutMs: number;
  /** Ping interval of the hashmail WebSockets (`wspinginterval`); 0 = none. */
  wsPingIntervalMs: number;
  /** How long past a ping a silent hashmail WebSocket is kept (`wspongwait`). */
  wsPongWaitMs: number;
  invoiceBatchSize: number;
  strictVerify: boolean;
  /** pprof port of the reference (not built here); 0 = off. */
  profile: number;
  dbBackend: 'sqlite' | 'postgres' | 'etcd';
  sqlite: {
    /** The file opened: `sqlite.databasefilename` (the Go aperture's key), else `sqlite.dbfile`, else `<basedir>/aperture.db`. */
    dbFile: string;
    /**
     * The file the Go aperture opens with this configuration: `databasefilename`, else
     * `aperture.db` in its data directory (`~/.aperture` on Linux), whatever `basedir` and
     * `dbfile` say. `--check-config` and the start-up look there for its database.
     */
    referenceDbFile: string;
    skipMigrations: boolean;
  };
  postgres: {
    host: string;
    port: number;
    user: string;
    password: string;
    dbName: string;
    maxConnections: number;
    requireSsl: boolean;
    skipMigrations: boolean;
  };
  etcd: { host: string; user: string; password: string };
  authenticator: AuthenticatorConfig;
  /**
   * `admin`: the admin API, served by the program on its listener when `enabled`.
   * `rootKeyPath` is derived from `macaroonPath` as the reference does; `corsOrigins`
   * are `*` or `scheme://host[:port]`; `allowInsecureRemote` (`admin.allowinsecureremote`,
   * an extension) lets a plaintext listener on a non-loopback address serve it.
   */
  admin: {
    enabled: boolean;
    macaroonPath: string;
    rootKeyPath: string;
    corsOrigins: string[];
    allowInsecureRemote: boolean;
    dashboard: boolean;
  };
  /** The LNC mailbox server (`hashmail.*`); 0 means the reference's default for each number, a negative stale timeout none. */
  hashmail: { enabled: boolean; messageRateMs: number; messageBurstAllowance: number; staleTimeoutMs: number };
  tor: { control: string; listenPort: number; virtualPort: number; v3: boolean };
  prometheus: { enabled: boolean; listenAddr: string };
  /** Clients refused with 403. */
  blocklist: IpRange[];
  logging: {
    /** `logging.console`: the only log output here (standard output). */
    console: {
      /** No log lines at all. */
      disable: boolean;
      /** Threshold of the console on top of `debuglevel`; undefined = none. */
      level: LogLevel | undefined;
      /** Lines without the `time` field. */
      noTimestamps: boolean;
    };
    fileDisable: boolean;
    /** Extension (`logging.accesslog`, default true): one `PRXY` info line per request, as the reference writes. */
    accessLog: boolean;
  };
  services: ServiceConfig[];
  /** Extension: form of the 402 challenge (`reference` two lines LSAT + L402, or the spec's `L402 version="0", token=…`). */
  challengeForm: 'reference' | 'spec';
  /** Extension: peers whose `X-Forwarded-For` / `Forwarded` is believed. */
  trustedProxies: IpRange[];
  rateLimitStore: RateLimitStoreConfig;
  /** Extension: default freebie window (per-service `freebiewindow` overrides), ms. */
  freebieWindowMs: number;
  /** Extension: default upstream response-header timeout (per-service overrides), ms. */
  upstreamTimeoutMs: number;
  /**
   * Extension `globalchallengelimit`: a token bucket of fresh challenges (each mints an
   * invoice and a ledger row) shared by every client, on top of the per-network limit;
   * `undefined` with `requests: 0` (no global limit).
   */
  globalChallengeLimit: { requests: number; perMs: number; burst: number } | undefined;
  /** Extension: HTTP/2 streams a client connection may have open at once (advertised in SETTINGS). */
  maxConcurrentStreams: number;
  /** Extension: most connections to one REST backend origin; 0 = no limit. */
  upstreamConnections: number;
  /** Extension: most requests waiting for a connection to one REST backend origin (then 503); 0 = no limit. */
  upstreamQueue: number;
}

/** What a {@link ConfigWarning} is about, so tools can filter or count them. */
export type ConfigWarningKind =
  | 'unknown-key' // not a key of the reference nor an extension (a typo?)
  | 'not-built' // a reference feature this implementation does not have
  | 'ignored' // a key with no effect where it is
  | 'conflict' // two settings disagree; the message says which wins
  | 'address' // an address that cannot resolve or looks wrong
  | 'missing-file' // a referenced file does not exist (yet)
  | 'behaviour-change'; // the same setting behaves differently from the reference

/** A problem that does not stop aperture from starting. */
export interface ConfigWarning {
  /** Path of the key, e.g. `services[2].dynamicprice.enbled`. */
  path: string;
  kind: ConfigWarningKind;
  message: string;
  /** For unknown keys: the closest known key at that place. */
  suggestion?: string;
  line?: number;
}
