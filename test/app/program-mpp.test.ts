// The program's MPP secret: created once in the database and read back by
// every later start; in a Go aperture's database, its own key (the `secrets`
// row under sha256("aperture-mpp-hmac-secret-v1")) is used: one secret for
// both programs. The sweep timer closes and refunds
// idle sessions and stops on close; sessions without a refund payer are refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { mppSecret, openProgramMpp } from '../../src/app/program-mpp.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { L402Error } from '../../src/core/errors.js';
import { configFrom, quiet, TestClock } from '../e2e/support.js';
import { eventually } from './support.js';
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
  db.prepare('INSERT INTO secrets (hash, secret, created_at) VALUES (?, ?, ?)').run(
    Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex'),
    goKey,
    '2026-01-01 00:00:00+00:00',
  );
  db.close();
  const store = new SqliteStore({ path, revocationPollMs: 0 });
  t.after(() => store.close());
  assert.deepEqual(Buffer.from(await mppSecret(store)), goKey);
  // Created only when absent: the Go key is the one kept, in both tables.
  assert.deepEqual(Buffer.from(await store.newSecretIfAbsent(Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex'))), goKey);
  assert.deepEqual(Buffer.from(await mppSecret(store)), goKey);
});

test('instances starting together on an empty database all get the one secret it kept', async (t) => {
  const path = join(tempBaseDir(t), 'aperture.db');
  const stores = [0, 1, 2].map(() => new SqliteStore({ path, revocationPollMs: 0 }));
  t.after(() => Promise.all(stores.map((s) => s.close())));
  const secrets = await Promise.all(stores.flatMap((s) => [mppSecret(s), mppSecret(s)]));
  for (const secret of secrets) assert.deepEqual(Buffer.from(secret), Buffer.from(secrets[0]!));
});

test('the sweep timer closes and refunds an idle session, and stops on close', async (t) => {
  const dir = tempBaseDir(t);
  const clock = new TestClock(Date.now());
  const config = configFrom(
    'listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\n  enablempp: true\n  enablesessions: true\n  sessionidletimeout: 60\n',
    dir,
  );
  const store = new MemoryStore({ clock });
  const invoicer = new DevInvoicer({ clock, onWarning: () => undefined });
  const wallet = new DevInvoicer({ onWarning: () => undefined });
  t.after(async () => {
    await invoicer.close();
    await wallet.close();
  });
  const mpp = await openProgramMpp(config, store, invoicer, { clock, log: quiet, refundPayer: new DevPayer(wallet), sweepIntervalMs: 10 });
  assert.ok(mpp);
  assert.deepEqual(mpp.scheme.intents, ['charge', 'session']);
  const returnInvoice = await wallet.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
  const id = 'ab'.repeat(32);
  assert.equal(
    await store.openSession({ id, paymentHash: id, depositSats: 30, returnInvoice: returnInvoice.paymentRequest, now: clock.now() }),
    'opened',
  );
  clock.advance(61_000);
  await eventually(
    'the idle session is closed and refunded',
    async () => (await store.getSession(id))?.refund?.status === 'succeeded',
    10_000,
    10,
  );
  assert.equal((await wallet.lookupInvoice(returnInvoice.paymentHash)).state, 'settled');
  await mpp.close();
  // Stopped: a session idle after close stays open.
  const later = 'cd'.repeat(32);
  await store.openSession({
    id: later,
    paymentHash: later,
    depositSats: 30,
    returnInvoice: (await wallet.createInvoice({ amountSats: 0, expirySeconds: 86_400 })).paymentRequest,
    now: clock.now(),
  });
  clock.advance(61_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await store.getSession(later))?.status, 'open');
});

test('sessions with an injected invoicer and no refund payer are refused at start', async (t) => {
  const config = configFrom(
    'listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\n  enablempp: true\n  enablesessions: true\n',
    tempBaseDir(t),
  );
  const invoicer = { createInvoice: () => Promise.reject(new Error('unused')) } as unknown as Parameters<typeof openProgramMpp>[2];
  await assert.rejects(
    openProgramMpp(config, new MemoryStore(), invoicer, { clock: new TestClock(), log: quiet }),
    (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_CONFIG_INVALID' && /paymacaroonpath/.test(e.message),
  );
  // MPP off: nothing is built.
  const off = configFrom('listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\n', tempBaseDir(t));
  assert.equal(await openProgramMpp(off, new MemoryStore(), invoicer, { clock: new TestClock(), log: quiet }), undefined);
});
