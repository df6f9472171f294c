// SqliteStore against the conformance suite, plus what only a file can show:
// settings on disk, migrations, reopening, lock contention and revocations
// reaching other stores on the same file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { SqliteStore, openStore, type RevocationEvent } from '../../src/store/index.js';
import { LATEST_VERSION } from '../../src/store/migrations.js';
import { L402Error } from '../../src/core/errors.js';
import { hex, idHashOf, storeConformance } from './conformance/index.js';

const root = mkdtempSync(join(tmpdir(), 'aperture-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `case-${++n}`);

storeConformance('SqliteStore', {
  lncSessions: true,
  syncGetSecret: true,
  separateInstances: true,
  async open() {
    const dir = freshDir();
    const store = new SqliteStore({ path: join(dir, 'store.db'), revocationPollMs: 0 });
    return { store, cleanup: () => store.close() };
  },
  // Two connections to one file.
  async openPair() {
    const path = join(freshDir(), 'shared.db');
    const a = new SqliteStore({ path, revocationPollMs: 0 });
    const b = new SqliteStore({ path, revocationPollMs: 0 });
    return {
      a,
      b,
      cleanup: async () => {
        await a.close();
        await b.close();
      },
    };
  },
});

const isCode = (code: string) => (e: unknown) => e instanceof L402Error && e.code === code;

test('creates aperture.db in the base directory with WAL and the latest schema', async () => {
  const dir = join(freshDir(), 'nested', 'base');
  const store = await openStore({ backend: 'sqlite', baseDir: dir });
  assert.ok(store instanceof SqliteStore);
  assert.equal(store.path, join(dir, 'aperture.db'));
  await store.close();
  const db = new Database(store.path);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  const versions = db.prepare('SELECT version FROM aperture_migrations ORDER BY version').all() as Array<{ version: number }>;
  assert.deepEqual(
    versions.map((v) => v.version),
    Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
  );
  db.close();
});

test('data survives close and reopen; migrations are not applied twice', async () => {
  const path = join(freshDir(), 'a.db');
  const first = new SqliteStore({ path });
  const idHash = randomBytes(32);
  const key = await first.newSecret(idHash);
  await first.createService('svc', { price: 1 });
  await first.close();
  const second = new SqliteStore({ path });
  assert.deepEqual(Buffer.from(second.getSecret(idHash)!), Buffer.from(key));
  assert.deepEqual((await second.getService('svc'))?.config, { price: 1 });
  await second.close();
  const db = new Database(path);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM aperture_migrations').get() as { n: number }).n, LATEST_VERSION);
  db.close();
});

test('refuses a database migrated by a newer version', () => {
  const path = join(freshDir(), 'new.db');
  new SqliteStore({ path }).close();
  const db = new Database(path);
  db.prepare('INSERT INTO aperture_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST_VERSION + 1, 'future', 0);
  db.close();
  assert.throws(() => new SqliteStore({ path }), isCode('L402_ERR_STORE_SCHEMA_TOO_NEW'));
});

test('skipMigrations leaves the file alone (queries then fail with a coded error)', async () => {
  const store = new SqliteStore({ path: join(freshDir(), 'bare.db'), skipMigrations: true, revocationPollMs: 0 });
  await assert.rejects(store.listServices(), isCode('L402_ERR_STORE_QUERY_FAILED'));
  await store.close();
});

test('a path that cannot be created is L402_ERR_STORE_UNAVAILABLE', () => {
  const dir = freshDir();
  const file = join(dir, 'not-a-dir');
  new SqliteStore({ path: join(dir, 'x.db') }).close();
  writeFileSync(file, 'plain file');
  assert.throws(() => new SqliteStore({ path: join(file, 'sub', 'x.db') }), isCode('L402_ERR_STORE_UNAVAILABLE'));
  assert.throws(() => new SqliteStore({}), isCode('L402_ERR_STORE_INVALID_ARGUMENT'));
});

test('a file locked by another connection is unavailable, and works again once released', async () => {
  const path = join(freshDir(), 'locked.db');
  const store = new SqliteStore({ path, busyTimeoutMs: 20, revocationPollMs: 0 });
  const existing = randomBytes(32);
  const key = await store.newSecret(existing);
  const other = new Database(path);
  other.exec('BEGIN EXCLUSIVE');
  await assert.rejects(
    store.newSecret(randomBytes(32)),
    (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_STORE_UNAVAILABLE' && e.status === 503,
  );
  // WAL: readers are not blocked by a writer, so the hot path keeps working.
  assert.deepEqual(Buffer.from(store.getSecret(existing)!), Buffer.from(key));
  other.exec('ROLLBACK');
  other.close();
  const idHash = randomBytes(32);
  await store.newSecret(idHash);
  assert.ok(store.getSecret(idHash));
  assert.equal((await store.health()).ok, true);
  await store.close();
});

async function revokedOn(store: SqliteStore): Promise<RevocationEvent> {
  return new Promise((resolve) => {
    const off = store.onRevoked((e) => {
      off();
      resolve(e);
    });
  });
}

test('a revocation reaches another store on the same file in this process at once', async () => {
  const path = join(freshDir(), 'shared.db');
  const a = new SqliteStore({ path, revocationPollMs: 0 });
  const b = new SqliteStore({ path, revocationPollMs: 0 });
  const tokenId = hex();
  const paymentHash = hex();
  await a.recordChallenge({ tokenId, paymentHash, service: 's', priceSats: 1, authType: 'l402', createdAt: 1, expiresAt: 2 });
  const idHash = idHashOf(paymentHash, tokenId);
  await a.newSecret(idHash);
  assert.ok(b.getSecret(idHash), 'b reads what a wrote');
  const seen = revokedOn(b);
  assert.equal(await a.revokeToken(tokenId), true);
  assert.deepEqual(await seen, { idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: true });
  assert.equal(b.getSecret(idHash), undefined);
  await a.close();
  await b.close();
});

test('a revocation made through another path to the file arrives by polling', async () => {
  // A symlinked directory stands in for another process: a different path, so
  // no in-process delivery, only the poll of the revocations table.
  const dir = freshDir();
  const a = new SqliteStore({ path: join(dir, 'db', 'poll.db'), revocationPollMs: 0 });
  symlinkSync(join(dir, 'db'), join(dir, 'alias'));
  const b = new SqliteStore({ path: join(dir, 'alias', 'poll.db'), revocationPollMs: 10 });
  const idHash = randomBytes(32);
  await a.newSecret(idHash);
  const seen = revokedOn(b);
  assert.equal(await a.revokeSecret(idHash), true);
  assert.deepEqual(await seen, { idHash: idHash.toString('hex'), tokenId: undefined, remote: true });
  await a.close();
  await b.close();
});
