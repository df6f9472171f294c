// wrapFetch against real servers: the client conformance suite (dialects, token
// reuse, paying again once, single flight, limits, budgets, hooks, payer
// failures), then what only fetch has: Request and streaming bodies, redirects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { L402Client } from '../../src/client/l402-client.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { deferCleanup } from '../fixtures/cleanup.js';
import { httpErrorOutcome, runClientConformance } from './client-conformance.js';
import { runPaymentConformance } from './payment-conformance.js';

runClientConformance({
  name: 'wrapFetch',
  challengeStatus: 402,
  challengeBody: 'payment required\n',
  typedErrors: true,
  reportsUrl: true,
  async start(t, options) {
    const s = await startTestServer(options);
    deferCleanup(t, () => s.close());
    return {
      ...s,
      url: `${s.url}/quote`,
      helper: (clientOptions) => {
        const fetch402 = wrapFetch(fetch, clientOptions);
        return async (request) => {
          try {
            const res = await fetch402(
              `${s.url}/quote`,
              request?.authorization === undefined ? undefined : { headers: { authorization: request.authorization } },
            );
            const body = await res.text();
            return res.status === 200 ? { kind: 'ok', body } : { kind: 'unpaid', status: res.status, body };
          } catch (error) {
            return httpErrorOutcome(error);
          }
        };
      },
    };
  },
});

const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
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
  const stream = new ReadableStream({
    start: (c) => {
      c.enqueue(new TextEncoder().encode('streamed'));
      c.close();
    },
  });
  const res3 = await f(`${t.url}/quote`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  assert.equal(res3.status, 402);
  await res3.text();
  assert.equal(t.payments(), 0);
});

test('a 402 after a redirect to another origin is returned unpaid; the first origin keeps its token and budget', async () => {
  const a = await server({ priceSats: 10, openRedirect: true });
  const b = await server({ priceSats: 900 });
  const payA = new DevPayer(a.invoicer);
  const payB = new DevPayer(b.invoicer);
  // A payer that could pay either server's invoice: only the client's checks stand in the way.
  const client = new L402Client({
    payer: (invoice: string) => payA.payInvoice(invoice).catch(() => payB.payInvoice(invoice)),
    budget: { perOriginSats: 2000 },
  });
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

runPaymentConformance({
  name: 'wrapFetch',
  challengeStatus: 402,
  challengeBody: '',
  typedErrors: true,
  reportsUrl: true,
  async start(t, options) {
    const s = await startTestServer(options);
    deferCleanup(t, () => s.close());
    return {
      ...s,
      url: `${s.url}/quote`,
      helper: (clientOptions) => {
        const fetch402 = wrapFetch(fetch, clientOptions);
        return async () => {
          try {
            const res = await fetch402(`${s.url}/quote`);
            const body = await res.text();
            return res.status === 200 ? { kind: 'ok', body } : { kind: 'unpaid', status: res.status, body };
          } catch (error) {
            return httpErrorOutcome(error);
          }
        };
      },
    };
  },
});
