/**
 * What a store would find in a database, read without changing anything: for
 * `aperture --check-config`, which says before a start what the start will do
 * to an existing database — in particular one the Go aperture wrote. SQLite is
 * opened read-only (a missing file stays missing); PostgreSQL is read inside a
 * READ ONLY transaction.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { requireOptional } from '../core/optional-dependency.js';
import {
  GO_MIGRATION_QUERY,
  GO_MPP_HMAC_KEY_HASH,
  GO_SCHEMA_TESTED_VERSION,
  addGoMigration,
  describeGoSchema,
  goColumnsQuery,
  type GoApertureSchema,
} from './go-aperture-schema.js';
import { LATEST_VERSION } from './migrations.js';
import { invalidArgument } from './store-errors.js';
import type { Dialect, Query, Row } from './sql-queries.js';

/** The database to inspect. */
export type InspectTarget =
  | { backend: 'sqlite'; path: string }
  | {
      backend: 'postgres';
      host?: string;
      port?: number;
      user?: string;
      password?: string;
      dbname?: string;
      requiressl?: boolean;
      /** Schema put first on the search_path, as the store's `schema` option. */
      schema?: string;
      connectTimeoutMs?: number;
    };

/** aperture-ts's own tables, when present. */
export interface OwnSchemaSummary {
  /** Version recorded in `aperture_migrations`. */
  version: number;
  /** Rows of `root_keys`. */
  rootKeys: number;
  /** Rows of `transactions`. */
  transactions: number;
  /** Rows of `aperture_services`. */
  services: number;
}

/** The Go aperture's tables, when present. */
export interface GoDatabaseSummary {
  /** What of its schema is there. */
  schema: GoApertureSchema;
  /** Root keys of tokens in `secrets` (its MPP HMAC key not counted). */
  rootKeys: number;
  /** Whether `secrets` holds the HMAC key of its MPP challenges. */
  mppHmacKey: boolean;
  /** Rows of `l402_transactions`, the settled ones, and those not yet in aperture-ts's ledger. */
  transactions: { total: number; settled: number; toImport: number };
  /** Names in `services`, sorted. */
  services: string[];
  /** `services` rows new or changed since the last import (all of them before the first). */
  servicesToImport: number;
  /** Open `mpp_sessions` and what they hold unspent, when that table is there. */
  openMppSessions: { count: number; unspentSats: number } | undefined;
}

/** What {@link inspectDatabase} found. */
export interface DatabaseInspection {
  backend: 'sqlite' | 'postgres';
  /** The file, or `host:port/dbname` (and the schema). */
  where: string;
  /** SQLite: whether the file exists. PostgreSQL: whether it answered. */
  exists: boolean;
  /** Why it could not be read, when it could not. */
  error?: string;
  /** aperture-ts's schema, when there. */
  aperture?: OwnSchemaSummary;
  /** The Go aperture's schema, when there. */
  go?: GoDatabaseSummary;
}

/** Runs a read-only query. */
type Reader = (q: Query) => Promise<Row[]>;

/**
 * Reads what is in a database without changing it.
 * @param target - the file or the PostgreSQL connection
 * @returns what was found; errors are reported in `error`, never thrown
 * @example
 * const found = await inspectDatabase({ backend: 'sqlite', path: '/var/lib/aperture/aperture.db' });
 */
export async function inspectDatabase(target: InspectTarget): Promise<DatabaseInspection> {
  if (target.backend === 'sqlite') {
    const path = resolve(target.path);
    const out: DatabaseInspection = { backend: 'sqlite', where: path, exists: existsSync(path) };
    if (!out.exists) return out;
    let db: Database.Database | undefined;
    try {
      const [BetterSqlite3] = requireOptional(createRequire(import.meta.url), 'SqliteStore', ['better-sqlite3']) as [typeof Database];
      db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
      const conn = db;
      await summarise(out, 'sqlite', async (q) => conn.prepare(q.text.replace(/\$\d+/g, '?')).all(...q.values) as Row[]);
    } catch (error) {
      out.error = (error as Error).message;
    } finally {
      db?.close();
    }
    return out;
  }
  const where = `${target.host ?? 'localhost'}:${target.port ?? 5432}/${target.dbname ?? ''}${target.schema === undefined ? '' : ` (schema ${target.schema})`}`;
  const out: DatabaseInspection = { backend: 'postgres', where, exists: false };
  let client: pg.Client | undefined;
  try {
    const [driver] = requireOptional(createRequire(import.meta.url), 'PostgresStore', ['pg']) as [typeof pg];
    const config: pg.ClientConfig = { connectionTimeoutMillis: target.connectTimeoutMs ?? 5000 };
    if (target.host !== undefined) config.host = target.host;
    if (target.port !== undefined) config.port = target.port;
    if (target.user !== undefined) config.user = target.user;
    if (target.password !== undefined) config.password = target.password;
    if (target.dbname !== undefined) config.database = target.dbname;
    if (target.requiressl === true) config.ssl = true;
    if (target.schema !== undefined) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(target.schema))
        throw invalidArgument('schema must be a plain identifier (letters, digits, underscore)');
      config.options = `-c search_path=${target.schema}`;
    }
    const c = new driver.Client(config);
    client = c;
    c.on('error', () => undefined);
    await c.connect();
    out.exists = true;
    await c.query('BEGIN READ ONLY');
    await summarise(out, 'postgres', async (q) => (await c.query(q.text, q.values)).rows as Row[]);
    await c.query('ROLLBACK');
  } catch (error) {
    out.error = (error as Error).message;
  } finally {
    await client?.end().catch(() => undefined);
  }
  return out;
}

async function summarise(out: DatabaseInspection, dialect: Dialect, read: Reader): Promise<void> {
  const tables = new Set(
    (
      await read(
        dialect === 'sqlite'
          ? { text: "SELECT name FROM sqlite_master WHERE type = 'table'", values: [] }
          : { text: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()', values: [] },
      )
    ).map((r) => String(r['name'])),
  );
  const count = async (text: string, values: unknown[] = []): Promise<number> => Number((await read({ text, values }))[0]?.['n'] ?? 0);

  if (tables.has('aperture_migrations')) {
    const own: OwnSchemaSummary = {
      version: await count('SELECT COALESCE(MAX(version), 0) AS n FROM aperture_migrations'),
      rootKeys: tables.has('root_keys') ? await count('SELECT COUNT(*) AS n FROM root_keys') : 0,
      transactions: tables.has('transactions') ? await count('SELECT COUNT(*) AS n FROM transactions') : 0,
      services: tables.has('aperture_services') ? await count('SELECT COUNT(*) AS n FROM aperture_services') : 0,
    };
    out.aperture = own;
  }

  const schema = describeGoSchema(await read(goColumnsQuery(dialect)));
  if (schema === undefined) return;
  if (schema.tables.includes('schema_migrations')) {
    try {
      addGoMigration(schema, await read(GO_MIGRATION_QUERY));
    } catch {
      // Not golang-migrate's table: the version stays unknown.
    }
  }
  const hex = (c: string): string => (dialect === 'sqlite' ? `lower(hex(${c}))` : `encode(${c}, 'hex')`);
  const hmac = Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex');
  const go: GoDatabaseSummary = {
    schema,
    rootKeys: schema.secrets ? await count('SELECT COUNT(*) AS n FROM secrets WHERE hash <> $1', [hmac]) : 0,
    mppHmacKey: schema.secrets ? (await count('SELECT COUNT(*) AS n FROM secrets WHERE hash = $1', [hmac])) > 0 : false,
    transactions: { total: 0, settled: 0, toImport: 0 },
    services: [],
    servicesToImport: 0,
    openMppSessions: undefined,
  };
  const imported = out.aperture !== undefined && out.aperture.version >= 5;
  if (schema.transactions) {
    go.transactions.total = await count('SELECT COUNT(*) AS n FROM l402_transactions');
    go.transactions.settled = await count("SELECT COUNT(*) AS n FROM l402_transactions WHERE state = 'settled'");
    go.transactions.toImport = imported
      ? await count(`SELECT COUNT(*) AS n FROM l402_transactions g WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.token_id =
          CASE WHEN g.auth_type = 'l402' THEN ${hex('g.token_id')} ELSE 'go-mpp:' || ${hex('g.payment_hash')} END)`)
      : go.transactions.total;
  }
  if (schema.services) {
    const rows = await read({ text: 'SELECT name, CAST(updated_at AS TEXT) AS updated FROM services ORDER BY name', values: [] });
    go.services = rows.map((r) => String(r['name']));
    if (imported && tables.has('aperture_go_services')) {
      const seen = new Map(
        (await read({ text: 'SELECT name, go_updated_at FROM aperture_go_services', values: [] })).map((r) => [
          String(r['name']),
          String(r['go_updated_at']),
        ]),
      );
      go.servicesToImport = rows.filter((r) => seen.get(String(r['name'])) !== String(r['updated'])).length;
    } else {
      go.servicesToImport = rows.length;
    }
  }
  if (schema.tables.includes('mpp_sessions')) {
    try {
      const r = (
        await read({
          text: "SELECT COUNT(*) AS n, COALESCE(SUM(deposit_sats - spent_sats), 0) AS unspent FROM mpp_sessions WHERE status = 'open'",
          values: [],
        })
      )[0];
      go.openMppSessions = { count: Number(r?.['n'] ?? 0), unspentSats: Number(r?.['unspent'] ?? 0) };
    } catch {
      // Another shape of the table: not reported.
    }
  }
  out.go = go;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * Says in words what {@link inspectDatabase} found and what a start will do
 * with it.
 * @param found - the inspection
 * @returns lines to print, and `refusal` when a start would refuse the database
 */
export function describeDatabase(found: DatabaseInspection): { lines: string[]; refusal: string | undefined } {
  const lines: string[] = [];
  const what = found.backend === 'sqlite' ? `database ${found.where}` : `database postgres ${found.where}`;
  if (found.error !== undefined) {
    return { lines: [`${what}: cannot be read now (${found.error}); a start opens it then`], refusal: undefined };
  }
  if (!found.exists) {
    return {
      lines: [`${what} does not exist yet; a start creates it with aperture-ts's schema (version ${LATEST_VERSION})`],
      refusal: undefined,
    };
  }
  const own = found.aperture;
  const go = found.go;
  if (own !== undefined && own.version > LATEST_VERSION) {
    const refusal = `${what} is at aperture-ts schema version ${own.version}, newer than this release knows (${LATEST_VERSION}); a start refuses it [L402_ERR_STORE_SCHEMA_TOO_NEW]`;
    return { lines: [refusal], refusal };
  }
  if (go === undefined) {
    if (own === undefined)
      lines.push(`${what} holds no aperture tables; a start adds aperture-ts's (version ${LATEST_VERSION}) next to what is there`);
    else {
      lines.push(
        `${what} holds aperture-ts's schema version ${own.version}: ${plural(own.rootKeys, 'root key')}, ${plural(own.transactions, 'transaction')}, ${plural(own.services, 'service')}`,
      );
      if (own.version < LATEST_VERSION) lines.push(`  a start migrates it to version ${LATEST_VERSION}`);
    }
    return { lines, refusal: undefined };
  }
  const version =
    go.schema.version === undefined
      ? 'no golang-migrate version recorded'
      : `schema version ${go.schema.version}${go.schema.dirty === true ? ', marked dirty by golang-migrate' : ''}`;
  lines.push(
    `${what} was written by the Go aperture (${version}): ${plural(go.rootKeys, 'root key')}, ${plural(go.transactions.total, 'transaction')} (${go.transactions.settled} settled), ${plural(go.services.length, 'service')}${go.services.length === 0 ? '' : ` (${go.services.join(', ')})`}`,
  );
  if (own !== undefined)
    lines.push(
      `  it also holds aperture-ts's schema version ${own.version} (${plural(own.rootKeys, 'root key')}, ${plural(own.transactions, 'transaction')}, ${plural(own.services, 'service')}): it was opened here before`,
    );
  const reads: string[] = [];
  if (go.schema.secrets)
    reads.push(
      `its ${plural(go.rootKeys, 'root key')} ${go.rootKeys === 1 ? 'keeps' : 'keep'} verifying (read from secrets; keys of new tokens are written there too, so the Go aperture still accepts them after a switch back)`,
    );
  if (go.schema.transactions) {
    reads.push(
      go.transactions.toImport > 0 || go.transactions.total === 0
        ? `${plural(go.transactions.toImport, 'transaction')} of l402_transactions ${go.transactions.toImport === 1 ? 'is' : 'are'} imported into the ledger`
        : 'its transactions are in the ledger already',
    );
  }
  if (go.schema.services) {
    reads.push(
      go.servicesToImport > 0 || go.services.length === 0
        ? `${plural(go.servicesToImport, 'service')} of its services table ${go.servicesToImport === 1 ? 'is' : 'are'} imported into the service registry (a service there overrides the config's of the same name)`
        : 'its services are in the service registry already',
    );
  }
  lines.push(`  at start: ${reads.join('; ')}`);
  lines.push(
    `  its tables and schema_migrations are not altered (but for the root keys of tokens sold here, and the status of an MPP session carried over); aperture-ts's own tables are ${own === undefined ? 'added next to them' : 'brought up to date'}. Nothing is modified until start.`,
  );
  if (go.schema.version !== undefined && go.schema.version > GO_SCHEMA_TESTED_VERSION) {
    lines.push(
      `  note: schema version ${go.schema.version} is newer than the ${GO_SCHEMA_TESTED_VERSION} this release was tested with; the columns it reads are there`,
    );
  }
  if (go.openMppSessions !== undefined && go.openMppSessions.count > 0) {
    lines.push(
      `  note: ${plural(go.openMppSessions.count, 'open MPP session')} holding ${go.openMppSessions.unspentSats} sat unspent ${go.openMppSessions.count === 1 ? 'is' : 'are'} carried over each on its first use here (with MPP sessions on and acceptgochallenges not false), which marks it closed in mpp_sessions for the Go aperture`,
    );
  }
  return { lines, refusal: undefined };
}
