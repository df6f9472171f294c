// wrapFetch against real servers: the reference challenge form, the spec-only
// form, the other dialects of PROTOCOL §2, token reuse, re-paying once, single
// flight, limits, budgets and hooks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { L402Client } from '../../src/client/l402-client.js';
import { ChallengeParseError } from '../../src/client/challenge-parse-error.js';
import { clientErrorContext } from '../../src/client/client-error-context.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { readInvoice } from '../../src/client/read-invoice.js';
import { BudgetExceededError, PaymentError } from '../../src/core/errors.js';
import { TestClock } from '../fixtures/test-clock.js';

const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

for (const form of ['reference', 'spec'] as const) {
  test(`${form} form: pays once, then reuses the token`, async () => {
    const s = await server({ form });
    const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
    const first = await fetch402(`${s.url}/quote`);
    assert.equal(first.status, 200);
    assert.match(await first.text(), /^paid content for [0-9a-f]{64}/);
    const second = await fetch402(`${s.url}/quote`);
    assert.equal(second.status, 200);
    await second.text();
    assert.equal(s.payments(), 1);
    assert.equal(s.challenges(), 1);
    assert.equal(s.authorizations[0], undefined);
    assert.match(s.authorizations[1] ?? '', /^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/);
    assert.equal(s.authorizations[2], s.authorizations[1]);
  });
}

const dialects: Array<[string, (lines: Array<[string, string]>) => Array<[string, string]>, RegExp]> = [
  ['LSAT only (old servers)', (lines) => lines.filter(([, v]) => v.startsWith('LSAT')), /^LSAT /],
  ['one line, LSAT and L402 joined with ", "', (lines) => [['WWW-Authenticate', lines.map(([, v]) => v).join(', ')]], /^L402 /],
  ['parameters reversed and unquoted', (lines) => lines.map(([n, v]) => {
    const mac = /macaroon="([^"]+)"/.exec(v)?.[1] ?? '';
    const inv = /invoice="([^"]+)"/.exec(v)?.[1] ?? '';
    return [n, `${v.slice(0, 4)} invoice=${inv}, macaroon=${mac}`];
  }), /^L402 /],
  ['lower-case scheme, spec form with version, after a Payment challenge', (lines) => {
    const mac = /macaroon="([^"]+)"/.exec(lines[1]?.[1] ?? '')?.[1] ?? '';
    const inv = /invoice="([^"]+)"/.exec(lines[1]?.[1] ?? '')?.[1] ?? '';
    return [['WWW-Authenticate', `Payment id="abc", realm="x", method="lightning"`], ['WWW-Authenticate', `l402 token="${mac}", version="0", invoice="${inv}"`]];
  }, /^L402 /],
];
for (const [name, rewrite, scheme] of dialects) {
  test(`dialect: ${name}`, async () => {
    const s = await server({ rewrite });
    const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
    const res = await fetch402(`${s.url}/quote`);
    assert.equal(res.status, 200, await res.text());
    assert.equal(s.payments(), 1);
    assert.match(s.authorizations[1] ?? '', scheme);
  });
}

test('a stored token the server rejects is replaced by paying again, once', async () => {
  const s = await server();
  const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  s.rotate();
  const res = await fetch402(`${s.url}/quote`);
  assert.equal(res.status, 200);
  assert.equal(s.payments(), 2);
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  assert.equal(s.payments(), 2);
});

test('a server that rejects even a fresh token costs one payment and a typed error', async () => {
  const s = await server({ alwaysChallenge: true });
  const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  await assert.rejects(fetch402(`${s.url}/quote`), (error: unknown) => {
    assert.ok(error instanceof PaymentError);
    assert.equal(error.code, 'L402_ERR_CLIENT_TOKEN_REJECTED');
    const ctx = clientErrorContext(error);
    assert.equal(ctx?.url, `${s.url}/quote`);
    assert.equal(ctx?.responseStatus, 402);
    assert.match(ctx?.responseHeaders?.['www-authenticate'] ?? '', /L402/);
    return true;
  });
  assert.equal(s.payments(), 1);
});

test('20 parallel requests to one origin pay exactly once', async () => {
  const s = await server();
  let calls = 0;
  const dev = new DevPayer(s.invoicer);
  const fetch402 = wrapFetch(fetch, {
    payer: {
      payInvoice: (invoice: string) => {
        calls++;
        return dev.payInvoice(invoice);
      },
    },
  });
  const responses = await Promise.all(Array.from({ length: 20 }, () => fetch402(`${s.url}/quote`)));
  assert.deepEqual(responses.map((r) => r.status), Array(20).fill(200));
  await Promise.all(responses.map((r) => r.text()));
  assert.equal(calls, 1);
  assert.equal(s.payments(), 1);
  assert.equal(s.served(), 20);
});

test('an invoice whose payment hash differs from the macaroon is not paid', async () => {
  const s = await server({ mismatchedInvoice: true });
  const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  await assert.rejects(fetch402(`${s.url}/quote`), (error: unknown) => {
    assert.ok(error instanceof PaymentError);
    assert.equal(error.code, 'L402_ERR_CLIENT_HASH_MISMATCH');
    assert.equal(clientErrorContext(error)?.url, `${s.url}/quote`);
    return true;
  });
  assert.equal(s.payments(), 0);
});

test('a price above maxPriceSats is refused without paying; the fee limit reaches the payer', async () => {
  const s = await server({ priceSats: 1001 });
  const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  await assert.rejects(fetch402(`${s.url}/quote`), (error: unknown) => {
    assert.ok(error instanceof BudgetExceededError);
    assert.equal(error.code, 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
    assert.equal(clientErrorContext(error)?.responseStatus, 402);
    return true;
  });
  assert.equal(s.payments(), 0);

  const cheap = await server({ priceSats: 5 });
  const seen: Array<number | undefined> = [];
  const dev = new DevPayer(cheap.invoicer);
  const f2 = wrapFetch(fetch, {
    maxFeeSats: 3,
    payer: { payInvoice: (invoice: string, o?: { maxFeeSats?: number }) => (seen.push(o?.maxFeeSats), dev.payInvoice(invoice)) },
  });
  assert.equal((await f2(`${cheap.url}/quote`)).status, 200);
  assert.deepEqual(seen, [3]);
});

test('budgets: per origin, rolling window and total, each refusing before paying', async () => {
  const s = await server({ priceSats: 100 });
  const perOrigin = wrapFetch(fetch, { payer: new DevPayer(s.invoicer), budget: { perOriginSats: 150 } });
  assert.equal((await perOrigin(`${s.url}/quote`)).status, 200);
  s.rotate();
  await assert.rejects(perOrigin(`${s.url}/quote`), BudgetExceededError);
  assert.equal(s.payments(), 1);

  const clock = new TestClock(1_000_000);
  const w = await server({ priceSats: 100 });
  const windowed = new L402Client({ payer: new DevPayer(w.invoicer), budget: { window: { sats: 150, windowMs: 60_000 } }, clock });
  const f = wrapFetch(fetch, windowed);
  assert.equal((await f(`${w.url}/quote`)).status, 200);
  w.rotate();
  await assert.rejects(f(`${w.url}/quote`), BudgetExceededError);
  assert.equal(w.payments(), 1);
  clock.advance(60_001);
  assert.equal((await f(`${w.url}/quote`)).status, 200);
  assert.equal(w.payments(), 2);
  assert.equal(windowed.spent().totalSats, 200);

  const a = await server({ priceSats: 100 });
  const b = await server({ priceSats: 100 });
  // One wallet for two servers: whichever dev backend issued the invoice settles it.
  const payBoth = async (invoice: string): Promise<string> => {
    const issuer = (await a.invoicer.lookupInvoice(readInvoice(invoice).paymentHash).catch(() => undefined)) !== undefined ? a : b;
    return (await issuer.invoicer.pay(invoice)).preimage;
  };
  const total = new L402Client({ payer: payBoth, budget: { totalSats: 150 } });
  const t = wrapFetch(fetch, total);
  assert.equal((await t(`${a.url}/quote`)).status, 200);
  await assert.rejects(t(`${b.url}/quote`), BudgetExceededError);
  assert.equal(a.payments() + b.payments(), 1);
});

test('hooks: onChallenge sees every challenge, beforePay can veto, afterPay sees the result', async () => {
  const s = await server({ priceSats: 21 });
  const events: string[] = [];
  const vetoing = wrapFetch(fetch, {
    payer: new DevPayer(s.invoicer),
    onChallenge: (info) => void events.push(`challenge ${info.priceSats} ${info.tokenId.length}`),
    beforePay: () => false,
  });
  await assert.rejects(vetoing(`${s.url}/quote`), (error: unknown) => error instanceof PaymentError && error.code === 'L402_ERR_CLIENT_PAYMENT_VETOED');
  assert.equal(s.payments(), 0);
  const paying = wrapFetch(fetch, {
    payer: new DevPayer(s.invoicer),
    beforePay: (info) => void events.push(`before ${info.paymentHash.length}`),
    afterPay: (info, result) => void events.push(`after ${result.amountSats} ${result.preimage.length} ${info.url}`),
  });
  assert.equal((await paying(`${s.url}/quote`)).status, 200);
  assert.deepEqual(events, ['challenge 21 64', 'before 64', `after 21 64 ${s.url}/quote`]);
});

test('a plain pay function (WebLN / NWC style) is accepted', async () => {
  const s = await server();
  const fetch402 = wrapFetch(fetch, { payer: async (invoice: string) => ({ preimage: (await s.invoicer.pay(invoice)).preimage }) });
  assert.equal((await fetch402(`${s.url}/quote`)).status, 200);
  assert.equal(s.payments(), 1);
});

test('without a payer a challenge is a typed error', async () => {
  const s = await server();
  const fetch402 = wrapFetch(fetch, {});
  await assert.rejects(fetch402(`${s.url}/quote`), (error: unknown) => error instanceof PaymentError && error.code === 'L402_ERR_CLIENT_NO_PAYER');
});

test('replayable bodies are sent again after paying; streaming bodies are not retried', async () => {
  const s = await server();
  const fetch402 = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  const res = await fetch402(new Request(`${s.url}/quote`, { method: 'POST', body: 'hello request' }));
  assert.equal(res.status, 200);
  const res2 = await fetch402(`${s.url}/other`, { method: 'POST', body: new TextEncoder().encode('hello bytes') });
  assert.equal(res2.status, 200);
  assert.deepEqual(s.bodies, ['hello request', 'hello bytes']);

  const t = await server();
  const f = wrapFetch(fetch, { payer: new DevPayer(t.invoicer) });
  const stream = new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } });
  const res3 = await f(`${t.url}/quote`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  assert.equal(res3.status, 402);
  await res3.text();
  assert.equal(t.payments(), 0);
});

test('a 402 without an L402 challenge is returned as is; a broken L402 challenge is a ChallengeParseError', async () => {
  const other = await server({ rewrite: () => [['WWW-Authenticate', 'Payment id="x", method="lightning"']] });
  const f = wrapFetch(fetch, { payer: new DevPayer(other.invoicer) });
  const res = await f(`${other.url}/quote`);
  assert.equal(res.status, 402);
  assert.equal(await res.text(), 'payment required\n');

  for (const bad of ['L402 macaroon="bm90IGEgbWFjYXJvb24=", invoice="lnbcrt1nope"', 'L402 garbage']) {
    const s = await server({ rewrite: () => [['WWW-Authenticate', bad]] });
    const g = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
    await assert.rejects(g(`${s.url}/quote`), (error: unknown) => {
      assert.ok(error instanceof ChallengeParseError, String(error));
      assert.equal(error.code, 'L402_ERR_CLIENT_CHALLENGE_INVALID');
      assert.equal(error.url, `${s.url}/quote`);
      assert.equal(error.responseStatus, 402);
      return true;
    });
    assert.equal(s.payments(), 0);
  }
});

test('a request with its own Authorization header is passed through', async () => {
  const s = await server();
  const f = wrapFetch(fetch, { payer: new DevPayer(s.invoicer) });
  const res = await f(`${s.url}/quote`, { headers: { authorization: 'Bearer abc' } });
  assert.equal(res.status, 402);
  await res.text();
  assert.equal(s.payments(), 0);
});

test('a 402 after a redirect to another origin is returned unpaid; the first origin keeps its token and budget', async () => {
  const a = await server({ priceSats: 10, openRedirect: true });
  const b = await server({ priceSats: 900 });
  const payA = new DevPayer(a.invoicer);
  const payB = new DevPayer(b.invoicer);
  // A payer that could pay either server's invoice: only the client's checks stand in the way.
  const client = new L402Client({ payer: (invoice: string) => payA.payInvoice(invoice).catch(() => payB.payInvoice(invoice)), budget: { perOriginSats: 2000 } });
  const f = wrapFetch(fetch, client);
  const first = await f(`${a.url}/quote`);
  assert.equal(first.status, 200);
  await first.text();
  const keyA = client.keyOf(new URL(a.url));
  const tokenA = await client.store.get(keyA);
  assert.ok(tokenA !== undefined);

  const res = await f(`${a.url}/go?to=${encodeURIComponent(`${b.url}/x`)}`);
  assert.equal(res.status, 402);
  assert.equal(res.url, `${b.url}/x`);
  assert.equal(await res.text(), 'payment required\n');
  assert.equal(b.payments(), 0);
  assert.deepEqual(b.authorizations, [undefined], "A's token never reaches B");
  assert.deepEqual(await client.store.get(keyA), tokenA, "A's token is kept");
  assert.equal(await client.store.get(client.keyOf(new URL(b.url))), undefined);
  assert.deepEqual(client.spent().byOrigin, { [keyA]: 10 });

  // A redirect within the same origin is still paid (here with A's stored token).
  const same = await f(`${a.url}/go?to=${encodeURIComponent('/quote')}`);
  assert.equal(same.status, 200);
  await same.text();
  assert.equal(a.payments(), 1);
});
