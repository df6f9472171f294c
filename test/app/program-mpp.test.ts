// The program's MPP secret: created once in the database and read back by
// every later start; in a Go aperture's database, its own key (the `secrets`
// row under sha256("aperture-mpp-hmac-secret-v1")) is used, so challenges it
// issued keep verifying after the switch.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { mppSecret } from '../../src/app/program-mpp.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { GO_MPP_HMAC_KEY_HASH } from '../../src/store/go-aperture-schema.js';
import { goApertureDb } from '../fixtures/go-aperture-db.js';
import { tempBaseDir } from '../e2e/support.js';

test('the MPP secret is created once and read back afterwards', async () => {
  const store = new MemoryStore();
  const first = await mppSecret(store);
  assert.equal(first.length, 32);
  assert.deepEqual(await mppSecret(store), first);
  assert.deepEqual(store.getSecret(Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex')), first);
});

test('SQLite: a new database keeps the secret across restarts', async (t) => {
  const path = join(tempBaseDir(t), 'aperture.db');
  const a = new SqliteStore({ path, revocationPollMs: 0 });
  const secret = await mppSecret(a);
  await a.close();
  const b = new SqliteStore({ path, revocationPollMs: 0 });
  t.after(() => b.close());
  assert.deepEqual(Buffer.from(await mppSecret(b)), Buffer.from(secret));
});

test("a Go aperture's database: its MPP HMAC key is the one used", async (t) => {
  const go = goApertureDb(t);
  if (go === undefined) return;
  const path = join(tempBaseDir(t), 'go.db');
  await go.migrate(path);
  const goKey = randomBytes(32);
  const db = new Database(path);
  db.prepare('INSERT INTO secrets (hash, secret, created_at) VALUES (?, ?, ?)').run(Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex'), goKey, '2026-01-01 00:00:00+00:00');
  db.close();
  const store = new SqliteStore({ path, revocationPollMs: 0 });
  t.after(() => store.close());
  assert.deepEqual(Buffer.from(await mppSecret(store)), goKey);
});
