/**
 * `aperture --check-config`: validate a configuration without connecting to
 * anything, and report every issue and warning.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ApertureConfig, ConfigWarning } from './aperture-config.js';
import { describeDatabase, inspectDatabase, type DatabaseInspection, type InspectTarget } from '../../store/inspect-database.js';
import { overlayRaw, parseYamlConfig, rawFromValue, type LocatedConfigIssue, type RawNode } from './raw-node.js';
import { CONFIG_DEFAULTS, expandPath, resolveConfig } from './resolve-config.js';

/** Where the configuration comes from; every field is optional. */
export interface LoadConfigOptions {
  /** `--configfile`: this file must exist. Default `<basedir>/aperture.yaml`, which may be absent. */
  configFile?: string;
  /** `--basedir`. Default `~/.aperture`. */
  baseDir?: string;
  /** YAML text to use instead of reading a file (embedding, tests). */
  text?: string;
  /**
   * Values that win over the file, as command-line flags do in the Go aperture.
   * Keys are config keys, nested or dotted: `{ listenaddr: ':8081', 'authenticator.lndhost': 'h:10009' }`.
   * Strings are accepted for booleans, numbers and durations.
   */
  overrides?: Record<string, unknown>;
  /** Environment for `${NAME}` in headers and `$NAME`/`~` in paths. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative paths are resolved against. Default `process.cwd()`. */
  cwd?: string;
  /** Home directory for `~`. Default `$HOME`, then `os.homedir()`. */
  home?: string;
  /** File access, injectable for tests. */
  readFile?: (path: string) => Uint8Array;
  fileExists?: (path: string) => boolean;
}

/** The outcome of {@link checkConfig}. */
export interface ConfigReport {
  /** True when there are no issues (warnings are allowed). */
  ok: boolean;
  /** The config file read or looked for. */
  configFile: string;
  /** Whether it existed (an absent default file is not an issue). */
  configFileFound: boolean;
  /** Problems that stop aperture from starting, each with its path. */
  issues: LocatedConfigIssue[];
  /** Problems that do not. */
  warnings: ConfigWarning[];
  /** The configuration, when `ok`. */
  config: ApertureConfig | undefined;
}

/**
 * Validates a configuration completely, offline: no connection is opened and no
 * name is resolved (addresses are checked for plausibility only).
 *
 * @param options - where the configuration comes from
 * @returns the report; never throws for a bad configuration
 * @example
 * ```ts
 * const report = checkConfig({ configFile: 'aperture.yaml' });
 * process.stdout.write(formatConfigReport(report));
 * process.exitCode = report.ok ? 0 : 1;
 * ```
 */
export function checkConfig(options: LoadConfigOptions = {}): ConfigReport {
  const env = options.env ?? process.env;
  const home = options.home ?? (env['HOME'] || homedir());
  const cwd = options.cwd ?? process.cwd();
  const readFile = options.readFile ?? ((p: string) => readFileSync(p));
  const fileExists = options.fileExists ?? ((p: string) => existsSync(p));
  const expand = (p: string): string => {
    const e = expandPath(p, home, env);
    return isAbsolute(e) ? e : resolve(cwd, e);
  };

  const overridesRaw = rawFromValue(options.overrides ?? {});
  const overrideText = (key: string): string | undefined => {
    const entry = overridesRaw?.kind === 'map' ? overridesRaw.entries.get(key) : undefined;
    return entry?.value.kind === 'scalar' && typeof entry.value.value === 'string' && entry.value.value !== ''
      ? entry.value.value
      : undefined;
  };
  const explicitFile = options.configFile ?? overrideText('configfile');
  const baseDirFlag = options.baseDir ?? overrideText('basedir');
  const configFile =
    explicitFile !== undefined
      ? expand(explicitFile)
      : join(expand(baseDirFlag ?? CONFIG_DEFAULTS.baseDir), CONFIG_DEFAULTS.configFileName);

  const issues: LocatedConfigIssue[] = [];
  let fileRoot: RawNode | undefined;
  let found = false;
  let text = options.text;
  if (text === undefined) {
    try {
      text = Buffer.from(readFile(configFile)).toString('utf8');
      found = true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'ENOENT' || explicitFile !== undefined) {
        issues.push({
          path: 'configfile',
          message:
            code === 'ENOENT'
              ? `config file ${configFile} does not exist`
              : `config file ${configFile} cannot be read (${String(code ?? err)})`,
        });
      }
    }
  } else {
    found = true;
  }
  if (text !== undefined) {
    const parsed = parseYamlConfig(text);
    issues.push(...parsed.issues);
    if (parsed.ok) fileRoot = parsed.root;
  }
  if (issues.length > 0) return { ok: false, configFile, configFileFound: found, issues, warnings: [], config: undefined };

  let root = overlayRaw(fileRoot, overridesRaw);
  if (baseDirFlag !== undefined) root = overlayRaw(root, rawFromValue({ basedir: baseDirFlag }));
  const resolved = resolveConfig(root, { env, cwd, home, configFile, configFileFound: found, readFile, fileExists });
  return {
    ok: resolved.issues.length === 0,
    configFile,
    configFileFound: found,
    issues: resolved.issues,
    warnings: resolved.warnings,
    config: resolved.config,
  };
}

/** The outcome of {@link checkDatabase}. */
export interface DatabaseCheck {
  /** False when a start would refuse the database. */
  ok: boolean;
  /** What is there and what a start will do with it, one statement per line. */
  lines: string[];
  /** The inspection of the configured database. */
  found: DatabaseInspection;
}

/**
 * Reads the configured database without changing it and says what a start
 * will do with it: create it, migrate it, or adopt the Go aperture's tables in
 * it (how many root keys keep working, how many transactions and services are
 * imported). For SQLite it also looks at the file the Go aperture itself opens
 * with this configuration (`sqlite.referenceDbFile`): when that one holds the
 * Go aperture's database and the configured one does not, it says so.
 *
 * @param config - a valid configuration
 * @param options - `postgresSchema`: the schema a start would use (`APERTURE_POSTGRES_SCHEMA`)
 * @returns the lines to print and whether a start would accept the database
 * @example
 * ```ts
 * const db = await checkDatabase(report.config);
 * for (const line of db.lines) console.log(line);
 * ```
 */
export async function checkDatabase(config: ApertureConfig, options: { postgresSchema?: string } = {}): Promise<DatabaseCheck> {
  if (config.dbBackend === 'etcd')
    return { ok: false, lines: ['database: etcd is not built here'], found: { backend: 'sqlite', where: 'etcd', exists: false } };
  let target: InspectTarget;
  if (config.dbBackend === 'postgres') {
    const p = config.postgres;
    target = {
      backend: 'postgres',
      host: p.host,
      port: p.port,
      user: p.user,
      password: p.password,
      dbname: p.dbName,
      requiressl: p.requireSsl,
    };
    if (options.postgresSchema !== undefined) target.schema = options.postgresSchema;
  } else {
    target = { backend: 'sqlite', path: config.sqlite.dbFile };
  }
  const found = await inspectDatabase(target);
  const described = describeDatabase(found);
  const lines = [...described.lines];
  const warning = config.dbBackend === 'sqlite' && found.go === undefined ? await referenceDatabaseWarning(config) : undefined;
  if (warning !== undefined) lines.push(`warning: ${warning}`);
  return { ok: described.refusal === undefined, lines, found };
}

/**
 * When the configured SQLite file differs from the one the Go aperture opens
 * with the same configuration, and that one holds the Go aperture's database:
 * a sentence saying so and what to set. Reads only that file (read-only).
 *
 * @param config - a valid configuration
 * @returns the warning, or `undefined`
 */
export async function referenceDatabaseWarning(config: ApertureConfig): Promise<string | undefined> {
  if (config.dbBackend !== 'sqlite') return undefined;
  const { dbFile, referenceDbFile } = config.sqlite;
  if (resolve(dbFile) === resolve(referenceDbFile) || !existsSync(referenceDbFile)) return undefined;
  const theirs = await inspectDatabase({ backend: 'sqlite', path: referenceDbFile });
  if (theirs.go === undefined) return undefined;
  const ours = existsSync(dbFile) ? await inspectDatabase({ backend: 'sqlite', path: dbFile }) : undefined;
  if (ours?.go !== undefined) return undefined;
  return (
    `the Go aperture, with this configuration, opens ${referenceDbFile} (it reads sqlite.databasefilename, ignores sqlite.dbfile in the file and basedir for its database), ` +
    `which holds its database (${theirs.go.rootKeys} root keys, ${theirs.go.transactions.total} transactions); this configuration opens ${dbFile} instead, where its tokens are unknown. ` +
    `To keep them, set sqlite.databasefilename: ${referenceDbFile}`
  );
}
