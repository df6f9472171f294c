// The Go aperture's database opened as it is, on SQLite and PostgreSQL: a
// database built by golang-migrate from the Go aperture's own migration files,
// holding tokens minted with Go's macaroon library and rows written by its
// drivers (test/fixtures/go-aperture-db/). Our store reads its root keys, imports
// its ledger and services, writes new root keys where the Go aperture finds them,
// honours revocations in both directions, and leaves the Go tables and
// golang-migrate's record as they were. Needs Go (skips without it, fails under
// CI); PostgreSQL cases run when it answers (under CI they must), each in its own
// schema, dropped after.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { connectTestPostgres, dropSchemasAndEnd } from '../fixtures/test-postgres.js';
import { PostgresStore, SqliteStore } from '../../src/store/index.js';
import { Minter } from '../../src/core/minter.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { GO_APERTURE_TABLES, GO_INVOICE_EXPIRY_MS } from '../../src/store/go-aperture-schema.js';
import { goApertureDb, goPostgresDb, type GoApertureDb } from '../fixtures/go-aperture-db.js';
import { FakeInvoicer } from '../core/support.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `aperture_goa_${randomBytes(4).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'aperture-go-adoption-'));
let admin: pg.Client | undefined;
let unreachable: string | undefined;
let n = 0;

before(async () => {
  ({ admin, unreachable } = await connectTestPostgres(URL));
});

after(async () => {
  rmSync(root, { recursive: true, force: true });
  if (admin !== undefined) await dropSchemasAndEnd(admin, prefix);
});

type AnyStore = SqliteStore | PostgresStore;

/** One database written by the Go tool, and our store on it. */
interface Backend {
  name: string;
  /** The Go tool's -db value. */
  db: string;
  open(options?: { adoptGoAperture?: boolean }): Promise<AnyStore>;
  /** Rows of a read-only query, `$1`… placeholders. */
  rows(sql: string, values?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** Runs a statement as another program would (test setup only). */
  exec(sql: string): Promise<void>;
  /** Every Go table's definition, comparable before and after. */
  goSchema(): Promise<string[]>;
}

const sqliteBackend = (): Backend => {
  const path = join(root, `go-${++n}.db`);
  const withDb = <T>(fn: (db: Database.Database) => T, readonly = true): T => {
    const db = new Database(path, { readonly });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    name: 'SQLite',
    db: path,
    open: async (options = {}) => new SqliteStore({ path, revocationPollMs: 0, ...options }),
    rows: async (sql, values = []) =>
      withDb((db) => db.prepare(sql.replace(/\$\d+/g, '?')).all(...values) as Array<Record<string, unknown>>),
    exec: async (sql) => withDb((db) => void db.exec(sql), false),
    goSchema: async () =>
      withDb((db) =>
        (
          db
            .prepare(
              `SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN (${GO_APERTURE_TABLES.map((t) => `'${t}'`).join(', ')}) ORDER BY type, name`,
            )
            .all() as Array<{ type: string; name: string; sql: string | null }>
        ).map((r) => `${r.type} ${r.name}: ${r.sql ?? ''}`),
      ),
  };
};

const postgresBackend = async (): Promise<Backend> => {
  const schema = `${prefix}_${++n}`;
  await admin!.query(`CREATE SCHEMA "${schema}"`);
  const inSchema = async <T>(fn: () => Promise<T>): Promise<T> => {
    await admin!.query(`SET search_path TO "${schema}"`);
    try {
      return await fn();
    } finally {
      await admin!.query('SET search_path TO DEFAULT');
    }
  };
  return {
    name: 'PostgreSQL',
    db: goPostgresDb(URL, schema),
    open: (options = {}) => PostgresStore.open({ connectionString: URL, schema, maxconnections: 3, ...options }),
    rows: (sql, values = []) => inSchema(async () => (await admin!.query(sql, values)).rows as Array<Record<string, unknown>>),
    exec: (sql) => inSchema(async () => void (await admin!.query(sql))),
    goSchema: async () => {
      const columns = await admin!.query(
        `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = ANY($2) ORDER BY table_name, column_name`,
        [schema, [...GO_APERTURE_TABLES]],
      );
      const indexes = await admin!.query(
        'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = ANY($2) ORDER BY indexname',
        [schema, [...GO_APERTURE_TABLES]],
      );
      return [
        ...(columns.rows as Array<Record<string, unknown>>).map((r) => Object.values(r).join(' ')),
        ...(indexes.rows as Array<Record<string, unknown>>).map((r) => Object.values(r).join(' ')),
      ];
    },
  };
};

/** Registers `body` for both backends (PostgreSQL skipped visibly when it is down, except under CI). */
function both(title: string, body: (t: TestContext, go: GoApertureDb, b: Backend) => Promise<void>): void {
  for (const kind of ['SQLite', 'PostgreSQL'] as const) {
    test(`${kind}: ${title}`, async (t) => {
      if (kind === 'PostgreSQL' && unreachable !== undefined) {
        t.skip(unreachable);
        return;
      }
      const go = goApertureDb(t);
      if (go === undefined) return;
      await body(t, go, kind === 'SQLite' ? sqliteBackend() : await postgresBackend());
    });
  }
}

const sha256 = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest();
const goRows = async (b: Backend): Promise<Record<string, unknown>> => {
  const out: Record<string, unknown> = {};
  for (const t of GO_APERTURE_TABLES) out[t] = (await b.rows(`SELECT COUNT(*) AS n FROM ${t}`))[0]?.['n'];
  return out;
};

describe("the Go aperture's database", () => {
  both(
    'opens as it is: its root keys verify, its ledger and services are read, its tables and schema_migrations are untouched',
    async (_t, go, b) => {
      assert.deepEqual(await go.migrate(b.db), { version: 9, dirty: false });
      const paid = await go.mint(b.db, { service: 'quotes', price: 21, settle: true, validForSeconds: 3600 });
      const unpaid = await go.mint(b.db, { service: 'quotes', price: 21 });
      await go.service(b.db, { name: 'quotes', address: '127.0.0.1:9001', pathregexp: '^/quotes', price: 21, auth: 'on' });
      await go.service(b.db, { name: 'free', address: '127.0.0.1:9002', auth: 'off' });
      const schemaBefore = await b.goSchema();
      const rowsBefore = await goRows(b);
      const secretsBefore = await b.rows('SELECT id, hash, secret, created_at FROM secrets ORDER BY id');

      const store = await b.open();
      try {
        assert.deepEqual(store.goAperture?.schema, {
          tables: [...GO_APERTURE_TABLES],
          version: 9,
          dirty: false,
          secrets: true,
          transactions: true,
          services: true,
          servicesAuthScheme: true,
          sessions: true,
          sessionCredits: true,
        });
        assert.deepEqual(store.goAperture?.imported, {
          ledgerChanged: true,
          transactionsImported: 2,
          transactionsSettled: 0,
          transactionsRevoked: 0,
          servicesImported: 2,
          servicesUpdated: 0,
          servicesRemoved: 0,
        });

        // The Go token's root key, found under sha256 of its identifier, verifies the Go macaroon.
        const mac = Macaroon.fromBase64(paid.macaroon);
        const key = await store.getSecret(sha256(mac.identifier));
        assert.equal(Buffer.from(key ?? []).toString('hex'), paid.rootKey);
        assert.ok(mac.verifySignature(key as Uint8Array));

        const page = await store.listTransactions({ now: paid.createdAt + 1000 });
        assert.equal(page.total, 2);
        const byToken = new Map(page.items.map((r) => [r.tokenId, r]));
        const p = byToken.get(paid.tokenId);
        assert.deepEqual(p && [p.paymentHash, p.service, p.priceSats, p.authType, p.state, p.createdAt, p.expiresAt], [
          paid.paymentHash,
          'quotes',
          21,
          'l402',
          'settled',
          paid.createdAt,
          paid.createdAt + GO_INVOICE_EXPIRY_MS,
        ]);
        assert.ok(p?.settledAt !== undefined && p.settledAt >= paid.createdAt);
        assert.equal(byToken.get(unpaid.tokenId)?.state, 'pending');
        assert.deepEqual(await store.revenueStats(), {
          totalSats: 21,
          count: 1,
          services: [{ service: 'quotes', totalSats: 21, count: 1 }],
        });
        assert.deepEqual(
          (await store.listTokens()).items.map((r) => r.tokenId),
          [paid.tokenId],
        );

        assert.deepEqual(
          (await store.listServices()).map((s) => s.config),
          [
            { name: 'free', address: '127.0.0.1:9002', protocol: 'http', hostregexp: '.*', auth: 'off', authscheme: 'l402' },
            {
              name: 'quotes',
              address: '127.0.0.1:9001',
              protocol: 'http',
              hostregexp: '.*',
              pathregexp: '^/quotes',
              price: 21,
              auth: 'on',
              authscheme: 'l402',
            },
          ],
        );
      } finally {
        await store.close();
      }

      // Opening again changes nothing: the import is idempotent.
      const again = await b.open();
      try {
        assert.equal(again.goAperture?.imported?.ledgerChanged, false);
        assert.equal(again.goAperture?.imported?.servicesImported, 0);
        assert.equal((await again.listTransactions()).total, 2);
        assert.equal(await again.servicesVersion(), 2);
      } finally {
        await again.close();
      }

      assert.deepEqual(await b.goSchema(), schemaBefore, 'the Go tables are defined as before');
      assert.deepEqual(await goRows(b), rowsBefore, 'the Go tables hold the same rows');
      assert.deepEqual(await b.rows('SELECT id, hash, secret, created_at FROM secrets ORDER BY id'), secretsBefore);
      assert.deepEqual(
        (await b.rows('SELECT version, dirty FROM schema_migrations')).map((r) => [Number(r['version']), Boolean(r['dirty'])]),
        [[9, false]],
      );
      // …and golang-migrate, run again as the Go aperture does at every start, finds nothing to do.
      assert.deepEqual(await go.migrate(b.db), { version: 9, dirty: false });
    },
  );

  both('tokens minted here are written where the Go aperture finds them; revocations hold in both directions', async (_t, go, b) => {
    await go.migrate(b.db);
    const goToken = await go.mint(b.db, { service: 'svc', settle: true });
    const store = await b.open();
    try {
      const invoicer = new FakeInvoicer();
      const minter = new Minter({ invoicer, secrets: store });
      const ours = await minter.mint({ services: [{ name: 'svc', tier: 0 }], priceSats: 5 });
      const ourToken = { macaroon: ours.macaroonBase64, preimage: invoicer.preimageOf(ours.paymentHash) };
      // Switching back: the Go aperture verifies a token sold here with the key in its `secrets`.
      assert.deepEqual(await go.verify(b.db, ourToken, 'svc'), { ok: true, caveats: ['services=svc:0'] });
      const created = await b.rows('SELECT created_at FROM secrets WHERE hash = $1', [Buffer.from(sha256(ours.macaroon.identifier))]);
      assert.equal(created.length, 1);

      // Revoked here: gone for the Go aperture too.
      await store.recordChallenge({
        tokenId: ours.tokenId,
        paymentHash: ours.paymentHash,
        service: 'svc',
        priceSats: 5,
        authType: 'l402',
        createdAt: Date.now(),
        expiresAt: Date.now() + 3_600_000,
      });
      assert.equal(await store.revokeToken(ours.tokenId), true);
      assert.deepEqual(await go.verify(b.db, ourToken, 'svc'), { ok: false, reason: 'secret not found' });

      // A Go token revoked here: its key leaves `secrets`, its ledger row stays, marked.
      assert.deepEqual(await go.verify(b.db, goToken, 'svc'), { ok: true, caveats: ['services=svc:0'] });
      assert.equal(await store.revokeToken(goToken.tokenId), true);
      assert.equal(await store.getSecret(Buffer.from(goToken.idHash, 'hex')), undefined);
      assert.deepEqual(await go.verify(b.db, goToken, 'svc'), { ok: false, reason: 'secret not found' });
      assert.ok((await store.getTransaction(goToken.tokenId))?.revokedAt !== undefined);
      assert.equal((await b.rows('SELECT COUNT(*) AS n FROM l402_transactions'))[0]?.['n'] == 1, true, 'the Go ledger row is left alone');
    } finally {
      await store.close();
    }
    // What this store wrote to `secrets` is no change of the Go ledger: the next start does not re-import.
    const again = await b.open();
    try {
      assert.equal(again.goAperture?.imported?.ledgerChanged, false);
    } finally {
      await again.close();
    }
  });

  both('after a switch back, the next start picks up what the Go aperture did meanwhile', async (_t, go, b) => {
    await go.migrate(b.db);
    const kept = await go.mint(b.db, { service: 'svc', settle: true });
    const later = await go.mint(b.db, { service: 'svc' });
    await go.service(b.db, { name: 'svc', address: '127.0.0.1:9001', price: 2 });
    await go.service(b.db, { name: 'gone', address: '127.0.0.1:9003' });
    let store = await b.open();
    try {
      // Fields the Go table cannot hold, set here (as the admin API would).
      const svc = await store.getService('svc');
      assert.equal(await store.updateService('svc', { ...(svc?.config as object), headers: { 'X-Api-Key': 'k' } }), true);
      // A row of our own whose token ID is not hex (MPP) sits in the ledger the next import compares against.
      assert.equal(
        await store.recordChallenge({
          tokenId: 'mpp-challenge-1',
          paymentHash: 'ab'.repeat(32),
          service: 'svc',
          priceSats: 1,
          authType: 'mpp',
          createdAt: 1,
          expiresAt: 2,
        }),
        true,
      );
    } finally {
      await store.close();
    }

    // The Go aperture runs again: a new token, a settlement, a revocation, a changed and a deleted service.
    const fresh = await go.mint(b.db, { service: 'svc', price: 3, settle: true });
    await b.exec(
      `UPDATE l402_transactions SET state = 'settled', settled_at = created_at WHERE token_id = ${b.name === 'SQLite' ? `X'${later.tokenId}'` : `'\\x${later.tokenId}'`}`,
    );
    assert.deepEqual(await go.revoke(b.db, kept.tokenId), { secretsDeleted: 1 });
    await go.service(b.db, { name: 'svc', address: '127.0.0.1:9009', price: 4 });
    await b.exec("DELETE FROM services WHERE name = 'gone'");

    store = await b.open();
    try {
      assert.deepEqual(store.goAperture?.imported, {
        ledgerChanged: true,
        transactionsImported: 1,
        transactionsSettled: 1,
        transactionsRevoked: 1,
        servicesImported: 0,
        servicesUpdated: 1,
        servicesRemoved: 1,
      });
      assert.equal((await store.getTransaction(fresh.tokenId))?.state, 'settled');
      assert.equal((await store.getTransaction(later.tokenId))?.state, 'settled');
      assert.ok((await store.getTransaction(kept.tokenId))?.revokedAt !== undefined, 'revoked by the Go aperture');
      assert.equal(await store.getSecret(Buffer.from(kept.idHash, 'hex')), undefined);
      assert.deepEqual(
        (await store.getService('svc'))?.config,
        {
          name: 'svc',
          address: '127.0.0.1:9009',
          protocol: 'http',
          hostregexp: '.*',
          price: 4,
          authscheme: 'l402',
          headers: { 'X-Api-Key': 'k' },
        },
        "the Go aperture's columns over the fields set here",
      );
      assert.equal(await store.getService('gone'), undefined);
    } finally {
      await store.close();
    }
  });

  both(
    'garbage collection never takes an imported row or its key (the Go aperture may not have recorded the payment)',
    async (_t, go, b) => {
      await go.migrate(b.db);
      const pending = await go.mint(b.db, { service: 'svc' });
      const store = await b.open();
      try {
        // Our own unpaid challenge, whose key is in both tables, is collected from both.
        const invoicer = new FakeInvoicer();
        const ours = await new Minter({ invoicer, secrets: store }).mint({ services: [{ name: 'svc', tier: 0 }], priceSats: 1 });
        await store.recordChallenge({
          tokenId: ours.tokenId,
          paymentHash: ours.paymentHash,
          service: 'svc',
          priceSats: 1,
          authType: 'l402',
          createdAt: 1000,
          expiresAt: 2000,
        });
        const later = pending.createdAt + 30 * GO_INVOICE_EXPIRY_MS;
        const report = await store.collectGarbage(later, 0);
        assert.deepEqual(report, { rootKeys: 1, transactions: 1, charges: 0 });
        assert.equal(
          (await b.rows('SELECT COUNT(*) AS n FROM secrets WHERE hash = $1', [Buffer.from(sha256(ours.macaroon.identifier))]))[0]?.['n'] ==
            0,
          true,
        );
        assert.ok(await store.getSecret(Buffer.from(pending.idHash, 'hex')), 'the Go key stays');
        assert.equal((await store.getTransaction(pending.tokenId, later))?.state, 'expired');
      } finally {
        await store.close();
      }
    },
  );

  both('the import is one transaction: a failure half-way leaves nothing, and the next start imports once', async (_t, go, b) => {
    await go.migrate(b.db);
    await go.mint(b.db, { service: 'svc', settle: true });
    await go.mint(b.db, { service: 'svc', settle: true });
    await go.service(b.db, { name: 'svc', address: '127.0.0.1:9001' });
    await (await b.open({ adoptGoAperture: false })).close();
    // Something the import cannot write (here: a trigger refusing the second imported row).
    if (b.name === 'SQLite') {
      await b.exec(`CREATE TRIGGER refuse BEFORE INSERT ON transactions WHEN (SELECT COUNT(*) FROM transactions) >= 1
        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    } else {
      await b.exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF (SELECT COUNT(*) FROM transactions) >= 1 THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON transactions FOR EACH ROW EXECUTE FUNCTION refuse()`);
    }
    // (A store that opens after all is closed, so that a failing assertion leaves no pool behind.)
    const refused = await b.open().then(
      async (s) => void (await s.close()),
      (e: unknown) => e,
    );
    assert.equal((refused as { code?: string } | undefined)?.code, 'L402_ERR_STORE_QUERY_FAILED');
    assert.deepEqual(await b.rows('SELECT COUNT(*) AS n FROM transactions').then((r) => Number(r[0]?.['n'])), 0);
    assert.deepEqual(await b.rows('SELECT COUNT(*) AS n FROM aperture_go_import').then((r) => Number(r[0]?.['n'])), 0);
    assert.deepEqual(await b.rows('SELECT COUNT(*) AS n FROM aperture_services').then((r) => Number(r[0]?.['n'])), 0);
    await b.exec(b.name === 'SQLite' ? 'DROP TRIGGER refuse' : 'DROP TRIGGER refuse ON transactions; DROP FUNCTION refuse()');
    const store = await b.open();
    try {
      assert.equal(store.goAperture?.imported?.transactionsImported, 2);
      assert.equal((await store.listServices()).length, 1);
      assert.equal(await store.servicesVersion(), 1);
    } finally {
      await store.close();
    }
  });

  both('adoptGoAperture: false leaves the Go tables unread', async (_t, go, b) => {
    await go.migrate(b.db);
    const token = await go.mint(b.db, { service: 'svc', settle: true });
    const store = await b.open({ adoptGoAperture: false });
    try {
      assert.equal(store.goAperture, undefined);
      assert.equal(await store.getSecret(Buffer.from(token.idHash, 'hex')), undefined);
      assert.equal((await store.listTransactions()).total, 0);
    } finally {
      await store.close();
    }
  });
  both('a key created only when absent: one the Go aperture wrote is kept; a new one is written to both tables', async (_t, go, b) => {
    await go.migrate(b.db);
    const goHash = randomBytes(32);
    const goKey = randomBytes(32);
    const store = await b.open();
    try {
      // The Go aperture's secret (as its MPP HMAC secret is): the one newSecretIfAbsent keeps.
      const lit = (bytes: Buffer): string => (b.name === 'SQLite' ? `X'${bytes.toString('hex')}'` : `'\\x${bytes.toString('hex')}'`);
      await b.exec(`INSERT INTO secrets (hash, secret, created_at) VALUES (${lit(goHash)}, ${lit(goKey)}, '2026-01-01 00:00:00')`);
      assert.deepEqual(Buffer.from(await store.newSecretIfAbsent(goHash)), goKey);
      assert.deepEqual(Buffer.from((await store.getSecret(goHash))!), goKey);
      const fresh = randomBytes(32);
      const made = Buffer.from(await store.newSecretIfAbsent(fresh));
      assert.deepEqual(Buffer.from(await store.newSecretIfAbsent(fresh)), made);
      const [row] = await b.rows('SELECT secret FROM secrets WHERE hash = $1', [fresh]);
      assert.deepEqual(Buffer.from(row?.['secret'] as Uint8Array), made);
    } finally {
      await store.close();
    }
  });
});

describe("the Go aperture's consumed charges", () => {
  both('goChargeConsumed finds a charge the Go aperture consumed (mpp_consumed_charges), and only with adoption', async (_t, go, b) => {
    await go.migrate(b.db);
    const spent = randomBytes(32).toString('hex');
    const bytes = b.name === 'SQLite' ? `X'${spent}'` : `'\\x${spent}'::bytea`;
    await b.exec(
      `INSERT INTO mpp_consumed_charges (payment_hash, challenge_id, expires_at, consumed_at) VALUES (${bytes}, 'go-id', '2026-01-01 00:15:00', '2026-01-01 00:00:00')`,
    );
    const store = await b.open();
    try {
      assert.equal(await store.goChargeConsumed(spent), true);
      assert.equal(await store.goChargeConsumed(randomBytes(32).toString('hex')), false);
      await assert.rejects(store.goChargeConsumed('XYZ'), { code: 'L402_ERR_STORE_INVALID_ARGUMENT' });
    } finally {
      await store.close();
    }
    const unadopted = await b.open({ adoptGoAperture: false });
    try {
      assert.equal(await unadopted.goChargeConsumed(spent), false);
    } finally {
      await unadopted.close();
    }
  });
});
