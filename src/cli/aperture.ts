/**
 * The `aperture` program: what operators run instead of the Go aperture, with
 * the same aperture.yaml. `bin/aperture.js` calls {@link main}.
 */
import { ConfigError, L402Error } from '../core/errors.js';
import { checkConfig, checkDatabase, referenceDatabaseWarning, type LoadConfigOptions } from '../proxy/config/check-config.js';
import { closestKey } from '../proxy/config/closest-key.js';
import { formatConfigReport } from '../proxy/config/format-config-report.js';
import type { AuthenticatorConfig } from '../proxy/config/aperture-config.js';
import { startAperture, type RunningAperture, type StartApertureOptions } from '../app/start-aperture.js';
import { missingPackagesError } from '../app/required-packages.js';
import { limitHeapGrowth } from './heap-growth.js';
import { packageVersion } from './package-version.js';

/** Where `main` writes and what it reads from the process; every field defaults to the real process. */
export interface CliIo {
  /** Human-readable output and logs. */
  stdout?: { write(text: string): unknown };
  /** Errors. */
  stderr?: { write(text: string): unknown };
  /** Environment (`${VAR}` in headers, `APERTURE_POSTGRES_SCHEMA`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative paths are resolved against. */
  cwd?: string;
  /** Stops the proxy (drain, then exit 0) when aborted, like SIGTERM. */
  signal?: AbortSignal;
  /** Listen for SIGTERM and SIGINT; default true. */
  handleSignals?: boolean;
  /** Told once the proxy listens (tests, embedding). */
  onStarted?: (aperture: RunningAperture) => void;
  /**
   * Apply the program's limit on V8 heap growth to this process (see
   * `limitHeapGrowth`); default true. V8 flags are process-wide: a program
   * embedding `main` may prefer its own.
   */
  limitHeapGrowth?: boolean;
  /** Extra options of `startAperture` (tests). */
  startOptions?: StartApertureOptions;
}

/** Parsed command line. */
interface Args {
  configFile?: string;
  baseDir?: string;
  checkConfig: boolean;
  help: boolean;
  version: boolean;
  overrides: Record<string, string>;
}

const USAGE = `Usage: aperture [options]

  --config FILE, --configfile FILE   configuration file (default <basedir>/aperture.yaml)
  --basedir DIR                      base directory (default ~/.aperture)
  --check-config                     validate the configuration without connecting; exit 0 when valid
  --<key> VALUE, --<key>=VALUE       override a configuration key (see docs/configuration.md; a flag that
                                     names no key is an error), e.g. --listenaddr=:8081
                                     or --authenticator.lndhost=localhost:10009
  --version                          print the version
  -h, --help                         print this help

Signals: SIGTERM or SIGINT drains in-flight requests and exits 0.
Environment: APERTURE_POSTGRES_SCHEMA selects the PostgreSQL schema (default: search_path);
  APERTURE_HEAP_GROWING_PERCENT lets V8's old generation grow to (1 + N/100)× the live heap
  between full collections (default 50; 0 keeps V8's own heuristics).
`;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { checkConfig: false, help: false, version: false, overrides: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') {
      args.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new L402Error('L402_ERR_CLI_BAD_ARGUMENT', `unexpected argument ${JSON.stringify(arg)}`);
    }
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).toLowerCase();
    if (!/^[a-z][a-z0-9_.-]*$/.test(name)) throw new L402Error('L402_ERR_CLI_BAD_ARGUMENT', `malformed flag ${JSON.stringify(arg)}`);
    if (name === 'check-config' || name === 'checkconfig') {
      args.checkConfig = true;
      continue;
    }
    if (name === 'version') {
      args.version = true;
      continue;
    }
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      }
    }
    if (name === 'config' || name === 'configfile') {
      if (value === undefined || value === '') throw new L402Error('L402_ERR_CLI_BAD_ARGUMENT', `--${name} needs a file`);
      args.configFile = value;
    } else if (name === 'basedir') {
      if (value === undefined || value === '') throw new L402Error('L402_ERR_CLI_BAD_ARGUMENT', '--basedir needs a directory');
      args.baseDir = value;
    } else {
      // A bare boolean flag (`--insecure`) means true, as in the Go aperture.
      args.overrides[name] = value ?? 'true';
    }
  }
  return args;
}

const GLOBAL_INSTALL_NOTE =
  '(install them where aperture-ts is: in the same project, or with npm install -g when aperture-ts was installed with -g)\n';

/** The flags of the program itself; every other `--<key>` must be a configuration key. */
const PROGRAM_FLAGS = ['config', 'configfile', 'basedir', 'check-config', 'checkconfig', 'version', 'help'];

/**
 * The `--<key>` flags that name no configuration key (`--chek-config`), each
 * with the closest known flag. A flag is a key when the configuration reader
 * knows it, so the list of keys is never kept twice.
 */
function unknownFlags(overrides: Record<string, string>, load: LoadConfigOptions): string[] {
  const names = Object.keys(overrides);
  if (names.length === 0) return [];
  // The flags alone, without the file: whatever the file holds, a flag is known or not.
  const probe = checkConfig({ ...load, text: '' });
  const problems: string[] = [];
  for (const name of names) {
    const warning = probe.warnings.find(
      (w) => w.kind === 'unknown-key' && (name === w.path.toLowerCase() || name.startsWith(`${w.path.toLowerCase()}.`)),
    );
    if (warning === undefined) continue;
    const parent = warning.path.includes('.') ? warning.path.slice(0, warning.path.lastIndexOf('.') + 1) : '';
    const candidates = [
      ...(parent === '' ? PROGRAM_FLAGS : []),
      ...(warning.suggestion === undefined ? [] : [`${parent}${warning.suggestion}`]),
    ];
    const suggestion =
      closestKey(warning.path.toLowerCase(), candidates) ??
      (warning.suggestion === undefined ? undefined : `${parent}${warning.suggestion}`);
    problems.push(`unknown flag --${name}${suggestion === undefined ? '' : ` (did you mean --${suggestion}?)`}`);
  }
  return problems;
}

/**
 * Runs `aperture`.
 *
 * @param argv - the arguments after the program name
 * @param io - output streams, environment, stop signal (defaults: the process)
 * @returns the exit code: 0 after a clean shutdown or a valid `--check-config`,
 *   1 for an invalid configuration or a start-up failure (address in use,
 *   database or Lightning unreachable), 2 for a bad command line
 */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    stderr.write(`aperture: ${(error as Error).message} [${(error as L402Error).code}]\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    stdout.write(`aperture ${packageVersion()} (aperture-ts)\n`);
    return 0;
  }

  const load: LoadConfigOptions = { env, overrides: args.overrides };
  if (args.configFile !== undefined) load.configFile = args.configFile;
  if (args.baseDir !== undefined) load.baseDir = args.baseDir;
  if (io.cwd !== undefined) load.cwd = io.cwd;
  const unknown = unknownFlags(args.overrides, load);
  if (unknown.length > 0) {
    stderr.write(`${unknown.map((u) => `aperture: ${u} [L402_ERR_CLI_BAD_ARGUMENT]\n`).join('')}\n${USAGE}`);
    return 2;
  }
  const report = checkConfig(load);
  const schema = env['APERTURE_POSTGRES_SCHEMA'];
  const postgresSchema = schema !== undefined && schema !== '' ? schema : undefined;
  if (args.checkConfig) {
    (report.ok ? stdout : stderr).write(formatConfigReport(report));
    // The configuration is valid either way; say now what a start would miss.
    const missing = report.config === undefined ? undefined : missingPackagesError(report.config);
    if (missing !== undefined) stdout.write(`note: to start, ${missing.message} [${missing.code}]\n${GLOBAL_INSTALL_NOTE}`);
    // What a start would do to the database (read only; nothing is changed).
    let dbOk = true;
    if (report.config !== undefined && missing === undefined) {
      const db = await checkDatabase(report.config, postgresSchema === undefined ? {} : { postgresSchema });
      dbOk = db.ok;
      (db.ok ? stdout : stderr).write(db.lines.map((line) => `${line}\n`).join(''));
    }
    return report.ok && dbOk ? 0 : 1;
  }
  if (!report.ok || report.config === undefined) {
    stderr.write(formatConfigReport(report));
    stderr.write('aperture: not started; fix the errors above (aperture --check-config lists them without starting)\n');
    return 1;
  }
  const config = report.config;
  stdout.write(
    `aperture ${packageVersion()}: config ${report.configFileFound ? report.configFile : `${report.configFile} (not found: defaults and flags only)`}\n`,
  );
  for (const w of report.warnings) {
    stdout.write(
      `warning: ${w.path}${w.line === undefined ? '' : ` (line ${w.line})`} [${w.kind}]: ${w.message}${w.suggestion === undefined ? '' : ` (did you mean ${w.suggestion}?)`}\n`,
    );
  }

  const reference = await referenceDatabaseWarning(config).catch(() => undefined);
  if (reference !== undefined) stdout.write(`warning: ${reference}\n`);

  const options: StartApertureOptions = { ...io.startOptions };
  if (postgresSchema !== undefined && options.postgresSchema === undefined) options.postgresSchema = postgresSchema;

  let heap: string;
  try {
    heap = io.limitHeapGrowth === false ? 'heap: V8 defaults (left to the embedding program)' : limitHeapGrowth(process.execArgv, env);
  } catch (error) {
    const problems = error instanceof ConfigError ? error.issues.map((i) => `${i.path} ${i.message}`).join('; ') : String(error);
    stderr.write(`aperture: ${problems} [L402_ERR_CONFIG_INVALID]\n`);
    return 1;
  }

  let aperture: RunningAperture;
  try {
    aperture = await startAperture(config, options);
  } catch (error) {
    const code = error instanceof L402Error ? ` [${error.code}]` : '';
    stderr.write(`aperture: cannot start: ${error instanceof Error ? error.message : String(error)}${code}\n`);
    if (error instanceof L402Error && error.code === 'L402_ERR_DEPENDENCY_MISSING') stderr.write(GLOBAL_INSTALL_NOTE);
    return 1;
  }
  const tls = config.insecure ? 'plaintext HTTP/1.1 and h2c' : `TLS, HTTP/1.1 and HTTP/2 (certificate ${config.tlsCertPath})`;
  stdout.write(
    `aperture listening on ${aperture.url} (${tls}); ${aperture.services.length} service(s): ${aperture.services.map((s) => s.name).join(', ') || 'none'}\n`,
  );
  stdout.write(`lightning: ${lightningLine(config.authenticator)}\n`);
  stdout.write(
    `store: ${config.dbBackend === 'postgres' ? `postgres ${config.postgres.host}:${config.postgres.port}/${config.postgres.dbName}` : `sqlite ${config.sqlite.dbFile}`}\n`,
  );
  if (config.admin.enabled) {
    stdout.write(
      `admin API: REST ${aperture.url}/api/admin/, gRPC adminrpc.Admin on the same listener; macaroon ${config.admin.macaroonPath}\n`,
    );
  }
  stdout.write(`${heap}\n`);
  if (aperture.addresses.metrics !== undefined) {
    stdout.write(
      `metrics on http://${config.prometheus.listenAddr.startsWith(':') ? 'localhost' : config.prometheus.listenAddr.replace(/:\d+$/, '')}:${aperture.addresses.metrics.port}/metrics (health: /healthz)\n`,
    );
  }
  io.onStarted?.(aperture);

  let detach = (): void => undefined;
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) {
        stderr.write(`aperture: ${why} again; exiting without waiting for in-flight requests\n`);
        resolve(1);
        return;
      }
      stopping = true;
      stdout.write(`aperture: ${why}; draining in-flight requests\n`);
      aperture.close().then(
        () => resolve(0),
        (error: unknown) => {
          stderr.write(`aperture: error while stopping: ${String(error)}\n`);
          resolve(1);
        },
      );
    };
    const onTerm = (): void => stop('SIGTERM received');
    const onInt = (): void => stop('SIGINT received');
    if (io.handleSignals !== false) {
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onInt);
      detach = () => {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
      };
    }
    if (io.signal !== undefined) {
      if (io.signal.aborted) stop('stop requested');
      else io.signal.addEventListener('abort', () => stop('stop requested'), { once: true });
    }
  });
  detach();
  if (code === 0) stdout.write('aperture: stopped\n');
  return code;
}

/** The start-up line's account of the Lightning backend (never a credential). */
function lightningLine(a: AuthenticatorConfig): string {
  if (a.disable) return 'disabled (every request is forwarded)';
  if (a.backend === 'dev') return 'dev backend (not for production); POST /api/dev/pay pays invoices for loopback clients';
  if (a.http !== undefined) return a.http.kind === 'nwc' ? 'nwc (the relay of the connection URI)' : `${a.http.kind} at ${a.http.url}`;
  if (a.wavelength !== undefined) return `wavelength at ${a.wavelength.gateway} (settlement not tracked)`;
  return `lnd at ${a.lndHost ?? ''}`;
}
