/**
 * The Go aperture's database, read as it is. An operator who switches from
 * Lightning Labs' Go aperture keeps its `aperture.yaml`, so aperture-ts opens the
 * database the Go aperture wrote (golang-migrate versions 1–9: `secrets`,
 * `onion`, `lnc_sessions`, `l402_transactions`, `services`, `mpp_*`,
 * `schema_migrations`) and adopts it:
 *
 * - **Root keys, live.** The Go aperture keeps one random root key per token in
 *   `secrets (hash, secret, created_at)`, under sha256 of the macaroon
 *   identifier — the same key aperture-ts uses for `root_keys`. With `secrets`
 *   present, `getSecret` reads `root_keys` and then `secrets`; `newSecret`
 *   writes both (so the Go aperture, run again on the database, verifies tokens
 *   sold meanwhile); revocation and garbage collection delete from both. Nothing
 *   is copied out of `secrets`, so a token the Go aperture revokes later (it
 *   deletes the row) stays revoked here too.
 * - **Ledger, imported.** `l402_transactions` rows are copied into
 *   `transactions` (`source = 'go-aperture'`) at every start at which the Go
 *   ledger changed since the last import (a fingerprint in `aperture_go_import`;
 *   the Go aperture's revocations delete ledger rows, so they change it too):
 *   new rows are added, rows the Go aperture settled since are settled, rows it
 *   revoked since (row and root key gone) are marked revoked. Imported rows are
 *   never garbage-collected: the Go aperture records a settlement only when its
 *   admin API is enabled, so a pending row may be a paid token.
 * - **Services, imported.** `services` rows new or changed since the last
 *   import (per row, by its `updated_at`; all of them the first time) are
 *   written to the service registry in the form of an `aperture.yaml` service
 *   entry, their eight columns over any other fields a definition of that name
 *   has. A Go row deleted since is removed here unless it was changed here since.
 *
 * Nothing here alters the Go aperture's tables or `schema_migrations`: the
 * import only reads them, and the only writes to `secrets` are the root keys of
 * tokens aperture-ts mints and the deletions of revoked and garbage-collected
 * ones — what the Go aperture itself does to that table. (Open MPP sessions are
 * carried over one by one on first use, which closes their Go row: see
 * go-session-import.ts.) The import runs in one
 * transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL under the migration lock), so
 * a crash leaves it undone and the next start does it again; every step is
 * idempotent.
 */
import { createHash } from 'node:crypto';
import type { Dialect, Query, Row, Script, Statements } from './sql-queries.js';

/** `transactions.source` of rows imported from the Go aperture's `l402_transactions`. */
export const GO_APERTURE_SOURCE = 'go-aperture';

/** Every table of the Go aperture's schema (golang-migrate versions 1–9) and golang-migrate's own. */
export const GO_APERTURE_TABLES = [
  'secrets',
  'onion',
  'lnc_sessions',
  'l402_transactions',
  'services',
  'mpp_sessions',
  'mpp_session_credits',
  'mpp_consumed_charges',
  'schema_migrations',
] as const;

/** The newest golang-migrate version of the Go aperture's schema this release was tested against. */
export const GO_SCHEMA_TESTED_VERSION = 9;

/**
 * How long the Go aperture's invoices stay payable: it asks lnd for invoices
 * without an expiry, and lnd's default is one day. Imported pending rows expire
 * this long after they were created.
 */
export const GO_INVOICE_EXPIRY_MS = 24 * 60 * 60 * 1000;

/**
 * The `secrets.hash` under which the Go aperture keeps the HMAC key of its MPP
 * challenges (sha256 of `aperture-mpp-hmac-secret-v1`): a row of `secrets` that
 * is not a token's root key.
 */
export const GO_MPP_HMAC_KEY_HASH = createHash('sha256').update('aperture-mpp-hmac-secret-v1').digest('hex');

/**
 * Whether the Go aperture consumed a charge (its `mpp_consumed_charges`, Go migration 9):
 * a row when it did. `$1` is the payment hash as bytes.
 */
export const GO_CHARGE_CONSUMED_QUERY = 'SELECT 1 AS found FROM mpp_consumed_charges WHERE payment_hash = $1';

/** Columns aperture-ts reads (and, for `secrets`, writes) of each Go table. */
const NEEDED: Record<'secrets' | 'l402_transactions' | 'services' | 'mpp_sessions' | 'mpp_session_credits', readonly string[]> = {
  secrets: ['hash', 'secret', 'created_at'],
  l402_transactions: [
    'id',
    'token_id',
    'payment_hash',
    'identifier_hash',
    'service_name',
    'price_sats',
    'state',
    'auth_type',
    'created_at',
    'settled_at',
  ],
  services: ['name', 'address', 'protocol', 'host_regexp', 'path_regexp', 'price', 'auth', 'updated_at'],
  mpp_sessions: ['session_id', 'payment_hash', 'deposit_sats', 'spent_sats', 'return_invoice', 'status', 'created_at', 'updated_at'],
  mpp_session_credits: ['payment_hash', 'session_id', 'amount_sats', 'created_at'],
};

/** What of the Go aperture's schema a database holds. */
export interface GoApertureSchema {
  /** The Go aperture's tables found (of `secrets`, `onion`, `lnc_sessions`, `l402_transactions`, `services`, `mpp_*`, `schema_migrations`). */
  tables: string[];
  /** golang-migrate's version in `schema_migrations`; `undefined` without that table. */
  version: number | undefined;
  /** golang-migrate's dirty flag (a Go migration failed half-way); `undefined` without that table. */
  dirty: boolean | undefined;
  /** `secrets` has the columns root keys are read from and written to. */
  secrets: boolean;
  /** `l402_transactions` has the columns the ledger import reads. */
  transactions: boolean;
  /** `services` has the columns the service import reads. */
  services: boolean;
  /** `services.auth_scheme` exists (Go migration 7). */
  servicesAuthScheme: boolean;
  /** `mpp_sessions` has the columns an open session is imported from (Go migration 6). */
  sessions: boolean;
  /** `mpp_session_credits` has the columns the credited payment hashes are read from (Go migration 8). */
  sessionCredits: boolean;
}

/** What one import changed. */
export interface GoImportReport {
  /** Whether the Go ledger had changed since the last import (else it was not read). */
  ledgerChanged: boolean;
  /** Ledger rows added. */
  transactionsImported: number;
  /** Imported rows the Go aperture settled since. */
  transactionsSettled: number;
  /** Imported rows the Go aperture revoked since. */
  transactionsRevoked: number;
  /** Services added to the registry. */
  servicesImported: number;
  /** Registry services updated from a changed Go row. */
  servicesUpdated: number;
  /** Registry services removed because the Go aperture deleted them. */
  servicesRemoved: number;
}

/** The Go aperture's database as a store found and adopted it at open. */
export interface GoApertureAdoption {
  /** The Go schema found. */
  schema: GoApertureSchema;
  /** Whether root keys are read from and written to `secrets`. */
  secrets: boolean;
  /** What the import at open changed; `undefined` when it did not run (adoption off, or the schema of aperture-ts older than version 5). */
  imported: GoImportReport | undefined;
}

/**
 * The query listing the columns of the Go aperture's tables in the current
 * database (SQLite) or schema (PostgreSQL): rows of `table_name`, `column_name`.
 * @param dialect - `sqlite` or `postgres`
 * @returns the query
 */
export function goColumnsQuery(dialect: Dialect): Query {
  const names = GO_APERTURE_TABLES.map((t) => `'${t}'`).join(', ');
  return dialect === 'sqlite'
    ? {
        text: `SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name IN (${names})`,
        values: [],
      }
    : {
        text: `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN (${names})`,
        values: [],
      };
}

/** golang-migrate's record: one row, the version and whether it is dirty. */
export const GO_MIGRATION_QUERY: Query = { text: 'SELECT version, dirty FROM schema_migrations', values: [] };

/**
 * Describes the Go schema from the rows of {@link goColumnsQuery}.
 * @param rows - `table_name`, `column_name` rows
 * @returns the description, or `undefined` when none of the tables whose data is read is there with its columns
 */
export function describeGoSchema(rows: readonly Row[]): GoApertureSchema | undefined {
  const columns = new Map<string, Set<string>>();
  for (const r of rows) {
    const table = String(r['table_name']);
    const set = columns.get(table) ?? new Set<string>();
    set.add(String(r['column_name']).toLowerCase());
    columns.set(table, set);
  }
  const has = (table: keyof typeof NEEDED): boolean => NEEDED[table].every((c) => columns.get(table)?.has(c) === true);
  const schema: GoApertureSchema = {
    tables: GO_APERTURE_TABLES.filter((t) => columns.has(t)),
    version: undefined,
    dirty: undefined,
    secrets: has('secrets'),
    transactions: has('l402_transactions'),
    services: has('services'),
    servicesAuthScheme: columns.get('services')?.has('auth_scheme') === true,
    sessions: has('mpp_sessions'),
    sessionCredits: has('mpp_session_credits'),
  };
  return schema.secrets || schema.transactions || schema.services ? schema : undefined;
}

/**
 * Adds golang-migrate's version and dirty flag from {@link GO_MIGRATION_QUERY}.
 * @param schema - the description to complete
 * @param rows - the rows of `schema_migrations`
 */
export function addGoMigration(schema: GoApertureSchema, rows: readonly Row[]): void {
  const row = rows[0];
  if (row === undefined) return;
  schema.version = Number(row['version']);
  const dirty = row['dirty'];
  schema.dirty = dirty === true || dirty === 1 || dirty === '1' || dirty === 't';
}

const GO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?: ?(Z|[+-]\d{2}:?\d{2}))?(?: [A-Za-z][A-Za-z0-9+-]*)?(?: m=[+-][0-9.]+)?$/;

/**
 * Milliseconds since the epoch of a time the Go aperture wrote to SQLite. Its
 * driver (modernc.org/sqlite) writes Go's `time.Time.String()`, e.g.
 * `2025-06-01 12:00:00.123456789 +0000 UTC`; SQLite's own forms
 * (`2025-06-01 12:00:00`, `…T…Z`, `…+02:00`) and numbers (seconds or
 * milliseconds) are read too.
 * @param value - the column's value
 * @returns the time, or `null` when it is not one
 */
export function parseGoTime(value: unknown): number | null {
  if (typeof value === 'number' || typeof value === 'bigint') {
    const n = Number(value);
    if (!Number.isFinite(n)) return null;
    return Math.round(Math.abs(n) >= 1e11 ? n : n * 1000);
  }
  if (typeof value !== 'string') return null;
  const m = GO_TIME.exec(value.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (frac !== undefined) ms += Math.floor(Number(`0.${frac}`) * 1000);
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.replace(':', '');
    const offset = (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5))) * 60_000;
    ms -= digits.startsWith('-') ? -offset : offset;
  }
  return Number.isFinite(ms) ? ms : null;
}

/**
 * A time in the form the Go aperture's SQLite driver writes (Go's
 * `time.Time.String()` of a UTC time), e.g. `2025-06-01 12:00:00.123 +0000 UTC`,
 * so that the Go aperture reads it back as it reads its own.
 * @param ms - milliseconds since the epoch
 * @returns the text
 */
export function goTimeText(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2025-06-01T12:00:00.123Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction === '' ? '' : `.${fraction}`} +0000 UTC`;
}

/** Name of the SQL function the SQLite store registers for {@link parseGoTime}. */
export const SQLITE_GO_TIME_FUNCTION = 'aperture_go_time';

/** The dialect's spelling of the few expressions the import needs. */
function dialectOf(dialect: Dialect): {
  time: (c: string) => string;
  hex: (c: string) => string;
  unhex: (c: string) => string;
  length: (c: string) => string;
} {
  return dialect === 'sqlite'
    ? {
        time: (c) => `${SQLITE_GO_TIME_FUNCTION}(${c})`,
        hex: (c) => `lower(hex(${c}))`,
        unhex: (c) => `unhex(${c})`,
        length: (c) => `length(${c})`,
      }
    : {
        time: (c) => `CAST(FLOOR(EXTRACT(EPOCH FROM ${c}) * 1000) AS BIGINT)`,
        hex: (c) => `encode(${c}, 'hex')`,
        // decode() fails on text that is not hex (SQLite's unhex gives NULL): guard it, since
        // PostgreSQL may evaluate a correlated condition before the ones that exclude such rows.
        unhex: (c) => `decode(CASE WHEN ${c} ~ '^([0-9a-f][0-9a-f])*$' THEN ${c} END, 'hex')`,
        length: (c) => `octet_length(${c})`,
      };
}

/**
 * The statements of the import, for one dialect.
 * @param dialect - `sqlite` or `postgres`
 * @param schema - what the Go schema has
 * @returns the statements
 */
export function goImportStatements(dialect: Dialect, schema: GoApertureSchema) {
  const d = dialectOf(dialect);
  const settled = `CASE WHEN g.state = 'settled' THEN COALESCE(${d.time('g.settled_at')}, ${d.time('g.created_at')}, $1) ELSE NULL END`;
  const created = `COALESCE(${d.time('g.created_at')}, $1)`;
  const insert = (tokenId: string, authType: string, idHash: string, where: string): string => `
    INSERT INTO transactions (token_id, payment_hash, id_hash, service, price_sats, auth_type, state, created_at, expires_at, settled_at, source)
    SELECT ${tokenId}, ${d.hex('g.payment_hash')}, ${idHash}, g.service_name, g.price_sats, '${authType}',
      CASE WHEN g.state = 'settled' THEN 'settled' ELSE 'pending' END,
      ${created}, ${created} + ${GO_INVOICE_EXPIRY_MS}, ${settled}, '${GO_APERTURE_SOURCE}'
    FROM l402_transactions g
    WHERE ${where} AND ${d.length('g.payment_hash')} = 32 AND g.price_sats >= 0
    ON CONFLICT (token_id) DO NOTHING`;
  return {
    fingerprint: `SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS last_id,
        COALESCE(SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END), 0) AS settled,
        MAX(CAST(created_at AS TEXT)) AS last_created, MAX(CAST(settled_at AS TEXT)) AS last_settled
      FROM l402_transactions`,
    storedFingerprint: 'SELECT transactions_fingerprint FROM aperture_go_import WHERE id = 1',
    saveFingerprint: `INSERT INTO aperture_go_import (id, transactions_fingerprint, imported_at) VALUES (1, $1, $2)
      ON CONFLICT (id) DO UPDATE SET transactions_fingerprint = excluded.transactions_fingerprint, imported_at = excluded.imported_at`,
    insertL402: insert(
      d.hex('g.token_id'),
      'l402',
      `CASE WHEN g.identifier_hash IS NULL THEN NULL ELSE ${d.hex('g.identifier_hash')} END`,
      `g.auth_type = 'l402' AND g.token_id IS NOT NULL AND ${d.length('g.token_id')} = 32`,
    ),
    insertMpp: insert(`'go-mpp:' || ${d.hex('g.payment_hash')}`, 'mpp', 'NULL', `g.auth_type LIKE 'mpp%'`),
    settleL402: `UPDATE transactions SET state = 'settled', settled_at = COALESCE(
        (SELECT MAX(${d.time('g.settled_at')}) FROM l402_transactions g WHERE g.token_id = ${d.unhex('transactions.token_id')} AND g.state = 'settled'), $1)
      WHERE source = '${GO_APERTURE_SOURCE}' AND auth_type = 'l402' AND state = 'pending'
        AND EXISTS (SELECT 1 FROM l402_transactions g WHERE g.token_id = ${d.unhex('transactions.token_id')} AND g.state = 'settled')`,
    settleMpp: `UPDATE transactions SET state = 'settled', settled_at = COALESCE(
        (SELECT MAX(${d.time('g.settled_at')}) FROM l402_transactions g WHERE g.payment_hash = ${d.unhex('transactions.payment_hash')} AND g.auth_type LIKE 'mpp%' AND g.state = 'settled'), $1)
      WHERE source = '${GO_APERTURE_SOURCE}' AND auth_type = 'mpp' AND state = 'pending'
        AND EXISTS (SELECT 1 FROM l402_transactions g WHERE g.payment_hash = ${d.unhex('transactions.payment_hash')} AND g.auth_type LIKE 'mpp%' AND g.state = 'settled')`,
    // The Go aperture revokes by deleting the root key and the ledger row; a row
    // merely pruned by hand (its key still there) is not a revocation.
    markRevoked: schema.secrets
      ? `UPDATE transactions SET revoked_at = $1
        WHERE source = '${GO_APERTURE_SOURCE}' AND auth_type = 'l402' AND revoked_at IS NULL AND id_hash IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM l402_transactions g WHERE g.token_id = ${d.unhex('transactions.token_id')})
          AND NOT EXISTS (SELECT 1 FROM secrets s WHERE s.hash = ${d.unhex('transactions.id_hash')})
          AND NOT EXISTS (SELECT 1 FROM root_keys k WHERE k.id_hash = ${d.unhex('transactions.id_hash')})`
      : undefined,
    goServices: `SELECT name, address, protocol, host_regexp, path_regexp, price, auth, ${schema.servicesAuthScheme ? 'auth_scheme' : "'' AS auth_scheme"},
        CAST(updated_at AS TEXT) AS updated FROM services ORDER BY name`,
    seenServices: 'SELECT name, go_updated_at, version FROM aperture_go_services',
    saveSeen: `INSERT INTO aperture_go_services (name, go_updated_at, version) VALUES ($1, $2, $3)
      ON CONFLICT (name) DO UPDATE SET go_updated_at = excluded.go_updated_at, version = excluded.version`,
    forgetSeen: 'DELETE FROM aperture_go_services WHERE name = $1',
    lock: dialect === 'postgres' ? 'SELECT pg_advisory_xact_lock($1)' : undefined,
  };
}

/** The eight columns of a Go `services` row, as the keys of an `aperture.yaml` service entry. */
const GO_SERVICE_KEYS = ['address', 'protocol', 'hostregexp', 'pathregexp', 'price', 'auth', 'authscheme'] as const;

/**
 * A Go `services` row as an `aperture.yaml` service entry (lower-case keys),
 * laid over `previous` (the definition of that name in the registry, when it is
 * an object): the row's columns replace those keys, and an empty column (the Go
 * aperture's "default") removes the key, so the default applies; other keys of
 * `previous` (headers, rate limits, …, which the Go table cannot hold) stay.
 * @param row - the row (`name`, `address`, `protocol`, `host_regexp`, `path_regexp`, `price`, `auth`, `auth_scheme`)
 * @param previous - the current definition, if any
 * @returns the entry
 */
export function goServiceEntry(row: Row, previous: unknown): Record<string, unknown> {
  const base: Record<string, unknown> =
    previous !== null && typeof previous === 'object' && !Array.isArray(previous) ? { ...(previous as Record<string, unknown>) } : {};
  for (const key of GO_SERVICE_KEYS) delete base[key];
  // A tombstone (the admin API's `deleted: true`) gives way: the Go aperture has the service.
  delete base['deleted'];
  const text = (v: unknown): string => (v === null || v === undefined ? '' : String(v).trim());
  const entry: Record<string, unknown> = { ...base, name: String(row['name']) };
  const set = (key: string, value: string): void => {
    if (value !== '') entry[key] = value;
  };
  set('address', text(row['address']));
  set('protocol', text(row['protocol']));
  set('hostregexp', text(row['host_regexp']));
  set('pathregexp', text(row['path_regexp']));
  const price = Number(row['price'] ?? 0);
  if (Number.isSafeInteger(price) && price > 0) entry['price'] = price;
  set('auth', text(row['auth']));
  set('authscheme', text(row['auth_scheme']));
  return entry;
}

/** The registry statements the service import uses, from the store's own. */
type RegistrySql = Pick<Statements, 'bumpRegistry' | 'getService' | 'insertService' | 'updateService' | 'deleteService'>;

// Any fixed number: the PostgreSQL store's migration lock, which the import takes too.
const LOCK = 4_020_402;

/**
 * The import, as one script the store runs inside one transaction: the ledger
 * (when the Go ledger changed since the last import), then the services.
 * @param dialect - `sqlite` or `postgres`
 * @param sql - the store's registry statements
 * @param schema - what the Go schema has
 * @param now - the time of the import
 * @returns what it changed
 */
export function* goImportScript(dialect: Dialect, sql: RegistrySql, schema: GoApertureSchema, now: number): Script<GoImportReport> {
  const g = goImportStatements(dialect, schema);
  const report: GoImportReport = {
    ledgerChanged: false,
    transactionsImported: 0,
    transactionsSettled: 0,
    transactionsRevoked: 0,
    servicesImported: 0,
    servicesUpdated: 0,
    servicesRemoved: 0,
  };
  if (g.lock !== undefined) yield { text: g.lock, values: [LOCK] };
  if (schema.transactions) {
    const fp = (yield { text: g.fingerprint, values: [] }).rows[0] ?? {};
    const fingerprint = JSON.stringify(
      Object.keys(fp)
        .sort()
        .map((k) => [k, fp[k] === null || fp[k] === undefined ? null : String(fp[k])]),
    );
    const stored = (yield { text: g.storedFingerprint, values: [] }).rows[0]?.['transactions_fingerprint'];
    if (stored !== fingerprint) {
      report.ledgerChanged = true;
      report.transactionsImported += (yield { text: g.insertL402, values: [now] }).changes;
      report.transactionsImported += (yield { text: g.insertMpp, values: [now] }).changes;
      report.transactionsSettled += (yield { text: g.settleL402, values: [now] }).changes;
      report.transactionsSettled += (yield { text: g.settleMpp, values: [now] }).changes;
      if (g.markRevoked !== undefined) report.transactionsRevoked = (yield { text: g.markRevoked, values: [now] }).changes;
      yield { text: g.saveFingerprint, values: [fingerprint, now] };
    }
  }
  if (schema.services) {
    const rows = (yield { text: g.goServices, values: [] }).rows;
    const seen = new Map(
      (yield { text: g.seenServices, values: [] }).rows.map((r) => [
        String(r['name']),
        { updatedAt: String(r['go_updated_at']), version: Number(r['version']) },
      ]),
    );
    for (const row of rows) {
      const name = String(row['name']);
      const updated = String(row['updated']);
      if (name === '' || name.length > 200 || seen.get(name)?.updatedAt === updated) continue;
      const current = (yield { text: sql.getService, values: [name] }).rows[0];
      const entry = JSON.stringify(goServiceEntry(row, current === undefined ? undefined : parseJson(current['config'])));
      const version = Number((yield { text: sql.bumpRegistry, values: [] }).rows[0]?.['version']);
      if (current === undefined) {
        yield { text: sql.insertService, values: [name, entry, version, now] };
        report.servicesImported++;
      } else {
        yield { text: sql.updateService, values: [entry, version, now, name] };
        report.servicesUpdated++;
      }
      yield { text: g.saveSeen, values: [name, updated, version] };
    }
    const present = new Set(rows.map((r) => String(r['name'])));
    for (const [name, s] of seen) {
      if (present.has(name)) continue;
      const current = (yield { text: sql.getService, values: [name] }).rows[0];
      // Deleted by the Go aperture: removed here too, unless changed here since the import.
      if (current !== undefined && Number(current['version']) === s.version) {
        yield { text: sql.bumpRegistry, values: [] };
        yield { text: sql.deleteService, values: [name] };
        report.servicesRemoved++;
      }
      yield { text: g.forgetSeen, values: [name] };
    }
  }
  return report;
}

function parseJson(text: unknown): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    return undefined;
  }
}
