// undiciL402Interceptor on a real Agent: the client conformance suite through
// request() (dialects, token reuse, paying again once, single flight, limits,
// budgets, hooks, payer failures), then what only undici has: fetch() with a
// dispatcher, replayable and streaming bodies, redirects composed inside or outside.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Agent, interceptors, request, fetch as undiciFetch } from 'undici';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { undiciL402Interceptor } from '../../src/client/undici-l402-interceptor.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { L402Client } from '../../src/client/l402-client.js';
import { deferCleanup } from '../fixtures/cleanup.js';
import { httpErrorOutcome, runClientConformance } from './client-conformance.js';
import { runPaymentConformance } from './payment-conformance.js';

runClientConformance({
  name: 'undici interceptor',
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
        const agent = new Agent();
        deferCleanup(t, () => agent.close());
        const dispatcher = agent.compose(undiciL402Interceptor(clientOptions));
        return async (call) => {
          try {
            const headers = call?.authorization === undefined ? {} : { authorization: call.authorization };
            const res = await request(`${s.url}/quote`, { dispatcher, headers });
            const body = await res.body.text();
            return res.statusCode === 200 ? { kind: 'ok', body } : { kind: 'unpaid', status: res.statusCode, body };
          } catch (error) {
            return httpErrorOutcome(error);
          }
        };
      },
    };
  },
});

const servers: TestServer[] = [];
const agents: Agent[] = [];
async function setup(
  options: Parameters<typeof startTestServer>[0] = {},
): Promise<{ s: TestServer; dispatcher: ReturnType<Agent['compose']> }> {
  const s = await startTestServer(options);
  servers.push(s);
  const agent = new Agent();
  agents.push(agent);
  return { s, dispatcher: agent.compose(undiciL402Interceptor({ payer: new DevPayer(s.invoicer) })) };
}
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await Promise.all(servers.map((s) => s.close()));
});

test('a string body is replayed; a stream body is sent once and its 402 returned', async () => {
  const { s, dispatcher } = await setup();
  const res = await request(`${s.url}/quote`, { dispatcher, method: 'POST', body: 'replay me' });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  assert.deepEqual(s.bodies, ['replay me']);

  const t = await setup();
  const streamed = await request(`${t.s.url}/quote`, { dispatcher: t.dispatcher, method: 'POST', body: Readable.from(['once']) });
  assert.equal(streamed.statusCode, 402);
  assert.match(String(streamed.headers['www-authenticate']), /L402/);
  assert.equal(await streamed.body.text(), 'payment required\n');
  assert.equal(t.s.payments(), 0);
});

test("undici's fetch with the composed dispatcher", async () => {
  const { s, dispatcher } = await setup();
  const res = await undiciFetch(`${s.url}/quote`, { dispatcher });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(s.payments(), 1);
});

test('other statuses pass through unchanged', async () => {
  const { s, dispatcher } = await setup();
  const missing = await request(`${s.url}/missing`, { dispatcher });
  assert.equal(missing.statusCode, 404);
  assert.equal(await missing.body.text(), 'not found\n');
  assert.equal(s.challenges(), 0);
});

test('redirects: composed inside, a 402 from another origin passes unpaid; composed outside, each origin pays its own', async () => {
  const a = await startTestServer({ priceSats: 10, openRedirect: true });
  const b = await startTestServer({ priceSats: 20 });
  servers.push(a, b);
  const payA = new DevPayer(a.invoicer);
  const payB = new DevPayer(b.invoicer);
  const payer = (invoice: string): ReturnType<DevPayer['payInvoice']> => payA.payInvoice(invoice).catch(() => payB.payInvoice(invoice));
  const target = `${a.url}/go?to=${encodeURIComponent(`${b.url}/x`)}`;

  const inside = new L402Client({ payer });
  const agent1 = new Agent();
  agents.push(agent1);
  const d1 = agent1.compose(interceptors.redirect({ maxRedirections: 3 }), undiciL402Interceptor(inside));
  const warm = await request(`${a.url}/quote`, { dispatcher: d1 });
  assert.equal(warm.statusCode, 200);
  await warm.body.text();
  const tokenA = await inside.store.get(inside.keyOf(new URL(a.url)));
  assert.ok(tokenA !== undefined);
  const res = await request(target, { dispatcher: d1 });
  assert.equal(res.statusCode, 402);
  await res.body.text();
  assert.equal(b.payments(), 0);
  assert.deepEqual(b.authorizations, [undefined]);
  assert.deepEqual(await inside.store.get(inside.keyOf(new URL(a.url))), tokenA);
  assert.deepEqual(inside.spent().byOrigin, { [inside.keyOf(new URL(a.url))]: 10 });

  const outside = new L402Client({ payer });
  const agent2 = new Agent();
  agents.push(agent2);
  const d2 = agent2.compose(undiciL402Interceptor(outside), interceptors.redirect({ maxRedirections: 3 }));
  const paid = await request(target, { dispatcher: d2 });
  assert.equal(paid.statusCode, 200);
  await paid.body.text();
  assert.equal(b.payments(), 1);
  assert.deepEqual(outside.spent().byOrigin, { [outside.keyOf(new URL(b.url))]: 20 });
  assert.equal(await outside.store.get(outside.keyOf(new URL(a.url))), undefined);
});

runPaymentConformance({
  name: 'undici interceptor',
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
        const agent = new Agent();
        deferCleanup(t, () => agent.close());
        const dispatcher = agent.compose(undiciL402Interceptor(clientOptions));
        return async () => {
          try {
            const res = await request(`${s.url}/quote`, { dispatcher });
            const body = await res.body.text();
            return res.statusCode === 200 ? { kind: 'ok', body } : { kind: 'unpaid', status: res.statusCode, body };
          } catch (error) {
            return httpErrorOutcome(error);
          }
        };
      },
    };
  },
});
