// The Payment scheme on two instances sharing PostgreSQL: the same charge credential
// sent 50 times at once through both is accepted exactly once, and a session debited
// concurrently through both never goes below zero; a metered session's debits and
// settlements interleaved through both end at the sum of the costs. Runs when PostgreSQL answers at
// 127.0.0.1:5432; under CI it must.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/index.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { MppScheme } from '../../src/mpp/mpp-scheme.js';
import { invoiceOf, meteredSessionRace, paymentHeader, quiet, requestWith } from './support.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `aperture_mpp_${randomBytes(4).toString('hex')}`;
let unreachable: string | undefined;
let admin: pg.Client | undefined;
const stores: PostgresStore[] = [];

before(async () => {
  const client = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    admin = client;
  } catch (error) {
    if (process.env['CI']) throw new Error(`PostgreSQL must be reachable under CI: ${(error as Error).message}`);
    unreachable = `PostgreSQL unreachable at ${URL}: ${(error as Error).message}`;
  }
});

after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  if (admin === undefined) return;
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

/** Two schemes (two instances of the program) sharing a secret, a Lightning node and one PostgreSQL schema. */
async function twoInstances() {
  const server = new DevInvoicer(quiet);
  const client = new DevInvoicer(quiet);
  const secret = randomBytes(32);
  const a = await PostgresStore.open({ connectionString: URL, schema, maxconnections: 5 });
  const b = await PostgresStore.open({ connectionString: URL, schema, maxconnections: 5 });
  stores.push(a, b);
  const scheme = (store: PostgresStore) =>
    new MppScheme({
      realm: 'api.example.test',
      secret,
      invoicer: server,
      network: 'regtest',
      charges: store,
      sessions: { store, payer: new DevPayer(client), decodeInvoice },
    });
  return { server, client, a, b, one: scheme(a), two: scheme(b) };
}

test('the same charge credential sent 50 times at once through two instances is accepted exactly once', async (t) => {
  if (unreachable !== undefined) return t.skip(unreachable);
  const { server, one, two } = await twoInstances();
  const target = { service: 'quotes', priceSats: 7 };
  const [offer] = await one.offers({ ...target, intents: ['charge'] });
  const { preimage } = await server.pay(invoiceOf(offer!));
  const header = paymentHeader(offer!.challenge, { preimage });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? one : two).verify(requestWith(header), target)));
  assert.equal(results.filter((r) => r.kind === 'accepted').length, 1);
  assert.equal(results.filter((r) => r.kind === 'refused' && r.code === 'L402_ERR_MPP_REPLAYED').length, 49);
  // Released by the instance that accepted it, it buys exactly one more request.
  const won = results.find((r) => r.kind === 'accepted');
  assert.ok(won?.kind === 'accepted');
  assert.equal(await one.release(won), true);
  const retry = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? two : one).verify(requestWith(header), target)));
  assert.equal(retry.filter((r) => r.kind === 'accepted').length, 1);
});

test('a session debited concurrently through two instances never goes below zero', async (t) => {
  if (unreachable !== undefined) return t.skip(unreachable);
  const { server, client, a, one, two } = await twoInstances();
  const target = { service: 'chat', priceSats: 3 };
  const [offer] = await one.offers({ ...target, intents: ['session'] });
  const { preimage } = await server.pay(invoiceOf(offer!));
  const returnInvoice = (await client.createInvoice({ amountSats: 0 })).paymentRequest;
  const opened = await two.verify(requestWith(paymentHeader(offer!.challenge, { action: 'open', preimage, returnInvoice })), target);
  assert.equal(opened.kind, 'accepted');
  const bearer = paymentHeader(offer!.challenge, { action: 'bearer', sessionId: offer!.paymentHash, preimage });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? one : two).verify(requestWith(bearer), target)));
  const ok = results.filter((r) => r.kind === 'accepted');
  assert.equal(ok.length, 19, '57 sat left after the opening request buys 19 requests of 3 sat');
  assert.equal(results.filter((r) => r.kind === 'refused' && r.code === 'L402_ERR_MPP_INSUFFICIENT_BALANCE').length, 31);
  for (const r of ok) assert.ok(r.kind === 'accepted' && (r.balanceSats ?? -1) >= 0);
  const session = await a.getSession(offer!.paymentHash);
  assert.equal(session?.balanceSats, 0);
  assert.equal(session?.spentSats, 60);
  // Closing through both at once closes once; the other sees it closed.
  const close = paymentHeader(offer!.challenge, { action: 'close', sessionId: offer!.paymentHash, preimage });
  const closes = await Promise.all([one.verify(requestWith(close), target), two.verify(requestWith(close), target)]);
  const codes = closes.map((r) => (r.kind === 'refused' ? r.code : r.kind)).sort();
  assert.deepEqual(codes, ['L402_ERR_MPP_INSUFFICIENT_BALANCE', 'L402_ERR_MPP_SESSION_CLOSED']);
  assert.equal((await a.getSession(offer!.paymentHash))?.refund?.status, 'skipped');
});

test('a metered session debited and settled concurrently through two instances ends at the sum of its costs, clamped', async (t) => {
  if (unreachable !== undefined) return t.skip(unreachable);
  const { server, client, a, one, two } = await twoInstances();
  await meteredSessionRace(one, two, server, client, a);
});
