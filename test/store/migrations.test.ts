// Schema migrations on SQLite and PostgreSQL: a database at version 3 moves
// forward with its services, charges and sessions; a new database gets the
// baseline, which must equal the versions applied one by one; and our tables
// share a database with the Go aperture's (secrets, l402_transactions,
// services, mpp_*) without touching them. PostgreSQL cases run when it answers
// at 127.0.0.1:5432 (under CI it must); each uses its own schema, dropped after.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { connectTestPostgres, dropSchemasAndEnd } from '../fixtures/test-postgres.js';
import { PostgresStore, SqliteStore, type ApertureStore } from '../../src/store/index.js';
import { BASELINE, LATEST_VERSION, MIGRATIONS, MIGRATIONS_TABLE } from '../../src/store/migrations.js';
import { hex } from './conformance/index.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `aperture_mig_${randomBytes(4).toString('hex')}`;
let schemas = 0;
let admin: pg.Client | undefined;
let unreachable: string | undefined;
const root = mkdtempSync(join(tmpdir(), 'aperture-migrations-'));
let files = 0;

before(async () => {
  ({ admin, unreachable } = await connectTestPostgres(URL));
});

after(async () => {
  rmSync(root, { recursive: true, force: true });
  if (admin !== undefined) await dropSchemasAndEnd(admin, prefix);
});

/** The table names of the Go aperture's schema (golang-migrate versions 1–9) and of golang-migrate itself. */
const GO_TABLES = [
  'secrets',
  'onion',
  'lnc_sessions',
  'l402_transactions',
  'services',
  'mpp_sessions',
  'mpp_session_credits',
  'mpp_consumed_charges',
  'schema_migrations',
];

/** The same operations on both backends: a database at version 3 with a row of every kind. */
const V3_ROWS = [
  `INSERT INTO services (name, config, created_at, updated_at) VALUES ('svc', '{"price":1}', 5, 6)`,
  `INSERT INTO mpp_charges (payment_hash, challenge_id, expires_at, consumed_at) VALUES ('${'a'.repeat(64)}', 'ch-1', 1000, 900)`,
  `INSERT INTO mpp_charges (payment_hash, challenge_id, expires_at, consumed_at) VALUES ('${'b'.repeat(64)}', NULL, NULL, 901)`,
  `INSERT INTO mpp_sessions VALUES ('s-open', '${'1'.repeat(64)}', 100, 40, 'lnbc-open', 'open', 10, 20)`,
  `INSERT INTO mpp_sessions VALUES ('s-closing', '${'2'.repeat(64)}', 50, 50, 'lnbc-closing', 'closing', 11, 21)`,
  `INSERT INTO mpp_sessions VALUES ('s-closed', '${'3'.repeat(64)}', 10, 0, 'lnbc-closed', 'closed', 12, 22)`,
  `INSERT INTO mpp_sessions VALUES ('s-odd', '${'4'.repeat(64)}', 5, 8, 'lnbc-odd', 'open', 13, 23)`,
];

async function checkMovedForward(store: ApertureStore): Promise<void> {
  assert.deepEqual(await store.getService('svc'), { name: 'svc', config: { price: 1 }, version: 1, createdAt: 5, updatedAt: 6 });
  assert.equal(await store.servicesVersion(), 1);
  await store.createService('new', {});
  assert.equal(await store.servicesVersion(), 2);

  assert.deepEqual(await store.getCharge('a'.repeat(64)), {
    paymentHash: 'a'.repeat(64),
    challengeId: 'ch-1',
    expiresAt: 1000,
    consumedAt: 900,
  });
  assert.equal(await store.consumeCharge('a'.repeat(64)), undefined, 'a consumed charge stays consumed');
  assert.equal(await store.consumeCharge('b'.repeat(64)), undefined);
  assert.equal(await store.pruneCharges(1001), 1);

  const open = await store.getSession('s-open');
  assert.deepEqual(open && [open.status, open.depositSats, open.spentSats, open.balanceSats, open.updatedAt], ['open', 100, 60, 40, 20]);
  assert.equal((await store.debitSession('s-open', 40, 30))?.balanceSats, 0, 'the balance carried over');
  const closing = await store.getSession('s-closing');
  assert.deepEqual(closing && [closing.status, closing.balanceSats, closing.closedAt, closing.refund], [
    'closed',
    50,
    21,
    { status: 'pending', attempts: 0, updatedAt: 21 },
  ]);
  assert.deepEqual(
    (await store.listRefundsDue(10, { now: 100 })).map((s) => s.id),
    ['s-closing'],
    'a refund that was under way is retried',
  );
  const closed = await store.getSession('s-closed');
  assert.deepEqual(closed && [closed.status, closed.closedAt, closed.refund], ['closed', 22, undefined]);
  const odd = await store.getSession('s-odd');
  assert.deepEqual(odd && [odd.depositSats, odd.spentSats, odd.balanceSats], [8, 0, 8], 'a balance above the deposit raises the deposit');
  assert.equal(
    await store.openSession({ id: 'x', paymentHash: '1'.repeat(64), depositSats: 1, returnInvoice: 'lnbc' }),
    'foreign',
    'deposits stay claimed',
  );
  assert.equal(await store.openSession({ id: 's-open', paymentHash: '1'.repeat(64), depositSats: 1, returnInvoice: 'lnbc' }), 'replayed');
}

/** Comparable description of an SQLite schema: every table and index with its normalised SQL. */
function sqliteSchema(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name")
      .all() as Array<{ type: string; name: string; sql: string | null }>;
    return rows.map((r) => `${r.type} ${r.name}: ${(r.sql ?? '').replace(/\s+/g, ' ')}`);
  } finally {
    db.close();
  }
}

/** A file at version 3 (migrations 1–3 applied as the code of that version did), with `rows` in it. */
function sqliteAtVersion3(path: string, rows: readonly string[]): void {
  const db = new Database(path);
  try {
    db.exec(MIGRATIONS_TABLE);
    for (const m of MIGRATIONS.slice(0, 3)) {
      db.exec(m.sqlite);
      db.prepare('INSERT INTO aperture_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    for (const row of rows) db.exec(row);
  } finally {
    db.close();
  }
}

test('the baseline is the latest version', () => {
  assert.equal(BASELINE.version, LATEST_VERSION);
});

describe('SQLite migrations', () => {
  const file = (): string => join(root, `db-${++files}.db`);

  test('a version-3 file moves forward with its services, charges and sessions, and the old tables are gone', async () => {
    const path = file();
    sqliteAtVersion3(path, V3_ROWS);
    const store = new SqliteStore({ path, revocationPollMs: 0 });
    try {
      await checkMovedForward(store);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
    const versions = (db.prepare('SELECT version FROM aperture_migrations ORDER BY version').all() as Array<{ version: number }>).map(
      (r) => r.version,
    );
    db.close();
    for (const gone of ['services', 'mpp_charges', 'mpp_sessions']) assert.ok(!tables.includes(gone), `${gone} dropped`);
    assert.deepEqual(
      versions,
      Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
    );
  });

  test('the baseline of a new file equals every migration applied one by one', async () => {
    const stepwise = file();
    sqliteAtVersion3(stepwise, []);
    await new SqliteStore({ path: stepwise, revocationPollMs: 0 }).close();
    const fresh = file();
    await new SqliteStore({ path: fresh, revocationPollMs: 0 }).close();
    assert.deepEqual(sqliteSchema(fresh), sqliteSchema(stepwise));
  });

  test("our tables share a file with the Go aperture's and leave them alone", async () => {
    const path = file();
    const db = new Database(path);
    for (const t of GO_TABLES) db.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, marker TEXT); INSERT INTO ${t} (marker) VALUES ('go')`);
    db.close();
    const store = new SqliteStore({ path, revocationPollMs: 0 });
    try {
      await exercise(store);
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      for (const t of GO_TABLES) {
        assert.deepEqual(check.prepare(`SELECT * FROM ${t}`).all(), [{ id: 1, marker: 'go' }], `${t} untouched`);
      }
      const ours = (
        check.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'").all() as Array<{
          name: string;
        }>
      ).map((r) => r.name);
      assertNoGoNames(ours.filter((n) => !GO_TABLES.includes(n)));
    } finally {
      check.close();
    }
  });
});

async function exercise(store: ApertureStore): Promise<void> {
  assert.equal(await store.createService('svc', { price: 2 }), true);
  assert.equal(await store.openSession({ id: 's', paymentHash: hex(), depositSats: 10, returnInvoice: 'lnbc' }), 'opened');
  assert.ok(await store.consumeCharge(hex()));
  const idHash = randomBytes(32);
  await store.newSecret(idHash);
  assert.ok(await store.getSecret(idHash));
}

function assertNoGoNames(names: string[]): void {
  for (const n of names) {
    assert.ok(
      !GO_TABLES.includes(n) && !/^(mpp|l402|lnc)_/.test(n) && n !== 'secrets' && n !== 'onion',
      `${n} is clear of the Go aperture's names`,
    );
  }
}

describe('PostgreSQL migrations', () => {
  function pgTest(title: string, body: (schema: string) => Promise<void>): void {
    test(title, async (t) => {
      if (unreachable !== undefined) {
        t.skip(unreachable);
        return;
      }
      await body(`${prefix}_${++schemas}`);
    });
  }
  const open = (schema: string): Promise<PostgresStore> => PostgresStore.open({ connectionString: URL, schema, maxconnections: 2 });

  async function atVersion3(schema: string, rows: readonly string[]): Promise<void> {
    await admin!.query(`CREATE SCHEMA "${schema}"`);
    await admin!.query(`SET search_path TO "${schema}"`);
    try {
      await admin!.query(MIGRATIONS_TABLE);
      for (const m of MIGRATIONS.slice(0, 3)) {
        await admin!.query(m.postgres);
        await admin!.query('INSERT INTO aperture_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      for (const row of rows) await admin!.query(row);
    } finally {
      await admin!.query('SET search_path TO DEFAULT');
    }
  }

  async function pgSchema(schema: string): Promise<string[]> {
    const columns = await admin!.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 ORDER BY table_name, column_name`,
      [schema],
    );
    const indexes = await admin!.query('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname', [schema]);
    const checks = await admin!.query(
      `SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE n.nspname = $1 ORDER BY c.conname`,
      [schema],
    );
    return [
      ...(columns.rows as Array<Record<string, string | null>>).map(
        (r) => `column ${r['table_name']}.${r['column_name']} ${r['data_type']} ${r['is_nullable']} ${r['column_default']}`,
      ),
      ...(indexes.rows as Array<{ indexname: string; indexdef: string }>).map(
        (r) => `index ${r.indexname}: ${r.indexdef.replaceAll(schema, 'S')}`,
      ),
      ...(checks.rows as Array<{ conname: string; def: string }>).map((r) => `constraint ${r.conname}: ${r.def}`),
    ];
  }

  pgTest('a version-3 schema moves forward with its services, charges and sessions, and the old tables are gone', async (schema) => {
    await atVersion3(schema, V3_ROWS);
    const store = await open(schema);
    try {
      await checkMovedForward(store);
    } finally {
      await store.close();
    }
    const tables = await admin!.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    const names = (tables.rows as Array<{ table_name: string }>).map((r) => r.table_name);
    for (const gone of ['services', 'mpp_charges', 'mpp_sessions']) assert.ok(!names.includes(gone), `${gone} dropped`);
  });

  pgTest('the baseline of a new schema equals every migration applied one by one', async (schema) => {
    await atVersion3(schema, []);
    await (await open(schema)).close();
    const fresh = `${schema}_fresh`;
    await (await open(fresh)).close();
    const stepwise = (await pgSchema(schema)).map((line) => line.replaceAll(schema, 'S'));
    assert.deepEqual(
      (await pgSchema(fresh)).map((line) => line.replaceAll(fresh, 'S')),
      stepwise,
    );
  });

  pgTest("our tables share a schema with the Go aperture's and leave them alone", async (schema) => {
    await admin!.query(`CREATE SCHEMA "${schema}"`);
    for (const t of GO_TABLES) {
      await admin!.query(`CREATE TABLE "${schema}".${t} (id INTEGER PRIMARY KEY, marker TEXT)`);
      await admin!.query(`INSERT INTO "${schema}".${t} VALUES (1, 'go')`);
    }
    const store = await open(schema);
    try {
      await exercise(store);
    } finally {
      await store.close();
    }
    for (const t of GO_TABLES) {
      assert.deepEqual((await admin!.query(`SELECT * FROM "${schema}".${t}`)).rows, [{ id: 1, marker: 'go' }], `${t} untouched`);
    }
    const ours = await admin!.query(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 'S')`,
      [schema],
    );
    const goOwned = new Set(GO_TABLES.flatMap((t) => [t, `${t}_pkey`]));
    assertNoGoNames((ours.rows as Array<{ relname: string }>).map((r) => r.relname).filter((n) => !goOwned.has(n)));
  });
});
