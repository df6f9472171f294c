// Two aperture processes on one PostgreSQL schema: tokens minted by one are accepted by
// the other, and a revocation is honoured by both within the documented bound (5 s).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { parseChallenges } from '../../src/core/challenge.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { freePort, tempBaseDir } from './support.js';

async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    if (process.env['CI']) throw new Error(`PostgreSQL must be reachable under CI: ${(error as Error).message}`);
    return `PostgreSQL at 127.0.0.1:5432 unreachable: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

test('two instances share one PostgreSQL schema: cross-instance tokens and revocation', async (t) => {
  const problem = await postgresProblem();
  if (problem !== undefined) {
    t.skip(problem);
    return;
  }
  const schema = `e2e_${randomBytes(6).toString('hex')}`;
  const backend = await startBackend((_req, res) => res.end('ok'));
  const start = async (): Promise<{ url: string; stop: () => Promise<number | null> }> => {
    const dir = tempBaseDir(t);
    const port = await freePort();
    writeFileSync(
      join(dir, 'aperture.yaml'),
      `
listenaddr: 127.0.0.1:${port}
insecure: true
debuglevel: error
dbbackend: postgres
postgres:
  host: 127.0.0.1
  port: 5432
  user: postgres
  dbname: test
authenticator:
  backend: dev
services:
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 2
`,
    );
    const p = spawnNode('bin/aperture.js', ['--basedir', dir], { APERTURE_POSTGRES_SCHEMA: schema }, t);
    await p.waitFor(/aperture listening/);
    return {
      url: `http://127.0.0.1:${port}`,
      stop: async () => {
        p.child.kill('SIGTERM');
        return p.exited;
      },
    };
  };
  const a = await start();
  const b = await start();
  const store = await PostgresStore.open({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', schema });
  try {
    const r = await fetch(`${a.url}/q`);
    assert.equal(r.status, 402);
    const c = parseChallenges(r.headers.get('www-authenticate') ?? '')[0];
    assert.ok(c !== undefined);
    const paid = (await (await fetch(`${a.url}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: c.invoice }) })).json()) as {
      preimage: string;
      payment_hash: string;
    };
    const authorization = `L402 ${c.macaroon}:${paid.preimage}`;
    assert.equal((await fetch(`${b.url}/q`, { headers: { authorization } })).status, 200);
    assert.equal((await fetch(`${a.url}/q`, { headers: { authorization } })).status, 200);

    const row = (await store.listTransactions({ state: 'settled' })).items.find((x) => x.paymentHash === paid.payment_hash);
    assert.ok(row !== undefined, 'the settled row is shared');
    const revokedAt = Date.now();
    assert.equal(await store.revokeToken(row.tokenId), true);
    for (const url of [b.url, a.url]) {
      let status = 200;
      while (status === 200) {
        assert.ok(Date.now() - revokedAt < 5500, `revocation not honoured by ${url} within 5 s`);
        status = (await fetch(`${url}/q`, { headers: { authorization } })).status;
      }
      assert.equal(status, 402);
    }
  } finally {
    await store.close();
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
    await backend.close();
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
});
