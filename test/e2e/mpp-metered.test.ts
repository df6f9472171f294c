// Metered MPP sessions through the `aperture` program, with real gRPC price servers
// (the reference's pricesrpc wire format, defined here independently of the client):
// a session challenge advertises QuoteSession's unit price and deposit, each session
// request is debited the quote and then settled at SettleSession's cost, read from
// the end of the response (usagetailbytes); a pricer without the session RPCs
// (UNIMPLEMENTED) leaves the ordinary price standing; a pricer failing at settlement
// leaves the estimate standing, logged, and the program keeps serving.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevInvoicer as ClientNode } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { eventually } from '../app/support.js';
import { startPriceServer } from '../fixtures/fake-price-server.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, removeDir, tempBaseDir, wwwAuthenticate } from './support.js';

interface Settled {
  session_id: string;
  path: string;
  service_name: string;
  http_status: number;
  content_type: string;
  content_encoding: string;
  complete: boolean;
  response_tail: Buffer;
  estimate_sats: string;
  http_request_text: string;
}

function requestOf(challenge: PaymentChallenge): Record<string, string> {
  return JSON.parse(Buffer.from(challenge.request, 'base64url').toString('utf8')) as Record<string, string>;
}

function payment(challenge: PaymentChallenge, payload: Record<string, unknown>): string {
  return `Payment ${encodePaymentCredential({ challenge, payload })}`;
}

/** The cost a backend response reports at its very end, after `pad` bytes of stream. */
const TAIL_COST = /"usage":\{"cost":(\d+)\}\}\s*$/;

describe('metered MPP sessions through the aperture program', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const pricers: grpc.Server[] = [];
  const clientNode = new ClientNode({ onWarning: () => undefined });
  const quotes: Array<Record<string, unknown>> = [];
  const settled: Settled[] = [];
  const acceptEncodings: Array<string | undefined> = [];
  const logs: Array<Record<string, unknown>> = [];
  const baseDir = tempBaseDir();

  before(async () => {
    // An event stream of `pad` bytes that ends with its usage object, the cost asked for in the query.
    backend = await startBackend((req, res) => {
      acceptEncodings.push(req.headers['accept-encoding']);
      const url = new URL(req.url ?? '/', 'http://x');
      const pad = Number(url.searchParams.get('pad') ?? '0');
      res.setHeader('content-type', 'text/event-stream');
      res.write(`data: ${'x'.repeat(pad)}\n\n`);
      res.end(`data: {"usage":{"cost":${url.searchParams.get('cost') ?? '0'}}}\n\n`);
    });
    const metered = await startPriceServer({
      GetPrice: (_call, cb) => cb(null, { price_sats: '100' }),
      QuoteSession: (call, cb) => {
        quotes.push(call.request);
        cb(null, { unit_price_sats: '3', deposit_sats: '60' });
      },
      SettleSession: (call, cb) => {
        const usage = call.request as unknown as Settled;
        settled.push(usage);
        const cost = TAIL_COST.exec(usage.response_tail.toString('utf8'));
        cb(null, { cost_sats: cost === null ? '0' : cost[1] });
      },
    });
    const legacy = await startPriceServer({ GetPrice: (_call, cb) => cb(null, { price_sats: '4' }) });
    const failing = await startPriceServer({
      GetPrice: (_call, cb) => cb(null, { price_sats: '100' }),
      QuoteSession: (_call, cb) => cb(null, { unit_price_sats: '5', deposit_sats: '0' }),
      SettleSession: (_call, cb) => cb({ code: grpc.status.UNAVAILABLE, details: 'meter is down' }),
    });
    pricers.push(metered.server, legacy.server, failing.server);
    const service = (name: string, address: string, extra = ''): string => `
  - name: ${name}
    pathregexp: '^/${name}'
    address: ${backend.address}
    authscheme: mpp
    dynamicprice:
      enabled: true
      grpcaddress: ${address}
      insecure: true
      metered: true${extra}`;
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
  enablempp: true
  enablesessions: true
  mpprealm: api.example.test
  sessiondepositmultiplier: 10
services:${service('metered', metered.address, '\n      usagetailbytes: 1024')}${service('legacy', legacy.address)}${service('failing', failing.address)}
`,
      baseDir,
    );
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    aperture = await startAperture(config, {
      logger: pino({ level: 'warn' }, sink),
      gcIntervalMs: 0,
      defaultMetrics: false,
      refundPayer: new DevPayer(clientNode),
      mppSweepIntervalMs: 0,
    });
  });

  after(async () => {
    await aperture?.close();
    await backend?.close();
    for (const server of pricers) server.forceShutdown();
    await clientNode.close();
    removeDir(baseDir);
  });

  const server = (): DevInvoicer => aperture.invoicer as DevInvoicer;
  const store = () => aperture.store;

  /** A session opened on `path` (the open request itself served and debited). */
  async function openSession(path: string): Promise<{ session: PaymentChallenge; sessionId: string; preimage: string }> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402, res.body);
    const session = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders).filter((l) => l.startsWith('Payment '))).find(
      (c) => c.intent === 'session',
    ) as PaymentChallenge;
    const { preimage } = await server().pay(requestOf(session)['depositInvoice'] as string);
    const returnInvoice = await clientNode.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
    const open = await h1(`${aperture.url}${path}`, {
      headers: { authorization: payment(session, { action: 'open', preimage, returnInvoice: returnInvoice.paymentRequest }) },
    });
    assert.equal(open.status, 200, open.body);
    return { session, sessionId: requestOf(session)['paymentHash'] as string, preimage };
  }

  const balance = async (id: string): Promise<number | undefined> => (await store().getSession(id))?.balanceSats;

  test('the challenge advertises the quote; requests are debited it and settled at the cost read from the tail, clamped', async () => {
    const res = await h1(`${aperture.url}/metered/chat`);
    const offered = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders).filter((l) => l.startsWith('Payment ')));
    const charge = requestOf(offered.find((c) => c.intent === 'charge') as PaymentChallenge);
    const session = requestOf(offered.find((c) => c.intent === 'session') as PaymentChallenge);
    assert.equal(charge['amount'], '100', 'a charge is priced by GetPrice');
    assert.deepEqual([session['amount'], session['depositAmount']], ['3', '60'], "QuoteSession's unit price and deposit");
    assert.equal(quotes.at(-1)?.['session_id'], '', 'a fresh challenge is quoted without a session');

    const { session: challenge, sessionId, preimage } = await openSession('/metered/chat?cost=7&pad=5000');
    // Debited the quote (3) at open, then settled at 7.
    await eventually('the open request is settled at 7', async () => (await balance(sessionId)) === 53, 5000, 10);
    assert.equal(quotes.at(-1)?.['session_id'], sessionId, 'a session request is quoted with its session');
    const usage = settled.at(-1) as Settled;
    assert.equal(usage.session_id, sessionId);
    assert.equal(usage.service_name, 'metered');
    assert.equal(usage.path, '/metered/chat');
    assert.equal(usage.http_status, 200);
    assert.equal(usage.content_type, 'text/event-stream');
    assert.equal(usage.complete, true);
    assert.equal(usage.estimate_sats, '3');
    assert.equal(usage.response_tail.length, 1024, 'usagetailbytes bounds the tail');
    assert.match(usage.response_tail.toString(), /data: \{"usage":\{"cost":7\}\}\n\n$/);
    assert.match(usage.http_request_text, /^GET \/metered\/chat\?cost=7&pad=5000 HTTP\/1\.1\r\n/);

    // An over-estimate is given back; the client's Accept-Encoding does not reach the backend.
    const bearer = (cost: number) =>
      h1(`${aperture.url}/metered/chat?cost=${cost}`, {
        headers: { authorization: payment(challenge, { action: 'bearer', sessionId, preimage }), 'accept-encoding': 'gzip' },
      });
    assert.equal((await bearer(1)).status, 200);
    await eventually('settled at 1', async () => (await balance(sessionId)) === 52, 5000, 10);
    assert.equal(acceptEncodings.at(-1), undefined);
    // An under-estimate beyond the balance is clamped: the spend stops at the deposit.
    assert.equal((await bearer(1000)).status, 200);
    await eventually('clamped to the deposit', async () => (await balance(sessionId)) === 0, 5000, 10);
    const record = await store().getSession(sessionId);
    assert.deepEqual([record?.depositSats, record?.spentSats], [60, 60]);
    // Empty: the next request is refused.
    const refused = await bearer(1);
    assert.equal(refused.status, 402);
    assert.equal(JSON.parse(refused.body).type, 'https://paymentauth.org/problems/lightning/insufficient-balance');
  });

  test('a pricer without the session RPCs (UNIMPLEMENTED): the session is priced by GetPrice and the estimate stands', async () => {
    const res = await h1(`${aperture.url}/legacy/x`);
    const session = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders).filter((l) => l.startsWith('Payment '))).find(
      (c) => c.intent === 'session',
    ) as PaymentChallenge;
    assert.deepEqual([requestOf(session)['amount'], requestOf(session)['depositAmount']], ['4', '40']);
    const { sessionId } = await openSession('/legacy/x?cost=1');
    // Nothing to wait for but a settlement that must not come: give it time, then check the debit stands.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await balance(sessionId), 36);
    assert.equal(
      logs.filter((l) => /QuoteSession|SettleSession/.test(String(l['msg']))).length,
      0,
      'UNIMPLEMENTED is expected, not logged',
    );
  });

  test('a pricer failing at settlement: the estimate stands, the failure is logged, the program keeps serving', async () => {
    const { session, sessionId, preimage } = await openSession('/failing/x?cost=1');
    await eventually(
      'the failure is logged',
      async () => logs.some((l) => l['code'] === 'L402_ERR_PRICER_UNAVAILABLE' && /SettleSession/.test(String(l['msg']))),
      5000,
      10,
    );
    assert.equal(await balance(sessionId), 45, 'debited the quote of 5 (deposit 5 × 10), not settled');
    const again = await h1(`${aperture.url}/failing/x`, {
      headers: { authorization: payment(session, { action: 'bearer', sessionId, preimage }) },
    });
    assert.equal(again.status, 200);
    await eventually('the second estimate stands too', async () => (await balance(sessionId)) === 40, 5000, 10);
  });
});
