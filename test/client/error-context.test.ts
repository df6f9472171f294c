// What typed client errors carry: the request (URL, method) and the response
// (status, headers, and for wrapFetch a readable Response copy, bounded in size
// and in waiting time), for wrapFetch and the undici interceptor.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { ChallengeParseError } from '../../src/client/challenge-parse-error.js';
import { clientErrorContext, withClientContext } from '../../src/client/client-error-context.js';
import { MemoryTokenStore } from '../../src/client/memory-token-store.js';
import { undiciL402Interceptor } from '../../src/client/undici-l402-interceptor.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { PaymentError } from '../../src/core/errors.js';

/** A 402 naming L402 whose macaroon does not decode: the client must throw ChallengeParseError without paying. */
const BROKEN_CHALLENGE = 'L402 macaroon="bm90IGEgbWFjYXJvb24=", invoice="lnbcrt1notaninvoice"';
const BIG = 'x'.repeat(64 * 1024 + 1);

let server: Server;
let base: string;
const stalled: ServerResponse[] = [];

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.setHeader('www-authenticate', BROKEN_CHALLENGE);
    res.setHeader('x-request-id', 'r-1');
    res.statusCode = 402;
    if (req.url === '/big') {
      res.end(BIG);
    } else if (req.url === '/stall') {
      // Headers and part of the body, then nothing: the error must not wait for the rest.
      res.setHeader('content-length', '100');
      res.write('partial');
      stalled.push(res);
    } else {
      res.end(`payment required for ${req.method} ${req.url}\n`);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

test('wrapFetch: the error carries URL, method, status, headers and the 402 as a Response whose body can be read', async () => {
  const fetch402 = wrapFetch(fetch, { payer: () => assert.fail('nothing may be paid') });
  const error = await rejection(fetch402(`${base}/quote?x=1`, { method: 'post', body: 'hello' }));
  assert.ok(error instanceof ChallengeParseError);
  assert.equal(error.url, `${base}/quote?x=1`);
  assert.equal(error.requestMethod, 'POST');
  assert.equal(error.responseStatus, 402);
  assert.equal(error.responseHeaders?.['x-request-id'], 'r-1');
  const ctx = clientErrorContext(error);
  assert.ok(ctx?.response instanceof Response);
  assert.equal(ctx.requestMethod, 'POST');
  assert.equal(ctx.response.status, 402);
  assert.equal(ctx.response.headers.get('www-authenticate'), BROKEN_CHALLENGE);
  assert.equal(await ctx.response.text(), `payment required for POST /quote?x=1\n`);
});

test("wrapFetch: a Request object's method is reported", async () => {
  const fetch402 = wrapFetch(fetch, {});
  const error = await rejection(fetch402(new Request(`${base}/r`, { method: 'PUT', body: 'b' })));
  assert.equal(clientErrorContext(error)?.requestMethod, 'PUT');
  assert.equal(await clientErrorContext(error)?.response?.text(), 'payment required for PUT /r\n');
});

test('wrapFetch: a body over 64 KiB, or one that stalls, is not kept (the error still comes, with status and headers)', async () => {
  const fetch402 = wrapFetch(fetch, {});
  const big = clientErrorContext(await rejection(fetch402(`${base}/big`)));
  assert.equal(big?.response?.status, 402);
  assert.equal(big.response.headers.get('x-request-id'), 'r-1');
  assert.equal(await big.response.text(), '');

  const stall = clientErrorContext(await rejection(fetch402(`${base}/stall`)));
  assert.equal(stall?.responseStatus, 402);
  assert.equal(await stall.response?.text(), '');
});

test('wrapFetch: an error before any request (unresolvable pending token) carries URL and method, no response', async () => {
  const store = new MemoryTokenStore();
  const origin = new URL(base).origin;
  await store.put(origin, {
    macaroon: new Uint8Array([1]),
    paymentHash: 'ab'.repeat(32),
    preimage: undefined,
    amountPaidMsat: 0n,
    routingFeeMsat: 0n,
    createdNs: 0n,
  });
  const fetch402 = wrapFetch(fetch, { store, payer: () => assert.fail('nothing may be paid') });
  const error = await rejection(fetch402(`${base}/pending`, { method: 'DELETE' }));
  assert.ok(error instanceof PaymentError);
  assert.equal(error.code, 'L402_ERR_CLIENT_PAYMENT_PENDING');
  assert.deepEqual(clientErrorContext(error), { url: `${base}/pending`, requestMethod: 'DELETE' });
});

test('undici interceptor: the error carries URL, method, status and headers', async () => {
  const agent = new Agent();
  try {
    const dispatcher = agent.compose(undiciL402Interceptor({}));
    const error = await rejection(request(`${base}/u`, { dispatcher, method: 'PATCH', body: 'x' }));
    assert.ok(error instanceof ChallengeParseError);
    assert.deepEqual(
      { url: error.url, method: error.requestMethod, status: error.responseStatus, id: error.responseHeaders?.['x-request-id'] },
      { url: `${base}/u`, method: 'PATCH', status: 402, id: 'r-1' },
    );
    assert.equal(clientErrorContext(error)?.response, undefined, 'undici errors carry status and headers, not a Response');
  } finally {
    await agent.close();
  }
});

test('withClientContext adds fields without dropping the ones already there', () => {
  const error = withClientContext(new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', 'x'), {
    url: 'https://a/b',
    responseStatus: 402,
    responseHeaders: { a: '1' },
  });
  withClientContext(error, { url: 'https://a/b', requestMethod: 'GET' });
  assert.deepEqual(clientErrorContext(error), {
    url: 'https://a/b',
    requestMethod: 'GET',
    responseStatus: 402,
    responseHeaders: { a: '1' },
  });
  assert.equal(clientErrorContext(new Error('plain')), undefined);
});
