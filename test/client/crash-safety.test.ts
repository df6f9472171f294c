// A payment recorded as pending (the process died between paying and storing
// the token) is resolved through trackPayment and never paid a second time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { L402Client } from '../../src/client/l402-client.js';
import { FileTokenStore } from '../../src/client/file-token-store.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { PaymentError } from '../../src/core/errors.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import type { PaymentResult } from '../../src/core/types.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * What a crashed process leaves behind: it fetched a challenge, stored the
 * pending entry, paid the invoice, and died before storing the preimage.
 */
async function crashedAfterPaying(pay: boolean): Promise<{ s: TestServer; store: FileTokenStore; first: DevPayer; hash: string }> {
  const s = await startTestServer();
  servers.push(s);
  const dir = mkdtempSync(join(tmpdir(), 'l402-crash-'));
  dirs.push(dir);
  const store = new FileTokenStore({ directory: dir });
  const res = await fetch(`${s.url}/quote`);
  await res.text();
  const challenge = parseChallenges(res.headers.get('www-authenticate') ?? '').find((c) => c.scheme === 'L402');
  assert.ok(challenge);
  const mac = Macaroon.fromBase64(challenge.macaroon);
  const hash = Buffer.from(mac.identifier.subarray(2, 34)).toString('hex');
  await store.put(`${s.url}`, {
    macaroon: mac.toBinary(),
    paymentHash: hash,
    preimage: undefined,
    amountPaidMsat: 0n,
    routingFeeMsat: 0n,
    createdNs: 1n,
  });
  const first = new DevPayer(s.invoicer);
  if (pay) await first.payInvoice(challenge.invoice);
  return { s, store, first, hash };
}

test('a pending entry whose payment went through is completed via trackPayment, not paid again', async () => {
  const { s, store, first, hash } = await crashedAfterPaying(true);
  let payCalls = 0;
  let tracked: string[] = [];
  const payer = {
    payInvoice: async (): Promise<PaymentResult> => {
      payCalls++;
      throw new Error('must not pay');
    },
    trackPayment: (h: string) => {
      tracked.push(h);
      return first.trackPayment(h);
    },
  };
  const fetch402 = wrapFetch(fetch, { payer, store });
  const results = await Promise.all(Array.from({ length: 5 }, () => fetch402(`${s.url}/quote`)));
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 200, 200, 200],
  );
  assert.equal(payCalls, 0);
  assert.equal(s.payments(), 1);
  assert.deepEqual(tracked, [hash], 'resolved once, under the single flight');
  const stored = await store.get(s.url);
  assert.equal(stored?.paymentHash, hash);
  assert.match(stored?.preimage ?? '', /^[0-9a-f]{64}$/);
  assert.equal(stored?.amountPaidMsat, 100_000n);
  tracked = [];
});

test('resolvePending() at start-up completes entries; a payer without trackPayment refuses to guess', async () => {
  const { s, store, first } = await crashedAfterPaying(true);
  const blind = new L402Client({
    store,
    payer: async () => {
      throw new Error('must not pay');
    },
  });
  await assert.rejects(blind.resolvePending(), (e: unknown) => e instanceof PaymentError && e.code === 'L402_ERR_CLIENT_PAYMENT_PENDING');
  await assert.rejects(
    wrapFetch(fetch, blind)(`${s.url}/quote`),
    (e: unknown) => e instanceof PaymentError && e.code === 'L402_ERR_CLIENT_PAYMENT_PENDING',
  );
  assert.equal(s.payments(), 1);
  const client = new L402Client({
    store,
    payer: { payInvoice: () => Promise.reject(new Error('must not pay')), trackPayment: (h: string) => first.trackPayment(h) },
  });
  assert.deepEqual(await client.resolvePending(), { completed: 1, dropped: 0 });
  assert.equal(client.spent().totalSats, 100);
  assert.equal((await wrapFetch(fetch, client)(`${s.url}/quote`)).status, 200);
  assert.equal(s.payments(), 1);
});

test('a pending entry that was never paid is dropped and the new challenge is paid once', async () => {
  const { s, store } = await crashedAfterPaying(false);
  const dev = new DevPayer(s.invoicer);
  const fetch402 = wrapFetch(fetch, { payer: dev, store });
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  assert.equal(s.payments(), 1);
});

test('a payment that fails ambiguously (timeout) is looked up before anything is forgotten', async () => {
  const s = await startTestServer();
  servers.push(s);
  const dev = new DevPayer(s.invoicer);
  let payCalls = 0;
  const payer = {
    // The money moves, then the wallet reports a timeout.
    payInvoice: async (invoice: string): Promise<PaymentResult> => {
      payCalls++;
      await dev.payInvoice(invoice);
      throw new PaymentError('L402_ERR_PAY_TIMEOUT', 'timed out');
    },
    trackPayment: (h: string) => dev.trackPayment(h),
  };
  const fetch402 = wrapFetch(fetch, { payer });
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  assert.equal(payCalls, 1);
  assert.equal(s.payments(), 1);

  // A payment that really failed drops the pending entry and reports the payer's error.
  const t = await startTestServer();
  servers.push(t);
  const failing = new L402Client({
    payer: { payInvoice: () => Promise.reject(new PaymentError('L402_ERR_PAY_NO_ROUTE', 'no route')), trackPayment: async () => undefined },
  });
  await assert.rejects(
    wrapFetch(fetch, failing)(`${t.url}/quote`),
    (e: unknown) => e instanceof PaymentError && e.code === 'L402_ERR_PAY_NO_ROUTE',
  );
  assert.deepEqual(await failing.store.keys(), []);
});
