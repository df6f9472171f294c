// Issue 19, a paywall bypass: a Payment (MPP) charge was given back whenever its
// response did not complete, also when the CLIENT went away. A client could read
// nearly the whole body, reset the connection before its end, and pay the next
// request with the same credential, forever. Through the proxy on real sockets
// (HTTP/1.1 and HTTP/2, the backend streaming a large body slowly): a client that
// leaves mid-body keeps its charge spent and its session debit debited; a backend
// that aborts mid-body still gives the payment back.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { L402Policy } from '../../src/adapters/node/l402-policy.js';
import { Gate } from '../../src/core/gate.js';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';
import type { MppAccepted } from '../../src/mpp/mpp-scheme.js';
import { MppPaymentScheme } from '../../src/mpp/mpp-payment-scheme.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { hashOf, invoiceOf, paymentHeader, world } from '../mpp/support.js';
import { h2Session, service, startBackend, startProxy, testPki, until, type Pki, type RunningProxy } from './support.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const CHUNKS = 64; // 4 MiB, one chunk every 5 ms: the client leaves long before the end
const PRICE = 10;

type Mode = 'slow' | 'abort' | 'stall' | 'small';

interface Answer {
  status: number;
  /** Body bytes received before the end or the cut. */
  received: number;
  /** The `WWW-Authenticate` lines, comma-joined. */
  challenges: string;
}

const joined = (value: string | string[] | undefined): string => (Array.isArray(value) ? value.join(', ') : (value ?? ''));

for (const protocol of ['http1', 'http2'] as const) {
  describe(`MPP through the proxy (${protocol}): who ended a response that did not complete`, () => {
    const w = world();
    let mode: Mode = 'small';
    let backend: Awaited<ReturnType<typeof startBackend>>;
    let proxy: RunningProxy<ReturnType<typeof service>>;
    let pki: Pki;
    const outcomes: ResponseOutcome[] = [];
    let releases = 0;

    before(async () => {
      pki = await testPki();
      const release = w.scheme.release.bind(w.scheme);
      w.scheme.release = (accepted: MppAccepted) => {
        releases++;
        return release(accepted);
      };
      backend = await startBackend((req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        if (mode === 'small') {
          res.end('ok');
          return;
        }
        const cutAt = mode === 'abort' || mode === 'stall' ? 8 : Infinity;
        const stall = mode === 'stall';
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': CHUNK.length * CHUNKS });
        let sent = 0;
        const timer = setInterval(() => {
          if (sent === cutAt) {
            // Stalled: nothing more until the proxy's writetimeout cuts the response.
            if (stall) clearInterval(timer);
            else res.destroy();
            return;
          }
          res.write(CHUNK);
          if (++sent === CHUNKS) res.end();
        }, 5);
        res.once('close', () => clearInterval(timer));
      });
      const gate = new Gate({ schemes: [new MppPaymentScheme({ scheme: w.scheme, priceSats: () => PRICE })], clock: w.clock });
      const policy = new L402Policy({ gate, service: 'svc', priceSats: PRICE });
      proxy = await startProxy(
        {
          services: [service(backend.address)],
          authorize: ({ request }) => policy.decide(request),
          schemes: gate.schemes,
          afterResponse: (context, decision, outcome) => {
            outcomes.push(outcome);
            gate.responded(context.request, decision, outcome);
          },
        },
        { writeTimeoutMs: 400, ...(protocol === 'http2' ? { pki } : {}) },
      );
    });
    after(async () => {
      await proxy.close();
      await proxy.proxy.close(true);
      await backend.close();
    });

    /** A request with `authorization`; with `leaveAfter`, the client destroys its socket once that many body bytes came. */
    function send(authorization: string | undefined, leaveAfter?: number): Promise<Answer> {
      return protocol === 'http1' ? sendH1(authorization, leaveAfter) : sendH2(authorization, leaveAfter);
    }

    function sendH1(authorization: string | undefined, leaveAfter: number | undefined): Promise<Answer> {
      return new Promise((resolve, reject) => {
        const headers = authorization === undefined ? {} : { authorization };
        const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: '/data', headers, agent: false }, (res) => {
          let received = 0;
          const done = (): void => resolve({ status: res.statusCode ?? 0, received, challenges: joined(res.headers['www-authenticate']) });
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

    async function sendH2(authorization: string | undefined, leaveAfter: number | undefined): Promise<Answer> {
      const session = await h2Session(proxy.url, pki.caCert);
      return new Promise((resolve, reject) => {
        const headers = { ':path': '/data', ...(authorization === undefined ? {} : { authorization }) };
        const stream = session.request(headers);
        let status = 0;
        let received = 0;
        let challenges = '';
        const done = (): void => {
          session.destroy();
          resolve({ status, received, challenges });
        };
        stream.on('response', (head) => {
          status = Number(head[':status']);
          challenges = joined(head['www-authenticate']);
        });
        stream.on('data', (chunk: Buffer) => {
          received += chunk.length;
          // The client's connection goes away: the socket is destroyed, not the stream cancelled.
          if (leaveAfter !== undefined && received >= leaveAfter && !session.destroyed) done();
        });
        stream.on('end', done);
        // A response the proxy cut ends in RST_STREAM(INTERNAL_ERROR).
        stream.on('error', (error: { code?: string }) => (error.code === 'ERR_HTTP2_STREAM_ERROR' ? done() : reject(error)));
        stream.end();
      });
    }

    /** The offers of a fresh 402. */
    async function challenges(): Promise<PaymentChallenge[]> {
      mode = 'small';
      const answer = await send(undefined);
      assert.equal(answer.status, 402);
      return parsePaymentChallenges(answer.challenges);
    }

    async function paidCharge(): Promise<string> {
      const charge = (await challenges()).find((c) => c.intent === 'charge') as PaymentChallenge;
      const { preimage } = await w.server.pay(invoiceOf({ challenge: charge } as never));
      return paymentHeader(charge, { preimage });
    }

    /** The outcome of the next response to end (the proxy reports it when the client side closes). */
    async function nextOutcome(count: number): Promise<ResponseOutcome> {
      await until(() => outcomes.length > count, 'the response outcome');
      return outcomes[count] as ResponseOutcome;
    }

    test('a client that resets its connection mid-body keeps its charge spent: the same credential is refused', async () => {
      const header = await paidCharge();
      mode = 'slow';
      const seen = outcomes.length;
      const before = releases;
      const answer = await send(header, 4 * CHUNK.length);
      assert.equal(answer.status, 200);
      assert.ok(answer.received < CHUNK.length * CHUNKS, 'left before the end');
      const outcome = await nextOutcome(seen);
      assert.deepEqual([outcome.status, outcome.completed, outcome.clientAborted], [200, false, true]);
      assert.equal(releases, before, 'nothing given back');
      mode = 'small';
      const retry = await send(header);
      assert.equal(retry.status, 402, 'the charge was consumed');
    });

    test('a backend that aborts mid-body still gives the charge back: the same credential pays the retry', async () => {
      const header = await paidCharge();
      mode = 'abort';
      const seen = outcomes.length;
      const before = releases;
      const answer = await send(header);
      assert.equal(answer.status, 200);
      assert.ok(answer.received < CHUNK.length * CHUNKS, 'cut before the end');
      const outcome = await nextOutcome(seen);
      assert.deepEqual([outcome.completed, outcome.clientAborted], [false, false]);
      assert.equal(releases, before + 1, 'given back');
      mode = 'small';
      let retry = await send(header);
      for (const until = Date.now() + 10_000; retry.status === 402 && Date.now() < until;) retry = await send(header);
      assert.equal(retry.status, 200);
    });

    test('a backend that stalls mid-body until writetimeout while the client reads gives the charge back', async () => {
      const header = await paidCharge();
      mode = 'stall';
      const seen = outcomes.length;
      const before = releases;
      const answer = await send(header);
      assert.equal(answer.status, 200);
      assert.equal(answer.received, 8 * CHUNK.length, 'cut after what the backend sent');
      const outcome = await nextOutcome(seen);
      assert.deepEqual([outcome.completed, outcome.clientAborted], [false, false]);
      assert.equal(releases, before + 1, 'given back');
    });

    test("a session's debit stays debited when the client leaves mid-body, and is credited back when the backend aborts", async () => {
      const challenge = (await challenges()).find((c) => c.intent === 'session') as PaymentChallenge;
      const { preimage } = await w.server.pay(invoiceOf({ challenge } as never));
      const open = paymentHeader(challenge, { action: 'open', preimage, returnInvoice: await w.returnInvoice() });
      const opened = await send(open);
      assert.equal(opened.status, 200);
      // The session id is the deposit's payment hash.
      const sessionId = hashOf(preimage);
      const balance = async (): Promise<number | undefined> => (await w.store.getSession(sessionId))?.balanceSats;
      const deposit = PRICE * 20;
      assert.equal(await balance(), deposit - PRICE);
      const bearer = paymentHeader(challenge, { action: 'bearer', sessionId, preimage });

      mode = 'slow';
      let seen = outcomes.length;
      const left = await send(bearer, 4 * CHUNK.length);
      assert.equal(left.status, 200);
      assert.equal((await nextOutcome(seen)).clientAborted, true);
      mode = 'small';
      // Whatever a release would have done is done once a later request went through the store.
      assert.equal((await send(bearer)).status, 200);
      assert.equal(await balance(), deposit - 3 * PRICE, 'the request the client left is paid');

      mode = 'abort';
      seen = outcomes.length;
      const cut = await send(bearer);
      assert.equal(cut.status, 200);
      assert.equal((await nextOutcome(seen)).clientAborted, false);
      let now = await balance();
      for (const until = Date.now() + 10_000; now !== deposit - 3 * PRICE && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 10));
        now = await balance();
      }
      assert.equal(now, deposit - 3 * PRICE, 'the debit of the cut response was credited back');
    });
  });
}
