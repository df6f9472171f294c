// The Payment scheme (MPP) served by the `aperture` program over HTTP/1.1 on real
// sockets: an l402+mpp service offers L402, then the charge, then the session;
// a paid charge buys one request with a receipt; replays and other services'
// challenges are refused with their problem types; an upstream 502 gives the
// charge back; a session opens, is debited, topped up and closed with its
// refund paid to the client's node; an mpp-only service offers no L402.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir, TestClock, wwwAuthenticate } from './support.js';
import { readFileSync } from 'node:fs';
import { rest1, type AdminServer } from '../admin/support.js';

interface Requested {
  methodDetails?: { invoice: string; paymentHash: string };
  depositInvoice?: string;
  paymentHash?: string;
}

function requestOf(challenge: PaymentChallenge): Requested {
  return JSON.parse(Buffer.from(challenge.request, 'base64url').toString('utf8')) as Requested;
}

function payment(challenge: PaymentChallenge, payload: Record<string, unknown>): string {
  return `Payment ${encodePaymentCredential({ challenge, payload })}`;
}

describe('aperture serves the Payment scheme (MPP)', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let flaky: Awaited<ReturnType<typeof startBackend>>;
  /** The client's own node: its amountless invoices receive the refunds. */
  const clientNode = new DevInvoicer({ onWarning: () => undefined });
  const clock = new TestClock(Date.now());
  const seenAuthorization: string[][] = [];
  let failNext = 0;
  const baseDir = tempBaseDir();

  before(async () => {
    backend = await startBackend((req, res) => {
      seenAuthorization.push(req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]?.toLowerCase() === 'authorization'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    flaky = await startBackend((_req, res) => {
      if (failNext > 0) {
        failNext--;
        res.statusCode = 502;
        res.end('bad gateway');
        return;
      }
      res.end('ok');
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
admin:
  enabled: true
authenticator:
  backend: dev
  enablempp: true
  enablesessions: true
  mpprealm: api.example.test
  sessiondepositmultiplier: 10
services:
  - name: both
    pathregexp: '^/both'
    address: ${backend.address}
    price: 10
    authscheme: l402+mpp
  - name: other
    pathregexp: '^/other'
    address: ${backend.address}
    price: 10
    authscheme: l402+mpp
  - name: only
    pathregexp: '^/only'
    address: ${backend.address}
    price: 5
    authscheme: mpp
  - name: plain
    pathregexp: '^/plain'
    address: ${backend.address}
    price: 5
  - name: flaky
    pathregexp: '^/flaky'
    address: ${flaky.address}
    price: 7
    authscheme: mpp
`,
      baseDir,
    );
    aperture = await startAperture(config, {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
      refundPayer: new DevPayer(clientNode),
      mppSweepIntervalMs: 0,
      clock,
    });
  });

  after(async () => {
    await aperture?.close();
    await backend?.close();
    await flaky?.close();
    await clientNode.close();
    removeDir(baseDir);
  });

  const server = (): DevInvoicer => aperture.invoicer as DevInvoicer;

  async function challenges(
    path: string,
  ): Promise<{ lines: string[]; payment: PaymentChallenge[]; body: string; contentType: string | undefined }> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402, res.body);
    const lines = wwwAuthenticate(res.rawHeaders);
    return {
      lines,
      payment: parsePaymentChallenges(lines.filter((l) => l.startsWith('Payment '))),
      body: res.body,
      contentType: res.headers['content-type'] as string | undefined,
    };
  }

  async function paidCharge(path: string): Promise<string> {
    const { payment: offered } = await challenges(path);
    const charge = offered.find((c) => c.intent === 'charge') as PaymentChallenge;
    const { preimage } = await server().pay(requestOf(charge).methodDetails?.invoice as string);
    return payment(charge, { preimage });
  }

  test('an l402+mpp service: L402 lines first, then the charge, then the session, and a problem+json body', async () => {
    const { lines, payment: offered, body, contentType } = await challenges('/both/x');
    assert.deepEqual(
      lines.map((l) => l.split(' ')[0]),
      ['LSAT', 'L402', 'Payment', 'Payment'],
    );
    assert.deepEqual(
      offered.map((c) => [c.intent, c.realm, c.method]),
      [
        ['charge', 'api.example.test', 'lightning'],
        ['session', 'api.example.test', 'lightning'],
      ],
    );
    assert.ok(offered.every((c) => typeof c.expires === 'string'));
    assert.equal(contentType, 'application/problem+json');
    assert.equal(JSON.parse(body).type, 'https://paymentauth.org/problems/payment-required');
    // Every invoice offered is in the ledger as an mpp row.
    const hashes = offered.map((c) => requestOf(c).methodDetails?.paymentHash ?? requestOf(c).paymentHash);
    for (const hash of hashes) {
      const row = await aperture.store.getTransaction(hash as string);
      assert.equal(row?.authType, 'mpp', `ledger row of ${hash}`);
    }
  });

  test('a paid charge buys one request with a receipt; the backend sees the Payment line; a replay gets verification-failed', async () => {
    const header = await paidCharge('/both/x');
    seenAuthorization.length = 0;
    const ok = await h1(`${aperture.url}/both/x`, { headers: { authorization: header } });
    assert.equal(ok.status, 200, ok.body);
    const receipt = decodePaymentReceipt(ok.headers['payment-receipt'] as string);
    assert.equal(receipt.status, 'success');
    assert.equal(ok.headers['cache-control'], 'private');
    assert.deepEqual(seenAuthorization[0], [header]);
    const replay = await h1(`${aperture.url}/both/x`, { headers: { authorization: header } });
    assert.equal(replay.status, 402);
    assert.equal(JSON.parse(replay.body).type, 'https://paymentauth.org/problems/verification-failed');
    assert.equal(replay.headers['payment-receipt'], undefined);
    assert.equal(wwwAuthenticate(replay.rawHeaders).length, 4, 'fresh challenges');
  });

  test('a charge paid on one service is refused on another', async () => {
    const header = await paidCharge('/both/x');
    const res = await h1(`${aperture.url}/other/x`, { headers: { authorization: header } });
    assert.equal(res.status, 402);
    assert.equal(JSON.parse(res.body).type, 'https://paymentauth.org/problems/lightning/unknown-challenge');
    // Still unspent where it was paid for.
    assert.equal((await h1(`${aperture.url}/both/x`, { headers: { authorization: header } })).status, 200);
  });

  test('an L402 service ignores a Payment credential and offers no Payment challenge', async () => {
    const header = await paidCharge('/both/x');
    const res = await h1(`${aperture.url}/plain/x`, { headers: { authorization: header } });
    assert.equal(res.status, 402);
    assert.deepEqual(
      wwwAuthenticate(res.rawHeaders).map((l) => l.split(' ')[0]),
      ['LSAT', 'L402'],
    );
    assert.equal(res.body, 'payment required\n');
  });

  test('an mpp-only service offers no L402 challenge', async () => {
    const { lines, payment: offered } = await challenges('/only/x');
    assert.deepEqual(
      lines.map((l) => l.split(' ')[0]),
      ['Payment', 'Payment'],
    );
    assert.deepEqual(
      offered.map((c) => c.intent),
      ['charge', 'session'],
    );
  });

  test('an upstream 502 gives the charge back: the same credential pays the retry, once', async () => {
    const header = await paidCharge('/flaky/x');
    failNext = 1;
    const failed = await h1(`${aperture.url}/flaky/x`, { headers: { authorization: header } });
    assert.equal(failed.status, 502);
    // The release runs when the response has ended; a retry before it lands is refused as a replay, spending nothing.
    let retry = await h1(`${aperture.url}/flaky/x`, { headers: { authorization: header } });
    for (const until = Date.now() + 10_000; retry.status === 402 && Date.now() < until;) {
      await new Promise((r) => setImmediate(r));
      retry = await h1(`${aperture.url}/flaky/x`, { headers: { authorization: header } });
    }
    assert.equal(retry.status, 200, retry.body);
    assert.equal(retry.body, 'ok');
    assert.equal((await h1(`${aperture.url}/flaky/x`, { headers: { authorization: header } })).status, 402, 'served once: spent');
  });

  test("a session: open, bearer, top up, close with the refund paid to the client's return invoice", async () => {
    const { payment: offered } = await challenges('/only/s');
    const session = offered.find((c) => c.intent === 'session') as PaymentChallenge;
    const deposit = requestOf(session);
    const { preimage } = await server().pay(deposit.depositInvoice as string);
    const returnInvoice = await clientNode.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
    const open = await h1(`${aperture.url}/only/s`, {
      headers: { authorization: payment(session, { action: 'open', preimage, returnInvoice: returnInvoice.paymentRequest }) },
    });
    assert.equal(open.status, 200, open.body);
    const sessionId = deposit.paymentHash as string;
    const bearer = await h1(`${aperture.url}/only/s`, {
      headers: { authorization: payment(session, { action: 'bearer', sessionId, preimage }) },
    });
    assert.equal(bearer.status, 200, bearer.body);
    assert.equal(decodePaymentReceipt(bearer.headers['payment-receipt'] as string).reference, sessionId);
    // Top up with a fresh session challenge's deposit invoice.
    const next = (await challenges('/only/s')).payment.find((c) => c.intent === 'session') as PaymentChallenge;
    const topUp = await server().pay(requestOf(next).depositInvoice as string);
    const topped = await h1(`${aperture.url}/only/s`, {
      headers: { authorization: payment(next, { action: 'topUp', sessionId, topUpPreimage: topUp.preimage }) },
    });
    assert.equal(topped.status, 200, topped.body);
    const close = await h1(`${aperture.url}/only/s`, {
      headers: { authorization: payment(session, { action: 'close', sessionId, preimage }) },
    });
    assert.equal(close.status, 200, close.body);
    const receipt = decodePaymentReceipt(close.headers['payment-receipt'] as string) as { refundSats?: number; refundStatus?: string };
    // Deposit 5 × 10 twice, four requests of 5.
    assert.equal(receipt.refundSats, 100 - 4 * 5);
    assert.equal(receipt.refundStatus, 'succeeded');
    const refunded = await clientNode.lookupInvoice(returnInvoice.paymentHash);
    assert.equal(refunded.state, 'settled');
    const closed = await h1(`${aperture.url}/only/s`, {
      headers: { authorization: payment(session, { action: 'bearer', sessionId, preimage }) },
    });
    assert.equal(closed.status, 402);
    assert.equal(JSON.parse(closed.body).type, 'https://paymentauth.org/problems/lightning/session-closed');
  });

  test('an idle session is closed and refunded by the sweeper', async () => {
    const session = (await challenges('/only/idle')).payment.find((c) => c.intent === 'session') as PaymentChallenge;
    const deposit = requestOf(session);
    const { preimage } = await server().pay(deposit.depositInvoice as string);
    const returnInvoice = await clientNode.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
    const open = await h1(`${aperture.url}/only/idle`, {
      headers: { authorization: payment(session, { action: 'open', preimage, returnInvoice: returnInvoice.paymentRequest }) },
    });
    assert.equal(open.status, 200, open.body);
    // Not idle yet: nothing to close.
    assert.equal(
      (await aperture.mpp?.sweepIdleSessions())?.refunds.some((r) => r.sessionId === deposit.paymentHash),
      false,
    );
    clock.advance(301_000);
    const swept = await aperture.mpp?.sweepIdleSessions();
    const refund = swept?.refunds.find((r) => r.sessionId === deposit.paymentHash);
    // Deposit 5 × 10, one request of 5.
    assert.deepEqual(refund, { sessionId: deposit.paymentHash, sats: 45, status: 'succeeded' });
    assert.equal((await clientNode.lookupInvoice(returnInvoice.paymentHash)).state, 'settled');
    assert.equal((await aperture.store.getSession(deposit.paymentHash as string))?.status, 'closed');
  });

  test('the admin API: GetInfo reports MPP; the ledger lists the Payment invoices as mpp', async () => {
    const admin = { port: aperture.addresses.proxy.port, origin: aperture.url } as AdminServer;
    const macaroon = readFileSync(aperture.config.admin.macaroonPath).toString('hex');
    const info = await rest1(admin, '/api/admin/info', { macaroon });
    assert.equal(info.status, 200);
    assert.deepEqual(
      [
        (info.json as Record<string, unknown>)['mpp_enabled'],
        (info.json as Record<string, unknown>)['sessions_enabled'],
        (info.json as Record<string, unknown>)['mpp_realm'],
      ],
      [true, true, 'api.example.test'],
    );
    const page = await rest1(admin, '/api/admin/transactions?service=only&limit=100', { macaroon });
    assert.equal(page.status, 200);
    const rows = (page.json as { transactions: Array<{ auth_type?: string; authType?: string; state: string }> }).transactions;
    assert.ok(rows.length > 0);
    assert.ok(
      rows.every((r) => (r.auth_type ?? r.authType) === 'mpp'),
      JSON.stringify(rows[0]),
    );
    assert.ok(
      rows.some((r) => /settled/i.test(r.state)),
      'paid invoices settle',
    );
    // The deposit row of a closed session carries its refund; no other row does.
    const refunded = rows.map((r) => r as Record<string, unknown>).filter((r) => (r['refund_status'] ?? r['refundStatus']) !== '');
    assert.ok(refunded.length >= 2, JSON.stringify(rows));
    for (const r of refunded) {
      assert.equal(r['refund_status'] ?? r['refundStatus'], 'succeeded');
      assert.ok(Number(r['refund_sats'] ?? r['refundSats']) > 0);
      assert.equal(r['refund_error'] ?? r['refundError'], '');
    }
  });
});
