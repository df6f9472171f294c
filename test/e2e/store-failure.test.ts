// aperture on PostgreSQL through a TCP forwarder the test cuts and restores: requests that
// need the database answer 503 L402_ERR_STORE_UNAVAILABLE, the process keeps running, and
// everything works again when the database is back, without a restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { TcpForwarder } from '../fixtures/tcp-forwarder.js';
import { h1, startBackend } from '../proxy/support.js';
import { ledgerRow, settledInLedger } from './lnd-support.js';
import { watchedLogger } from './log-support.js';
import { challengeOf, configFrom, tempBaseDir, wwwAuthenticate } from './support.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';

async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG, connectionTimeoutMillis: 2000 });
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

async function paidToken(aperture: RunningAperture): Promise<{ authorization: string; paymentHash: string }> {
  const res = await h1(`${aperture.url}/api/x`);
  assert.equal(res.status, 402, res.body);
  const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
  const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
  assert.equal(paid.paymentHash, decodeInvoice(invoice).paymentHash);
  return { authorization: `L402 ${macaroon}:${paid.preimage}`, paymentHash: paid.paymentHash };
}

test(
  'PostgreSQL outage: 503 L402_ERR_STORE_UNAVAILABLE for what needs the store, the process keeps running, recovery without restart',
  { timeout: 60_000 },
  async (t) => {
    const problem = await postgresProblem();
    if (problem !== undefined) {
      t.skip(problem);
      return;
    }
    const schema = `e2e_fail_${randomBytes(6).toString('hex')}`;
    const forwarder = new TcpForwarder(5432);
    const port = await forwarder.listen();
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const dir = tempBaseDir(t);
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
dbbackend: postgres
postgres:
  host: 127.0.0.1
  port: ${port}
  user: postgres
  dbname: test
  maxconnections: 3
prometheus:
  enabled: true
  listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`,
      dir,
    );
    const { logger, next } = watchedLogger();
    const aperture = await startAperture(config, {
      logger,
      gcIntervalMs: 0,
      defaultMetrics: false,
      postgresSchema: schema,
      verifierCacheTtlMs: 60_000,
    });
    try {
      const seen = await paidToken(aperture);
      await settledInLedger(aperture, seen.paymentHash);
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: seen.authorization } })).status, 200);
      // Paid but never presented: verifying it needs its root key from the database.
      const unseen = await paidToken(aperture);
      await settledInLedger(aperture, unseen.paymentHash);

      // Issued before the outage, paid during it: the settlement cannot be written yet.
      const duringRes = await h1(`${aperture.url}/api/x`);
      assert.equal(duringRes.status, 402);
      const during = challengeOf(wwwAuthenticate(duringRes.rawHeaders));
      const duringHash = decodeInvoice(during.invoice).paymentHash;

      forwarder.cut();

      const challenge = await h1(`${aperture.url}/api/x`);
      assert.equal(challenge.status, 503);
      assert.equal(challenge.body, 'service unavailable (L402_ERR_STORE_UNAVAILABLE)\n');
      assert.equal(challenge.headers['www-authenticate'], undefined);
      const verify = await h1(`${aperture.url}/api/x`, { headers: { authorization: unseen.authorization } });
      assert.equal(verify.status, 503);
      assert.equal(verify.body, 'service unavailable (L402_ERR_STORE_UNAVAILABLE)\n');
      // Verified within the cache TTL: no database needed.
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: seen.authorization } })).status, 200);
      const health = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/healthz`);
      assert.equal(health.status, 503);
      assert.equal((JSON.parse(health.body) as { store: { ok: boolean } }).store.ok, false);
      const metrics = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/metrics`);
      assert.match(metrics.body, /aperture_requests_total\{service="api",outcome="unavailable"\} 2/);

      const failed = next('could not record a settlement; retrying', { paymentHash: duringHash });
      const duringPaid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(during.invoice);
      await failed;
      const recorded = next('invoice settled', { paymentHash: duringHash });

      forwarder.restore();

      // Recorded by the retry, without a restart.
      await recorded;
      assert.equal((await ledgerRow(aperture, duringHash))?.state, 'settled');
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: `L402 ${during.macaroon}:${duringPaid.preimage}` } })).status,
        200,
      );

      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: unseen.authorization } })).status,
        200,
        'verification works again',
      );
      const fresh = await paidToken(aperture);
      await settledInLedger(aperture, fresh.paymentHash);
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: fresh.authorization } })).status,
        200,
        'challenges work again',
      );
      // The revocation listener reconnects with its own backoff (at most 5 s): health turns ok once it has.
      const since = Date.now();
      while ((await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/healthz`)).status !== 200) {
        assert.ok(Date.now() - since < 10_000, 'healthz back to 200 within the listener backoff');
      }
    } finally {
      await aperture.close();
      await backend.close();
      await forwarder.close();
      const client = new pg.Client({ connectionString: PG });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  },
);
