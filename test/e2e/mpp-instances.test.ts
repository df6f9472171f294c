// Two `aperture` instances on one PostgreSQL schema serve the Payment scheme as
// one: the HMAC secret is created once in the database and read by the second
// instance (a challenge of one verifies on the other), and one charge credential
// sent 50 times at once, half to each, buys exactly one request.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { GO_MPP_HMAC_KEY_HASH } from '../../src/store/go-aperture-schema.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';

async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 2000 });
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

test('two instances on PostgreSQL: one shared MPP secret, and a charge credential is accepted once across both', async (t) => {
  const problem = await postgresProblem();
  if (problem !== undefined) {
    t.skip(problem);
    return;
  }
  const schema = `mpp_${randomBytes(6).toString('hex')}`;
  const backend = await startBackend((_req, res) => res.end('ok'));
  const instances: RunningAperture[] = [];
  t.after(async () => {
    for (const a of instances) await a.close();
    await backend.close();
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  const start = async (): Promise<RunningAperture> => {
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
dbbackend: postgres
postgres:
  host: 127.0.0.1
  port: 5432
  user: postgres
  dbname: test
authenticator:
  backend: dev
  enablempp: true
services:
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 2
    authscheme: mpp
`,
      tempBaseDir(t),
    );
    const a = await startAperture(config, {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
      postgresSchema: schema,
      servicesPollMs: 0,
    });
    instances.push(a);
    return a;
  };
  const a = await start();
  const b = await start();
  const secret = await a.store.getSecret(Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex'));
  assert.equal(secret?.length, 32, 'the secret is in the database');

  /** A charge credential for a challenge of instance `a`, paid. */
  const paid = async (): Promise<string> => {
    const res = await h1(`${a.url}/x`);
    assert.equal(res.status, 402);
    const charge = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders))[0] as PaymentChallenge;
    const invoice = (JSON.parse(Buffer.from(charge.request, 'base64url').toString('utf8')) as { methodDetails: { invoice: string } })
      .methodDetails.invoice;
    const { preimage } = await (a.invoicer as DevInvoicer).pay(invoice);
    return `Payment ${encodePaymentCredential({ challenge: charge, payload: { preimage } })}`;
  };
  // A challenge of one instance verifies on the other.
  assert.equal((await h1(`${b.url}/x`, { headers: { authorization: await paid() } })).status, 200);

  const authorization = await paid();
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => h1(`${(i % 2 === 0 ? a : b).url}/x`, { headers: { authorization } })),
  );
  const statuses = answers.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, `one 200 of ${JSON.stringify(statuses)}`);
  assert.equal(statuses.filter((s) => s === 402).length, 49);
});
