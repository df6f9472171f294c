// undiciL402Interceptor on a real Agent: request(), fetch() with a dispatcher,
// replayable and streaming bodies, errors through the handler, single flight.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Agent, interceptors, request, fetch as undiciFetch } from 'undici';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { undiciL402Interceptor } from '../../src/client/undici-l402-interceptor.js';
import { clientErrorContext } from '../../src/client/client-error-context.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { PaymentError } from '../../src/core/errors.js';
import { L402Client } from '../../src/client/l402-client.js';

const servers: TestServer[] = [];
const agents: Agent[] = [];
async function setup(options: Parameters<typeof startTestServer>[0] = {}): Promise<{ s: TestServer; dispatcher: ReturnType<Agent['compose']> }> {
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

test('request(): pays, retries, then reuses the token', async () => {
  for (const form of ['reference', 'spec'] as const) {
    const { s, dispatcher } = await setup({ form });
    const first = await request(`${s.url}/quote`, { dispatcher });
    assert.equal(first.statusCode, 200);
    assert.match(await first.body.text(), /^paid content for /);
    const second = await request(`${s.url}/quote`, { dispatcher });
    assert.equal(second.statusCode, 200);
    await second.body.text();
    assert.equal(s.payments(), 1);
    assert.equal(s.challenges(), 1);
  }
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

test('a refused challenge reaches the caller as the typed error with its context', async () => {
  const { s, dispatcher } = await setup({ mismatchedInvoice: true });
  await assert.rejects(request(`${s.url}/quote`, { dispatcher }), (error: unknown) => {
    assert.ok(error instanceof PaymentError, String(error));
    assert.equal(error.code, 'L402_ERR_CLIENT_HASH_MISMATCH');
    assert.equal(clientErrorContext(error)?.url, `${s.url}/quote`);
    return true;
  });
  assert.equal(s.payments(), 0);
});

test('20 parallel requests pay once', async () => {
  const { s, dispatcher } = await setup();
  const responses = await Promise.all(Array.from({ length: 20 }, () => request(`${s.url}/quote`, { dispatcher })));
  assert.deepEqual(responses.map((r) => r.statusCode), Array(20).fill(200));
  await Promise.all(responses.map((r) => r.body.text()));
  assert.equal(s.payments(), 1);
});

test('a 402 without an L402 challenge and other statuses pass through unchanged', async () => {
  const { s, dispatcher } = await setup({ rewrite: () => [['WWW-Authenticate', 'Payment id="x"']] });
  const res = await request(`${s.url}/quote`, { dispatcher });
  assert.equal(res.statusCode, 402);
  assert.equal(await res.body.text(), 'payment required\n');
  const missing = await request(`${s.url}/missing`, { dispatcher });
  assert.equal(missing.statusCode, 404);
  assert.equal(await missing.body.text(), 'not found\n');
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
