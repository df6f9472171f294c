/**
 * What every section of aperture.yaml is resolved with: the environment and
 * file access, the reference's defaults, `~`/`$VAR` expansion, and the checks
 * sections share (addresses, regular expressions).
 */
import { normalize } from 'node:path';
import type { ConfigPattern } from './aperture-config.js';
import { checkHostPort } from './check-host-port.js';
import type { ConfigReader, ConfigSection } from './config-reader.js';
import { compileGoRegexp } from '../../core/go-regexp.js';
import { L402Error } from '../../core/errors.js';
import type { RawNode } from './raw-node.js';

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
  p = p.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? '',
  );
  return normalize(p);
}

/**
 * Records a `host:port` that cannot name an endpoint, as an issue or a warning.
 * @internal
 */
export function checkAddress(
  r: ConfigReader,
  s: ConfigSection,
  key: string,
  value: string,
  portRequired: boolean,
  severity: 'issue' | 'warn',
): void {
  const problem = checkHostPort(value, portRequired);
  if (problem === undefined) return;
  if (severity === 'issue') r.issue(s.path(key), problem, s.node(key));
  else r.warn(s.path(key), 'address', `${problem}; requests to it will fail`, s.node(key));
}

/**
 * Compiles a Go regular expression of the configuration; an issue at `at` when it does not compile.
 * @internal
 */
export function compilePattern(r: ConfigReader, source: string, at: string, node: RawNode | undefined): ConfigPattern | undefined {
  try {
    return { source, regexp: compileGoRegexp(source) };
  } catch (error) {
    if (!(error instanceof L402Error)) throw error;
    r.issue(at, error.message, node);
    return undefined;
  }
}
