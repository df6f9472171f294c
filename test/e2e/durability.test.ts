// Storage durability of the running proxy: SIGKILL in the middle of a burst of paid
// requests, restart on the same base directory, every paid token still verifies.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseChallenges } from '../../src/core/challenge.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { startBackend } from '../proxy/support.js';
import { spawnNode, type Spawned } from './spawn.js';
import { freePort, tempBaseDir } from './support.js';

test('SIGKILL mid-burst: after a restart every paid token verifies and no settled ledger row is lost', async () => {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const dir = tempBaseDir();
  const port = await freePort();
  writeFileSync(join(dir, 'aperture.yaml'), `
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
`);
  const base = `http://127.0.0.1:${port}`;
  const start = async (): Promise<Spawned> => {
    const p = spawnNode('bin/aperture.js', ['--basedir', dir]);
    await p.waitFor(/aperture listening/);
    return p;
  };
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
  await backend.close();
});
