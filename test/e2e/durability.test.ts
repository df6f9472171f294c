// Storage durability of the running proxy: SIGKILL in the middle of a burst of paid
// requests, restart on the same base directory, every paid token still verifies.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseChallenges } from '../../src/core/challenge.js';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { startBackend } from '../proxy/support.js';
import { spawnNode, type Spawned } from './spawn.js';
import { freePort, tempBaseDir, type CleanupScope } from './support.js';

/**
 * A backend, a base directory with an aperture.yaml (SQLite, dev backend, one
 * paid service) and a way to start `aperture` on it as a child process.
 */
async function durableSetup(t: CleanupScope) {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const dir = tempBaseDir(t);
  const port = await freePort();
  writeFileSync(
    join(dir, 'aperture.yaml'),
    `
listenaddr: 127.0.0.1:${port}
insecure: true
debuglevel: error
authenticator:
  backend: dev
services:
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 1
`,
  );
  const start = async (): Promise<Spawned> => {
    const p = spawnNode('bin/aperture.js', ['--basedir', dir], {}, t);
    await p.waitFor(/aperture listening/);
    return p;
  };
  return { backend, dir, base: `http://127.0.0.1:${port}`, start };
}

/**
 * After the crash: every paid token has its settled ledger row, and after a
 * restart every one of them gets 200; the restarted proxy stops cleanly.
 */
async function assertPaidTokensSurvived(
  dir: string,
  base: string,
  start: () => Promise<Spawned>,
  paid: ReadonlyArray<{ hash: string; authorization: string }>,
): Promise<void> {
  const store = new SqliteStore({ baseDir: dir, revocationPollMs: 0 });
  const settled = new Set((await store.listTransactions({ state: 'settled', limit: 1000 })).items.map((r) => r.paymentHash));
  await store.close();
  for (const p of paid) assert.ok(settled.has(p.hash), `settled row of ${p.hash} lost`);

  const second = await start();
  for (const p of paid) {
    const r = await fetch(`${base}/q`, { headers: { authorization: p.authorization } });
    assert.equal(r.status, 200);
  }
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());
}

test('SIGKILL mid-burst: after a restart every paid token verifies and no settled ledger row is lost', async (t) => {
  const { backend, dir, base, start } = await durableSetup(t);
  const first = await start();
  const paid: { authorization: string; hash: string }[] = [];
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await fetch(`${base}/q`);
        const c = parseChallenges(r.headers.get('www-authenticate') ?? '')[0];
        if (c === undefined) return;
        const pr = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: c.invoice }) });
        if (pr.status !== 200) continue;
        const body = (await pr.json()) as { preimage: string; payment_hash: string };
        // Acknowledged: the settlement is durable from here on.
        paid.push({ authorization: `L402 ${c.macaroon}:${body.preimage}`, hash: body.payment_hash });
      } catch {
        return; // the process was killed
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  while (paid.length < 12) await new Promise((r) => setImmediate(r));
  first.child.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  await first.exited;

  await assertPaidTokensSurvived(dir, base, start, paid);
  await backend.close();
});

test('SIGKILL during a burst of paid-token requests interleaved with new payments: integrity_check ok, every token verifies, no settled row lost', async (t) => {
  const { backend, dir, base, start } = await durableSetup(t);
  const buy = async (): Promise<{ authorization: string; hash: string } | undefined> => {
    const r = await fetch(`${base}/q`);
    const c = parseChallenges(r.headers.get('www-authenticate') ?? '')[0];
    if (c === undefined) return undefined;
    const pr = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: c.invoice }) });
    if (pr.status !== 200) return undefined;
    const body = (await pr.json()) as { preimage: string; payment_hash: string };
    return { authorization: `L402 ${c.macaroon}:${body.preimage}`, hash: body.payment_hash };
  };
  const first = await start();
  // Several tokens paid (and acknowledged) before the burst.
  const paid: { authorization: string; hash: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const p = await buy();
    assert.ok(p !== undefined);
    paid.push(p);
  }
  let stop = false;
  let authenticated = 0;
  const spender = async (n: number): Promise<void> => {
    for (let i = n; !stop; i++) {
      try {
        const p = paid[i % paid.length] as { authorization: string };
        const r = await fetch(`${base}/q`, { headers: { authorization: p.authorization } });
        await r.arrayBuffer();
        assert.equal(r.status, 200);
        authenticated++;
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        return; // the process was killed
      }
    }
  };
  const buyer = async (): Promise<void> => {
    while (!stop) {
      try {
        const p = await buy();
        if (p !== undefined) paid.push(p);
      } catch {
        return;
      }
    }
  };
  const workers = [spender(0), spender(3), spender(5), buyer(), buyer()];
  // Kill once the burst is well under way: many authenticated requests and new payments in flight.
  while (authenticated < 60 || paid.length < 12) await new Promise((r) => setImmediate(r));
  first.child.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  await first.exited;

  // The database file as the crash left it (WAL included), read-only, before any restart touches it.
  const db = new Database(join(dir, 'aperture.db'), { readonly: true, fileMustExist: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
  await assertPaidTokensSurvived(dir, base, start, paid);
  await backend.close();
});
