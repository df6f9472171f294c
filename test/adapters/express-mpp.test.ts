// The Payment scheme (MPP) through an adapter: expressL402 with a Gate of L402
// and MppPaymentScheme over real sockets — both offered, a paid charge served
// with its receipt (and req.l402 naming the payment), a handler's 500 giving the
// charge back so that the same credential pays the retry once; a client that
// resets its connection mid-body keeps the charge spent (issue 19), a handler
// that fails mid-body (`res.destroy(error)`) gives it back.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { expressL402 } from '../../src/adapters/express/index.js';
import { Gate } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MppPaymentScheme } from '../../src/mpp/mpp-payment-scheme.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { paymentHeader, world } from '../mpp/support.js';
import { listen, type StartedServer } from './conformance-suite.js';

describe('expressL402 with the Payment scheme', () => {
  const w = world();
  let server: StartedServer;
  let failNext = 0;
  /** How the next paid answer streams: a large body slowly, or cut by the handler with an error. */
  let stream: 'slow' | 'fail' | undefined;
  const CHUNK = Buffer.alloc(64 * 1024, 0x61);
  const CHUNKS = 64;
  const origin = (): string => `http://127.0.0.1:${server.port}`;

  before(async () => {
    const l402 = new L402Scheme({
      minter: new Minter({ invoicer: w.server, secrets: w.store, clock: w.clock }),
      verifier: new Verifier({ secrets: w.store, clock: w.clock }),
    });
    const gate = new Gate({ schemes: [l402, new MppPaymentScheme({ scheme: w.scheme, priceSats: () => 10 })], clock: w.clock });
    const app = express();
    app.use(expressL402({ gate, service: 'quotes', priceSats: 10 }));
    app.use((req, res) => {
      if (stream !== undefined) {
        const cutAt = stream === 'fail' ? 8 : Infinity;
        stream = undefined;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': CHUNK.length * CHUNKS });
        let sent = 0;
        const timer = setInterval(() => {
          if (sent === cutAt) {
            res.destroy(new Error('the database went away'));
            return;
          }
          res.write(CHUNK);
          if (++sent === CHUNKS) res.end();
        }, 5);
        res.once('close', () => clearInterval(timer));
        return;
      }
      if (failNext > 0) {
        failNext--;
        res.status(500).send('database down');
        return;
      }
      res.send(`paid by ${req.l402?.tokenId ?? 'nobody'}`);
    });
    server = await listen(createServer(app));
  });
  after(() => server.close());

  async function paidCharge(): Promise<{ header: string; paymentHash: string }> {
    const res = await fetch(`${origin()}/q`);
    assert.equal(res.status, 402);
    const values = res.headers.get('www-authenticate') as string;
    assert.match(values, /^LSAT .*, L402 .*, Payment .*, Payment /);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    await res.text();
    const charge = parsePaymentChallenges(values).find((c) => c.intent === 'charge') as PaymentChallenge;
    const request = JSON.parse(Buffer.from(charge.request, 'base64url').toString('utf8')) as {
      methodDetails: { invoice: string; paymentHash: string };
    };
    const { preimage } = await w.server.pay(request.methodDetails.invoice);
    return { header: paymentHeader(charge, { preimage }), paymentHash: request.methodDetails.paymentHash };
  }

  test('a paid charge: 200 with a receipt, the handler sees the payment; a replay gets 402', async () => {
    const { header, paymentHash } = await paidCharge();
    const ok = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), `paid by ${paymentHash}`);
    assert.ok(ok.headers.get('payment-receipt'));
    assert.equal(ok.headers.get('cache-control'), 'private');
    const replay = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    assert.equal(replay.status, 402);
    assert.equal(((await replay.json()) as { type: string }).type, 'https://paymentauth.org/problems/verification-failed');
  });

  test("the handler's 500 gives the charge back: the retry is paid by the same credential, once", async () => {
    const { header } = await paidCharge();
    failNext = 1;
    const failed = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    assert.equal(failed.status, 500);
    await failed.text();
    let retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    for (const until = Date.now() + 10_000; retry.status === 402 && Date.now() < until;) {
      await retry.text();
      retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    }
    assert.equal(retry.status, 200);
    await retry.text();
    const spent = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    assert.equal(spent.status, 402);
    await spent.text();
  });

  /** A paid request whose body streams; the client destroys its socket after `leaveAfter` bytes, if given. */
  function streamed(authorization: string, leaveAfter?: number): Promise<{ status: number; received: number }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/q', headers: { authorization }, agent: false }, (res) => {
        let received = 0;
        const done = (): void => resolve({ status: res.statusCode ?? 0, received });
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (leaveAfter !== undefined && received >= leaveAfter && !req.destroyed) {
            req.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', done);
      });
      req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
      req.end();
    });
  }

  test('a client that resets its connection mid-body keeps the charge spent: the same credential is refused', async () => {
    const { header } = await paidCharge();
    stream = 'slow';
    const left = await streamed(header, 4 * CHUNK.length);
    assert.equal(left.status, 200);
    assert.ok(left.received < CHUNK.length * CHUNKS);
    // Given back or not, it happens when the response closes: poll as a client would retry.
    let retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    for (const until = Date.now() + 1000; retry.status === 402 && Date.now() < until;) {
      await retry.text();
      await new Promise((r) => setTimeout(r, 20));
      retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    }
    await retry.text();
    assert.equal(retry.status, 402, 'the charge was consumed');
  });

  test('a handler that fails mid-body (res.destroy(error)) gives the charge back', async () => {
    const { header } = await paidCharge();
    stream = 'fail';
    const cut = await streamed(header);
    assert.equal(cut.status, 200);
    assert.ok(cut.received < CHUNK.length * CHUNKS);
    let retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    for (const until = Date.now() + 10_000; retry.status === 402 && Date.now() < until;) {
      await retry.text();
      retry = await fetch(`${origin()}/q`, { headers: { authorization: header } });
    }
    assert.equal(retry.status, 200);
    await retry.text();
  });
});
