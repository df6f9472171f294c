// PostgresStore against the conformance suite (a fresh schema per case), two
// instances on one schema, concurrent migrations, and an outage made with a TCP
// forwarder the test controls. Runs when PostgreSQL answers at 127.0.0.1:5432;
// under CI it must.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { connectTestPostgres, dropSchemasAndEnd } from '../fixtures/test-postgres.js';
import { PostgresStore, SqliteStore, openStore, type RevocationEvent } from '../../src/store/index.js';
import { LATEST_VERSION } from '../../src/store/migrations.js';
import { L402Error } from '../../src/core/errors.js';
import { hex, idHashOf, storeConformance } from './conformance/index.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `aperture_test_${randomBytes(4).toString('hex')}`;
let unreachable: string | undefined;
let admin: pg.Client | undefined;
let schemas = 0;

before(async () => {
  ({ admin, unreachable } = await connectTestPostgres(URL));
});

after(async () => {
  if (admin !== undefined) await dropSchemasAndEnd(admin, prefix);
});

const newSchema = (): string => `${prefix}_${++schemas}`;
const open = (schema: string, extra: Parameters<typeof PostgresStore.open>[0] = {}): Promise<PostgresStore> =>
  PostgresStore.open({ connectionString: URL, schema, maxconnections: 4, ...extra });
const isCode = (code: string) => (e: unknown) => e instanceof L402Error && e.code === code;

storeConformance('PostgresStore', {
  lncSessions: true,
  syncGetSecret: false,
  separateInstances: true,
  skip: () => unreachable,
  async open() {
    const store = await open(newSchema());
    return { store, cleanup: () => store.close() };
  },
  // Two pools on one schema.
  async openPair() {
    const schema = newSchema();
    const a = await open(schema, { maxconnections: 5 });
    const b = await open(schema, { maxconnections: 5 });
    return { a, b, cleanup: () => Promise.all([a.close(), b.close()]).then(() => undefined) };
  },
});

function pgTest(title: string, body: () => Promise<void>): void {
  test(title, async (t) => {
    if (unreachable !== undefined) {
      t.skip(unreachable);
      return;
    }
    await body();
  });
}

function nextRevocation(store: PostgresStore): Promise<RevocationEvent> {
  return new Promise((resolve) => {
    const off = store.onRevoked((e) => {
      off();
      resolve(e);
    });
  });
}

pgTest('openStore with the reference keys applies every migration once, even when two instances start together', async () => {
  const schema = newSchema();
  const [a, b] = await Promise.all([
    openStore({ backend: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', dbname: 'test', maxconnections: 2, schema }),
    openStore({ backend: 'postgres', connectionString: URL, schema }),
  ]);
  const rows = await admin!.query(`SELECT version FROM "${schema}".aperture_migrations ORDER BY version`);
  assert.deepEqual(
    rows.rows.map((r: { version: number }) => r.version),
    Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
  );
  await a.close();
  await b.close();
  await admin!.query(`INSERT INTO "${schema}".aperture_migrations VALUES ($1, 'future', 0)`, [LATEST_VERSION + 1]);
  await assert.rejects(open(schema), isCode('L402_ERR_STORE_SCHEMA_TOO_NEW'));
  await assert.rejects(PostgresStore.open({ connectionString: URL, schema: 'bad;name' }), isCode('L402_ERR_STORE_INVALID_ARGUMENT'));
});

pgTest("two instances on one schema share secrets and see each other's revocations", async () => {
  const schema = newSchema();
  const a = await open(schema);
  const b = await open(schema);
  // A store on another schema of the same database must not hear them.
  const stranger = await open(newSchema());
  const strangerEvents: RevocationEvent[] = [];
  stranger.onRevoked((e) => strangerEvents.push(e));
  try {
    const tokenId = hex();
    const paymentHash = hex();
    const idHash = idHashOf(paymentHash, tokenId);
    await a.recordChallenge({
      tokenId,
      paymentHash,
      service: 's',
      priceSats: 3,
      authType: 'l402',
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    const key = await a.newSecret(idHash);
    assert.deepEqual(Buffer.from((await b.getSecret(idHash))!), Buffer.from(key), 'b reads what a wrote');
    assert.equal(await b.markSettled(paymentHash, Date.now(), 3), true);
    assert.equal(await a.markSettled(paymentHash, Date.now(), 3), false, 'settled once across instances');

    const onB = nextRevocation(b);
    const onA = nextRevocation(a);
    assert.equal(await a.revokeToken(tokenId), true);
    assert.deepEqual(await onA, { idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: false });
    assert.deepEqual(await onB, { idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: true });
    assert.equal(await b.getSecret(idHash), undefined);
    assert.equal(await b.revokeToken(tokenId), false);

    // And the other way round, through revokeSecret.
    const other = randomBytes(32);
    await b.newSecret(other);
    const back = nextRevocation(a);
    assert.equal(await b.revokeSecret(other), true);
    assert.deepEqual(await back, { idHash: other.toString('hex'), tokenId: undefined, remote: true });

    const charge = hex();
    const results = await Promise.all([a, b, a, b].map((s) => s.consumeCharge(charge)));
    assert.equal(results.filter(Boolean).length, 1, 'one consumption across instances');
    // Round trip through a after b's notifications: any stray delivery to the stranger would have arrived by now.
    await stranger.health();
    assert.deepEqual(strangerEvents, []);
  } finally {
    await Promise.all([a.close(), b.close(), stranger.close()]);
  }
});

/** A TCP forwarder to PostgreSQL that the test can cut and restore. */
class Forwarder {
  readonly #server = net.createServer((socket) => this.#accept(socket));
  readonly #pairs = new Set<net.Socket>();
  #cut = false;

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as net.AddressInfo).port;
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.#cut) {
      socket.destroy();
      return;
    }
    const upstream = net.connect(5432, '127.0.0.1');
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
    this.#pairs.add(socket).add(upstream);
    socket.on('close', () => this.#pairs.delete(socket));
    upstream.on('close', () => this.#pairs.delete(upstream));
  }

  /** Drops every connection and refuses new ones, like a database that went away. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#pairs) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

pgTest('an outage gives L402_ERR_STORE_UNAVAILABLE without crashing, and the store recovers', async () => {
  const schema = newSchema();
  const forwarder = new Forwarder();
  const port = await forwarder.listen();
  const store = await PostgresStore.open({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    dbname: 'test',
    schema,
    maxconnections: 3,
    connectTimeoutMs: 2000,
  });
  const direct = await open(schema);
  try {
    const idHash = randomBytes(32);
    const key = await store.newSecret(idHash);
    // Fill the pool with idle clients, so that the cut hits idle connections too
    // (an unhandled idle-client error would crash this process).
    await Promise.all([1, 2, 3].map(() => store.listServices()));

    forwarder.cut();
    await assert.rejects(
      async () => store.getSecret(idHash),
      (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_STORE_UNAVAILABLE' && e.status === 503,
    );
    await assert.rejects(store.newSecret(randomBytes(32)), isCode('L402_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.revokeToken(hex()), isCode('L402_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.collectGarbage(Date.now(), 0), isCode('L402_ERR_STORE_UNAVAILABLE'));
    const down = await store.health();
    assert.equal(down.ok, false);

    // A revocation made elsewhere while this instance is cut off.
    const missed = randomBytes(32);
    await direct.newSecret(missed);
    assert.equal(await direct.revokeSecret(missed), true);
    const replayed = nextRevocation(store);

    forwarder.restore();
    assert.deepEqual(Buffer.from((await store.getSecret(idHash))!), Buffer.from(key), 'queries work again');
    // The LISTEN connection reconnects and replays what it missed.
    assert.deepEqual(await replayed, { idHash: missed.toString('hex'), tokenId: undefined, remote: true });
    // And live notifications flow again.
    const live = randomBytes(32);
    await direct.newSecret(live);
    const next = nextRevocation(store);
    await direct.revokeSecret(live);
    assert.equal((await next).idHash, live.toString('hex'));
    assert.deepEqual(await store.health(), { ok: true, backend: 'postgres' });
  } finally {
    await store.close();
    await direct.close();
    await forwarder.close();
  }
});

pgTest('opening against an unreachable database is L402_ERR_STORE_UNAVAILABLE', async () => {
  const forwarder = new Forwarder();
  const port = await forwarder.listen();
  forwarder.cut();
  try {
    await assert.rejects(
      PostgresStore.open({ host: '127.0.0.1', port, user: 'postgres', dbname: 'test', schema: newSchema(), connectTimeoutMs: 1000 }),
      isCode('L402_ERR_STORE_UNAVAILABLE'),
    );
  } finally {
    await forwarder.close();
  }
});

pgTest(
  'skipMigrations on an absent schema: open fails with L402_ERR_STORE_QUERY_FAILED naming the missing table, and creates nothing',
  async () => {
    const schema = newSchema();
    await assert.rejects(open(schema, { skipMigrations: true }), (error: unknown) => {
      assert.ok(isCode('L402_ERR_STORE_QUERY_FAILED')(error), String(error));
      assert.match((error as Error).message, /revocations.*does not exist/);
      return true;
    });
    const found = await admin!.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    assert.equal(found.rowCount, 0, 'skipMigrations did not create the schema');
  },
);

pgTest('skipMigrations on a migrated schema works and applies nothing', async () => {
  const schema = newSchema();
  const migrated = await open(schema);
  await migrated.close();
  // A re-run of the migrations would add or change rows here.
  const before = await admin!.query(`SELECT version, applied_at FROM "${schema}".aperture_migrations ORDER BY version`);
  const store = await open(schema, { skipMigrations: true });
  try {
    const idHash = randomBytes(32);
    const key = await store.newSecret(idHash);
    assert.deepEqual(Buffer.from((await store.getSecret(idHash))!), Buffer.from(key));
    assert.equal(await store.createService('skip-migrations', { price: 1 }), true);
    assert.deepEqual(
      (await store.listServices()).map((s) => s.name),
      ['skip-migrations'],
    );
    const after = await admin!.query(`SELECT version, applied_at FROM "${schema}".aperture_migrations ORDER BY version`);
    assert.deepEqual(after.rows, before.rows);
  } finally {
    await store.close();
  }
});

pgTest('after every migration, SQLite and PostgreSQL have the same tables with the same columns', async () => {
  const schema = newSchema();
  const store = await open(schema);
  await store.close();
  const pgRows = await admin!.query(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, column_name',
    [schema],
  );
  const pgTables = new Map<string, string[]>();
  for (const r of pgRows.rows as Array<{ table_name: string; column_name: string }>) {
    pgTables.set(r.table_name, [...(pgTables.get(r.table_name) ?? []), r.column_name]);
  }

  const dir = mkdtempSync(join(tmpdir(), 'schema-parity-'));
  try {
    const path = join(dir, 'parity.db');
    await new SqliteStore({ path, revocationPollMs: 0 }).close();
    const db = new Database(path, { readonly: true });
    const sqliteTables = new Map<string, string[]>();
    try {
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all() as Array<{ name: string }>;
      for (const { name } of tables) {
        const columns = db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY name').all(name) as Array<{ name: string }>;
        sqliteTables.set(
          name,
          columns.map((c) => c.name),
        );
      }
    } finally {
      db.close();
    }
    assert.ok(sqliteTables.has('aperture_migrations') && sqliteTables.size >= 5, `sqlite tables: ${[...sqliteTables.keys()].join(', ')}`);
    // Sorted the same way on both sides (JS code-unit order), whatever the server's collation.
    const sorted = (m: Map<string, string[]>) =>
      Object.fromEntries([...m].map(([t, c]) => [t, [...c].sort()] as const).sort(([a], [b]) => (a < b ? -1 : 1)));
    assert.deepEqual(sorted(pgTables), sorted(sqliteTables));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
