// The Payment scheme (MPP) over real Lightning: the seller runs MppScheme over
// node:http with LndInvoicer (its invoice macaroon) for the charge and deposit
// invoices and LndPayer (a macaroon baked for payments only) for the refunds; the
// buyer's lnd pays the invoices and issues the amountless return invoices. A
// charge buys one request. A session is opened, used and closed, and the refund
// (SendPaymentV2 with `amt` on an amountless invoice) lands on the buyer's node
// for exactly the balance. Refunds that fail on the real network — the buyer
// cancelled its return invoice, the buyer's node is offline — are stored as failed
// with lnd's reason and retried: the first stays failed, the second is paid once
// the buyer is back; one whose return invoice expired during the session is given
// up (abandoned) without a payment.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import lightning from 'lightning';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { LndInvoicer, LndPayer } from '../../src/lightning/lnd/index.js';
import { MppScheme, type MppTarget } from '../../src/mpp/mpp-scheme.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { wwwAuthenticate } from '../e2e/support.js';
import { h1, type SimpleResponse } from '../proxy/support.js';
import type { NetworkRef } from './lightning.suite.js';
import { waitFor } from './processes.js';

const sha256Hex = (hex: string): string => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');

/** A session costs 7 sat a request; its deposit is 7 × 10 = 70 sat. */
const target: MppTarget = { service: 'chat', priceSats: 7 };
const DEPOSIT = 70;

/** The seller: MppScheme over node:http, its parts on the seller's lnd. */
interface Seller {
  url: string;
  scheme: MppScheme;
  store: MemoryStore;
  close(): Promise<void>;
}

/**
 * The seller's clock: the system's, set back by `lagMs` while a test needs the
 * seller to believe an invoice is still valid (a session that outlives its
 * return invoice, without waiting out a real expiry).
 */
const clock = { lagMs: 0, now: (): number => Date.now() - clock.lagMs };

async function startSeller(ref: NetworkRef): Promise<Seller> {
  const { seller } = ref.network;
  const invoicer = await LndInvoicer.connect({
    host: seller.host,
    tlsCert: seller.tlsCert,
    macaroon: seller.invoiceMacaroon,
    network: 'regtest',
  });
  // The refunds are paid with a macaroon baked for payments alone (SendPaymentV2 needs
  // offchain:write, TrackPaymentV2 offchain:read): it can create no invoice and move no coins.
  const baked = await lightning.grantAccess({ lnd: seller.lnd, permissions: ['offchain:read', 'offchain:write'] });
  const payer = new LndPayer({ host: seller.host, tlsCert: seller.tlsCert, macaroon: Buffer.from(baked.macaroon, 'base64') });
  const store = new MemoryStore({ clock });
  const scheme = new MppScheme({
    realm: '127.0.0.1',
    secret: randomBytes(32),
    clock,
    invoicer,
    network: 'regtest',
    charges: store,
    // Retries without the backoff, so that a test retries at once.
    sessions: { store, payer, decodeInvoice, depositMultiplier: 10, maxRefundFeeSats: 5, refundTimeoutMs: 30_000, refundBackoffMs: 1 },
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const authorization = req.headers.authorization === undefined ? [] : [req.headers.authorization];
    const verdict = await scheme.verify({ headerValues: (name) => (name === 'authorization' ? authorization : []) }, target);
    if (verdict.kind === 'accepted') {
      for (const [name, value] of scheme.responseHeaders(verdict)) res.setHeader(name, value);
      res.end(`served ${verdict.action}`);
      return;
    }
    const reply = scheme.challengeResponse(await scheme.offers(target), verdict.kind === 'refused' ? verdict : undefined);
    res.writeHead(reply.status, reply.headers.flat());
    res.end(reply.body);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(503);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/chat`,
    scheme,
    store,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await invoicer.close();
      await payer.close();
    },
  };
}

/** The challenge of `intent` in a 402. */
function challengeOf(response: SimpleResponse, intent: 'charge' | 'session'): PaymentChallenge {
  assert.equal(response.status, 402, response.body);
  const found = parsePaymentChallenges(wwwAuthenticate(response.rawHeaders).filter((v) => v.startsWith('Payment '))).find(
    (c) => c.intent === intent,
  );
  assert.ok(found, `a ${intent} challenge`);
  return found;
}

/** The decoded `request` parameter of a challenge. */
function requestOf(challenge: PaymentChallenge): Record<string, unknown> {
  return JSON.parse(Buffer.from(challenge.request, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const withCredential = (challenge: PaymentChallenge, payload: Record<string, unknown>): { headers: Record<string, string> } => ({
  headers: { authorization: `Payment ${encodePaymentCredential({ challenge, payload })}` },
});

function receiptOf(response: SimpleResponse): Record<string, unknown> {
  const value = response.headers['payment-receipt'];
  assert.equal(typeof value, 'string', 'a Payment-Receipt header');
  return decodePaymentReceipt(value as string);
}

/**
 * Registers the suites.
 * @param ref - filled in by the group's `before`
 */
export function mppSuites(ref: NetworkRef): void {
  describe('MPP over real lnd: charges, sessions and refunds', () => {
    let seller: Seller;
    let buyerPayer: LndPayer;

    before(async () => {
      seller = await startSeller(ref);
      const { buyer } = ref.network;
      buyerPayer = new LndPayer({ host: buyer.host, tlsCert: buyer.tlsCert, macaroon: buyer.adminMacaroon });
    });
    after(async () => {
      await seller?.close();
      await buyerPayer?.close();
    });

    /** The buyer pays an invoice over the channel; the preimage opens its hash. */
    const pay = async (invoice: string): Promise<string> => {
      const paid = await buyerPayer.payInvoice(invoice, { maxFeeSats: 5, timeoutMs: 30_000 });
      assert.equal(sha256Hex(paid.preimage), decodeInvoice(invoice).paymentHash, 'the preimage of the real payment opens the hash');
      return paid.preimage;
    };

    /** A fresh amountless invoice of the buyer's lnd, and its hash. */
    const returnInvoice = async (expiresAt?: Date): Promise<{ request: string; id: string }> => {
      const created = await lightning.createInvoice({
        lnd: ref.network.buyer.lnd,
        description: 'mpp refund',
        ...(expiresAt !== undefined ? { expires_at: expiresAt.toISOString() } : {}),
      });
      assert.equal(decodeInvoice(created.request).amountMsat, 0n);
      return { request: created.request, id: created.id };
    };

    /**
     * Opens a session paying the real deposit invoice (and giving the return
     * invoice `makeReturn` makes), then spends `bearers` requests.
     */
    const openSession = async (bearers: number, makeReturn = returnInvoice) => {
      const challenge = challengeOf(await h1(seller.url), 'session');
      const request = requestOf(challenge);
      assert.equal(request['depositAmount'], String(DEPOSIT));
      const depositInvoice = request['depositInvoice'] as string;
      assert.equal(decodeInvoice(depositInvoice).amountMsat, BigInt(DEPOSIT) * 1000n);
      const preimage = await pay(depositInvoice);
      const ret = await makeReturn();
      const opened = await h1(seller.url, withCredential(challenge, { action: 'open', preimage, returnInvoice: ret.request }));
      assert.equal(opened.status, 200, opened.body);
      assert.equal(opened.body, 'served open');
      const sessionId = request['paymentHash'] as string;
      const bearer = withCredential(challenge, { action: 'bearer', sessionId, preimage });
      for (let i = 0; i < bearers; i++) {
        const served = await h1(seller.url, bearer);
        assert.equal(served.status, 200, served.body);
        assert.equal(receiptOf(served)['reference'], sessionId);
      }
      // The open request and each bearer request cost the price.
      const balance = DEPOSIT - target.priceSats * (1 + bearers);
      assert.equal((await seller.store.getSession(sessionId))?.balanceSats, balance);
      return {
        challenge,
        sessionId,
        preimage,
        returnInvoice: ret,
        bearer,
        balance,
        close: withCredential(challenge, { action: 'close', sessionId, preimage }),
      };
    };

    it('a charge paid over the network buys one request', async () => {
      const challenge = challengeOf(await h1(seller.url), 'charge');
      const { methodDetails } = requestOf(challenge) as { methodDetails: { invoice: string; network: string; paymentHash: string } };
      assert.equal(methodDetails.network, 'regtest');
      assert.equal(decodeInvoice(methodDetails.invoice).amountMsat, BigInt(target.priceSats) * 1000n);
      const preimage = await pay(methodDetails.invoice);
      const served = await h1(seller.url, withCredential(challenge, { preimage }));
      assert.equal(served.status, 200, served.body);
      assert.equal(served.body, 'served charge');
      assert.equal(receiptOf(served)['reference'], methodDetails.paymentHash);
      // The seller's lnd holds the invoice as settled.
      const invoice = await lightning.getInvoice({ lnd: ref.network.seller.lnd, id: methodDetails.paymentHash });
      assert.equal(invoice.is_confirmed, true);
      // Spent once.
      const again = await h1(seller.url, withCredential(challenge, { preimage }));
      assert.equal(again.status, 402);
      assert.match(again.body, /already bought a request/);
    });

    it("a session: the deposit paid, bearer requests debited, the close refunds the balance to the buyer's return invoice", async () => {
      const s = await openSession(3);
      assert.equal(s.balance, 42);
      const closed = await h1(seller.url, s.close);
      assert.equal(closed.status, 200, closed.body);
      assert.equal(closed.body, 'served close');
      const receipt = receiptOf(closed);
      // The close request is charged too: 42 − 7 refunded.
      assert.equal(receipt['refundStatus'], 'succeeded');
      assert.equal(receipt['refundSats'], 35);
      // On the buyer's own node: the return invoice settled for exactly the balance.
      const invoice = await lightning.getInvoice({ lnd: ref.network.buyer.lnd, id: s.returnInvoice.id });
      assert.equal(invoice.is_confirmed, true);
      assert.equal(invoice.received, 35);
      assert.equal(invoice.received_mtokens, '35000');
      const stored = await seller.store.getSession(s.sessionId);
      assert.equal(stored?.status, 'closed');
      assert.equal(stored?.refund?.status, 'succeeded');
      assert.equal(stored?.refund?.attempts, 1);
      // The session is over: a bearer is refused, nothing is paid twice.
      const late = await h1(seller.url, s.bearer);
      assert.equal(late.status, 402);
      assert.match(late.body, /closed/);
      assert.deepEqual((await seller.scheme.retryRefunds()).refunds, []);
    });

    it("a refund to a return invoice the buyer cancelled fails with lnd's reason, is retried, and stays failed", async () => {
      const s = await openSession(1);
      await lightning.cancelHodlInvoice({ lnd: ref.network.buyer.lnd, id: s.returnInvoice.id });
      const closed = await h1(seller.url, s.close);
      assert.equal(closed.status, 200, closed.body);
      const receipt = receiptOf(closed);
      assert.equal(receipt['refundStatus'], 'failed');
      assert.equal(receipt['refundSats'], s.balance - target.priceSats);
      let stored = await seller.store.getSession(s.sessionId);
      assert.equal(stored?.refund?.status, 'failed');
      // The buyer's node refused the HTLC: lnd reports incorrect payment details.
      assert.match(stored?.refund?.lastError ?? '', /L402_ERR_PAY_INCORRECT_DETAILS/);
      const retried = await seller.scheme.retryRefunds();
      const mine = retried.refunds.filter((r) => r.sessionId === s.sessionId);
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.status, 'failed');
      assert.match(mine[0]?.error ?? '', /L402_ERR_PAY_INCORRECT_DETAILS/);
      stored = await seller.store.getSession(s.sessionId);
      assert.equal(stored?.refund?.status, 'failed');
      assert.equal(stored?.refund?.attempts, 2);
      const invoice = await lightning.getInvoice({ lnd: ref.network.buyer.lnd, id: s.returnInvoice.id });
      assert.equal(invoice.is_canceled, true);
      assert.equal(invoice.received, 0);
    });

    it('a refund to a return invoice that expired during the session is given up (abandoned) without a payment', async () => {
      const s = await openSession(0, async () => {
        // Two seconds of validity, waited out for real: lnd judges expiry on its own clock.
        const ret = await returnInvoice(new Date(Date.now() + 2_000));
        const { expiresAt } = decodeInvoice(ret.request);
        await waitFor('the return invoice to expire', async () => (Date.now() > expiresAt + 1_000 ? true : undefined), { limitMs: 10_000 });
        // The session began while the invoice was valid: the seller's clock is set back for the open.
        clock.lagMs = 3_600_000;
        return ret;
      }).finally(() => {
        clock.lagMs = 0;
      });
      const closed = await h1(seller.url, s.close);
      assert.equal(closed.status, 200, closed.body);
      assert.equal(receiptOf(closed)['refundStatus'], 'abandoned');
      const stored = await seller.store.getSession(s.sessionId);
      assert.equal(stored?.refund?.status, 'abandoned');
      assert.match(stored?.refund?.lastError ?? '', /the return invoice expired at /);
      assert.equal(stored?.refund?.attempts, 1);
      const mine = (await seller.scheme.retryRefunds()).refunds.filter((r) => r.sessionId === s.sessionId);
      assert.equal(mine.length, 0, 'final: not retried');
      const invoice = await lightning.getInvoice({ lnd: ref.network.buyer.lnd, id: s.returnInvoice.id });
      assert.equal(invoice.is_confirmed, false);
      assert.equal(invoice.received, 0);
    });

    it("a refund while the buyer's node is offline fails, and is paid by the retry once the buyer is back", async () => {
      const { buyer } = ref.network;
      const s = await openSession(2);
      await buyer.stop();
      try {
        // Once the seller has seen the peer go, no HTLC can leave on the channel.
        await waitFor('the seller to see its channel inactive', async () =>
          (await lightning.getChannels({ lnd: ref.network.seller.lnd, is_active: true })).channels.length === 0 ? true : undefined,
        );
        const closed = await h1(seller.url, s.close);
        assert.equal(closed.status, 200, closed.body);
        const receipt = receiptOf(closed);
        assert.equal(receipt['refundStatus'], 'failed');
        const stored = await seller.store.getSession(s.sessionId);
        assert.equal(stored?.refund?.status, 'failed');
        // lnd's own reason: its one channel is down, so it has no usable outbound balance
        // (lnd 0.20 says INSUFFICIENT_BALANCE; NO_ROUTE is the same fact in other versions).
        assert.match(stored?.refund?.lastError ?? '', /L402_ERR_PAY_(INSUFFICIENT_BALANCE|NO_ROUTE): payment [0-9a-f]{64} failed/);
      } finally {
        await buyer.start();
        await ref.network.waitChannelActive();
      }
      const due = s.balance - target.priceSats;
      // The seller's lnd may still be reconnecting to the buyer; retry as a sweeper would until paid.
      const paid = await waitFor(
        'the retried refund to be paid',
        async () => {
          const { refunds } = await seller.scheme.retryRefunds();
          const mine = refunds.find((r) => r.sessionId === s.sessionId);
          return mine?.status === 'succeeded' ? mine : undefined;
        },
        { limitMs: 120_000, everyMs: 1_000 },
      );
      assert.equal(paid.sats, due);
      const stored = await seller.store.getSession(s.sessionId);
      assert.equal(stored?.refund?.status, 'succeeded');
      assert.ok((stored?.refund?.attempts ?? 0) >= 2);
      const invoice = await lightning.getInvoice({ lnd: buyer.lnd, id: s.returnInvoice.id });
      assert.equal(invoice.is_confirmed, true);
      assert.equal(invoice.received, due);
      assert.equal(invoice.received_mtokens, `${due}000`);
      // Paid once: no more refunds due for it.
      assert.equal(
        (await seller.scheme.retryRefunds()).refunds.some((r) => r.sessionId === s.sessionId),
        false,
      );
    });
  });
}
