// The session intent of MppScheme: open (return-invoice checks), bearer (atomic
// debit), topUp (credit once; replay vs foreign), close (refund through the payer,
// outcome stored and in the receipt), release, the idle sweeper and refund retries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { PaymentError } from '../../src/core/errors.js';
import type { Payer } from '../../src/core/types.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import type { MppAccepted, MppOffer, MppRefused, MppVerification } from '../../src/mpp/mpp-scheme.js';
import { hashOf, paymentHeader, quiet, randomPreimage, requestWith, world, type World } from './support.js';

const target = { service: 'chat', priceSats: 3 };

function accepted(v: MppVerification): MppAccepted {
  assert.equal(v.kind, 'accepted', v.kind === 'refused' ? `${v.code}: ${v.problem.detail}` : v.kind);
  return v as MppAccepted;
}
function refused(v: MppVerification, code: string, type: string): MppRefused {
  assert.equal(v.kind, 'refused');
  const r = v as MppRefused;
  assert.equal(r.code, code, r.problem.detail);
  assert.equal(r.problem.type, `https://paymentauth.org/problems/${type}`);
  return r;
}

async function sessionOffer(w: World, t: { service: string; priceSats: number } = target): Promise<MppOffer> {
  const [offer] = await w.scheme.offers({ ...t, intents: ['session'] });
  assert.ok(offer);
  return offer;
}

/** Opens a session: pays a deposit and sends `open`. */
async function open(w: World, t = target, returnExpirySeconds?: number) {
  const offer = await sessionOffer(w, t);
  const preimage = await w.pay(offer);
  const returnInvoice = await w.returnInvoice(returnExpirySeconds);
  const result = await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'open', preimage, returnInvoice })), t);
  const sessionId = offer.paymentHash;
  const bearer = paymentHeader(offer.challenge, { action: 'bearer', sessionId, preimage });
  const close = paymentHeader(offer.challenge, { action: 'close', sessionId, preimage });
  return { offer, preimage, returnInvoice, result, sessionId, bearer, close };
}

describe('MppScheme session: open', () => {
  it('opens a session on a paid deposit, serving the opening request from it', async () => {
    const w = world();
    const s = await open(w);
    const ok = accepted(s.result);
    assert.equal(ok.action, 'open');
    assert.equal(ok.reference, s.sessionId);
    assert.equal(ok.chargedSats, 3);
    assert.equal(ok.balanceSats, 60 - 3);
    const receipt = decodePaymentReceipt(ok.receipt);
    assert.deepEqual(Object.keys(receipt), ['method', 'reference', 'status', 'timestamp']);
    assert.equal(receipt['reference'], s.sessionId);
    const stored = await w.store.getSession(s.sessionId);
    assert.equal(stored?.depositSats, 60);
    assert.equal(stored?.returnInvoice, s.returnInvoice);
    // Sending the same open again is an honest retry: no second deposit credit.
    accepted(
      await w.scheme.verify(
        requestWith(paymentHeader(s.offer.challenge, { action: 'open', preimage: s.preimage, returnInvoice: s.returnInvoice })),
        target,
      ),
    );
    assert.equal((await w.store.getSession(s.sessionId))?.depositSats, 60);
  });

  it('checks the return invoice: amountless, right network, not expired, a BOLT11 invoice', async () => {
    const w = world();
    const offer = await sessionOffer(w);
    const preimage = await w.pay(offer);
    const tryOpen = (returnInvoice: unknown) =>
      w.scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'open', preimage, returnInvoice })), target);
    const invalid = async (returnInvoice: unknown) =>
      refused(await tryOpen(returnInvoice), 'L402_ERR_MPP_RETURN_INVOICE_INVALID', 'lightning/invalid-return-invoice');
    await invalid((await w.client.createInvoice({ amountSats: 5 })).paymentRequest);
    const signet = new DevInvoicer({ ...quiet, network: 'signet', clock: w.clock });
    await invalid((await signet.createInvoice({ amountSats: 0 })).paymentRequest);
    const shortLived = (await w.client.createInvoice({ amountSats: 0, expirySeconds: 60 })).paymentRequest;
    w.clock.advance(60_000);
    await invalid(shortLived);
    await invalid('lnbcrt1garbage');
    await invalid(undefined);
    await invalid(42);
    assert.equal(await w.store.getSession(offer.paymentHash), undefined);
    accepted(await tryOpen(await w.returnInvoice()));
  });

  it('refuses an expired challenge, a preimage of another invoice, and a deposit already credited elsewhere', async () => {
    const w = world();
    const offer = await sessionOffer(w);
    const preimage = await w.pay(offer);
    const returnInvoice = await w.returnInvoice();
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(offer.challenge, { action: 'open', preimage: randomPreimage(), returnInvoice })),
        target,
      ),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    // The deposit credited as a top-up of another session cannot open one.
    const other = await open(w);
    accepted(
      await w.scheme.verify(
        requestWith(paymentHeader(offer.challenge, { action: 'topUp', sessionId: other.sessionId, topUpPreimage: preimage })),
        target,
      ),
    );
    refused(
      await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'open', preimage, returnInvoice })), target),
      'L402_ERR_MPP_FOREIGN_PAYMENT',
      'verification-failed',
    );
    const late = await sessionOffer(w);
    const latePreimage = await w.pay(late);
    w.clock.advance(900_000);
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(late.challenge, { action: 'open', preimage: latePreimage, returnInvoice: await w.returnInvoice() })),
        target,
      ),
      'L402_ERR_MPP_CHALLENGE_EXPIRED',
      'payment-expired',
    );
  });

  it('refuses an unknown action as malformed', async () => {
    const w = world();
    const offer = await sessionOffer(w);
    refused(
      await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'drain' })), target),
      'L402_ERR_MPP_MALFORMED',
      'malformed-credential',
    );
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(offer.challenge, { action: 'bearer', sessionId: 'x', preimage: randomPreimage() })),
        target,
      ),
      'L402_ERR_MPP_MALFORMED',
      'malformed-credential',
    );
  });
});

describe('MppScheme session: bearer and topUp', () => {
  it('debits the current price per request until the balance runs out, then insufficient-balance', async () => {
    const w = world();
    const s = await open(w);
    let balance = 57;
    while (balance >= 3) {
      const ok = accepted(await w.scheme.verify(requestWith(s.bearer), target));
      balance -= 3;
      assert.equal(ok.balanceSats, balance);
      assert.equal(ok.action, 'bearer');
    }
    const r = refused(
      await w.scheme.verify(requestWith(s.bearer), target),
      'L402_ERR_MPP_INSUFFICIENT_BALANCE',
      'lightning/insufficient-balance',
    );
    assert.match(r.problem.detail ?? '', /balance of 0 sat/);
    // A dearer price on the same service debits more.
    const t = await open(w);
    assert.equal(accepted(await w.scheme.verify(requestWith(t.bearer), { ...target, priceSats: 50 })).balanceSats, 57 - 50);
  });

  it('refuses a bearer with the wrong preimage, for an unknown session, or of another service', async () => {
    const w = world();
    const s = await open(w);
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(s.offer.challenge, { action: 'bearer', sessionId: s.sessionId, preimage: randomPreimage() })),
        target,
      ),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    const stranger = randomPreimage();
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(s.offer.challenge, { action: 'bearer', sessionId: hashOf(stranger), preimage: stranger })),
        target,
      ),
      'L402_ERR_MPP_SESSION_NOT_FOUND',
      'lightning/session-not-found',
    );
    refused(
      await w.scheme.verify(requestWith(s.bearer), { service: 'other', priceSats: 3 }),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    // A bearer outlives its challenge: the session preimage is the credential.
    w.clock.advance(3_600_000);
    accepted(await w.scheme.verify(requestWith(s.bearer), target));
  });

  it('credits a top-up once: a replay is accepted without credit, another session is refused', async () => {
    const w = world();
    const a = await open(w);
    const b = await open(w);
    const topUp = await sessionOffer(w);
    const preimage = await w.pay(topUp);
    const header = paymentHeader(topUp.challenge, { action: 'topUp', sessionId: a.sessionId, topUpPreimage: preimage });
    const ok = accepted(await w.scheme.verify(requestWith(header), target));
    assert.equal(ok.action, 'topUp');
    assert.equal(ok.balanceSats, 57 + 60 - 3);
    const replay = accepted(await w.scheme.verify(requestWith(header), target));
    assert.equal(replay.balanceSats, 57 + 60 - 6);
    assert.equal((await w.store.getSession(a.sessionId))?.depositSats, 120);
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(topUp.challenge, { action: 'topUp', sessionId: b.sessionId, topUpPreimage: preimage })),
        target,
      ),
      'L402_ERR_MPP_FOREIGN_PAYMENT',
      'verification-failed',
    );
    assert.equal((await w.store.getSession(b.sessionId))?.depositSats, 60);
    refused(
      await w.scheme.verify(
        requestWith(paymentHeader(topUp.challenge, { action: 'topUp', sessionId: a.sessionId, topUpPreimage: randomPreimage() })),
        target,
      ),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    const stranger = await sessionOffer(w);
    const strangerPreimage = await w.pay(stranger);
    refused(
      await w.scheme.verify(
        requestWith(
          paymentHeader(stranger.challenge, { action: 'topUp', sessionId: hashOf(randomPreimage()), topUpPreimage: strangerPreimage }),
        ),
        target,
      ),
      'L402_ERR_MPP_SESSION_NOT_FOUND',
      'lightning/session-not-found',
    );
  });

  it('gives a debit back when the backend failed', async () => {
    const w = world();
    const s = await open(w);
    const ok = accepted(await w.scheme.verify(requestWith(s.bearer), target));
    assert.equal(ok.balanceSats, 54);
    assert.equal(await w.scheme.release(ok), true);
    assert.equal((await w.store.getSession(s.sessionId))?.balanceSats, 57);
  });

  it('never overdraws under concurrent debits', async () => {
    const w = world();
    const s = await open(w);
    const results = await Promise.all(Array.from({ length: 40 }, () => w.scheme.verify(requestWith(s.bearer), target)));
    assert.equal(results.filter((r) => r.kind === 'accepted').length, 19);
    assert.equal(results.filter((r) => r.kind === 'refused' && r.code === 'L402_ERR_MPP_INSUFFICIENT_BALANCE').length, 21);
    assert.equal((await w.store.getSession(s.sessionId))?.balanceSats, 0);
  });
});

describe('MppScheme session: close and refunds', () => {
  it('closes, pays the balance to the return invoice, stores the outcome and reports it in the receipt', async () => {
    const w = world();
    const s = await open(w);
    accepted(await w.scheme.verify(requestWith(s.bearer), target));
    const ok = accepted(await w.scheme.verify(requestWith(s.close), target));
    assert.equal(ok.action, 'close');
    assert.deepEqual(ok.refund, { sessionId: s.sessionId, sats: 51, status: 'succeeded' });
    const receipt = decodePaymentReceipt(ok.receipt);
    assert.equal(receipt['refundSats'], 51);
    assert.equal(receipt['refundStatus'], 'succeeded');
    // The client's node received exactly the balance.
    const paid = await w.client.lookupInvoice(decodeInvoice(s.returnInvoice).paymentHash);
    assert.equal(paid.state, 'settled');
    assert.equal(paid.amountPaidSats, 51);
    const stored = await w.store.getSession(s.sessionId);
    assert.equal(stored?.status, 'closed');
    assert.equal(stored?.refund?.status, 'succeeded');
    refused(await w.scheme.verify(requestWith(s.bearer), target), 'L402_ERR_MPP_SESSION_CLOSED', 'lightning/session-closed');
    refused(await w.scheme.verify(requestWith(s.close), target), 'L402_ERR_MPP_SESSION_CLOSED', 'lightning/session-closed');
    // A close is final: nothing to release.
    assert.equal(await w.scheme.release(ok), false);
  });

  it('skips the refund of an empty session, and closes a short one refunding all while refusing the request', async () => {
    const w = world();
    const s = await open(w);
    for (let i = 0; i < 19; i++) accepted(await w.scheme.verify(requestWith(s.bearer), target));
    const r = refused(
      await w.scheme.verify(requestWith(s.close), target),
      'L402_ERR_MPP_INSUFFICIENT_BALANCE',
      'lightning/insufficient-balance',
    );
    const receipt = decodePaymentReceipt(r.headers.find(([n]) => n === 'Payment-Receipt')![1]);
    assert.equal(receipt['refundStatus'], 'skipped');
    assert.equal(receipt['refundSats'], undefined);
    assert.equal((await w.store.getSession(s.sessionId))?.refund?.status, 'skipped');
    const t = await open(w);
    for (let i = 0; i < 18; i++) accepted(await w.scheme.verify(requestWith(t.bearer), target));
    const ok = accepted(await w.scheme.verify(requestWith(t.close), target));
    assert.equal(ok.refund?.status, 'skipped');
    assert.equal(ok.refund?.sats, 0);
  });

  it('records a failed refund with its error and pays it on retry', async () => {
    let fail = true;
    const wrapped: { payer?: Payer } = {};
    const payer: Payer = {
      payInvoice: (invoice, options) =>
        fail
          ? Promise.reject(new PaymentError('L402_ERR_PAY_NO_ROUTE', 'no route to the client'))
          : (wrapped.payer as Payer).payInvoice(invoice, options),
    };
    const w = world({}, { payer });
    wrapped.payer = new DevPayer(w.client);
    const s = await open(w);
    const ok = accepted(await w.scheme.verify(requestWith(s.close), target));
    assert.equal(ok.refund?.status, 'failed');
    assert.match(ok.refund?.error ?? '', /L402_ERR_PAY_NO_ROUTE/);
    assert.equal(decodePaymentReceipt(ok.receipt)['refundStatus'], 'failed');
    const stored = await w.store.getSession(s.sessionId);
    assert.equal(stored?.refund?.status, 'failed');
    assert.equal(stored?.refund?.attempts, 1);
    fail = false;
    // Not before the backoff (60 s after the first failure).
    assert.deepEqual((await w.scheme.retryRefunds()).refunds, []);
    w.clock.advance(60_000);
    const retried = await w.scheme.retryRefunds();
    assert.deepEqual(retried.refunds, [{ sessionId: s.sessionId, sats: 54, status: 'succeeded' }]);
    assert.equal((await w.store.getSession(s.sessionId))?.refund?.status, 'succeeded');
    assert.equal((await w.client.lookupInvoice(decodeInvoice(s.returnInvoice).paymentHash)).amountPaidSats, 54);
    assert.deepEqual((await w.scheme.retryRefunds()).refunds, []);
  });

  it('retries a failing refund with a doubling backoff, then abandons it after maxRefundAttempts, with the reason', async () => {
    const payer: Payer = { payInvoice: () => Promise.reject(new PaymentError('L402_ERR_PAY_NO_ROUTE', 'no route to the client')) };
    const w = world({}, { payer, maxRefundAttempts: 3, refundBackoffMs: 1000 });
    const s = await open(w);
    assert.equal(accepted(await w.scheme.verify(requestWith(s.close), target)).refund?.status, 'failed');
    w.clock.advance(999);
    assert.deepEqual((await w.scheme.retryRefunds()).refunds, [], 'attempt 2 waits 1 s');
    w.clock.advance(1);
    assert.equal((await w.scheme.retryRefunds()).refunds[0]?.status, 'failed');
    w.clock.advance(1999);
    assert.deepEqual((await w.scheme.retryRefunds()).refunds, [], 'attempt 3 waits 2 s');
    w.clock.advance(1);
    const last = (await w.scheme.retryRefunds()).refunds[0];
    assert.equal(last?.status, 'abandoned');
    assert.match(last?.error ?? '', /gave up after 3 attempts; the last: L402_ERR_PAY_NO_ROUTE/);
    const stored = await w.store.getSession(s.sessionId);
    assert.deepEqual([stored?.refund?.status, stored?.refund?.attempts, stored?.balanceSats], ['abandoned', 3, 54]);
    assert.match(stored?.refund?.lastError ?? '', /gave up after 3 attempts/);
    // Final: never taken again.
    w.clock.advance(24 * 3600_000);
    assert.deepEqual((await w.scheme.retryRefunds()).refunds, []);
    assert.deepEqual(await w.store.listRefundsDue(), []);
  });

  it('abandons a refund whose return invoice expired, without paying', async () => {
    let paid = 0;
    const payer: Payer = {
      payInvoice: () => {
        paid++;
        return Promise.reject(new PaymentError('L402_ERR_PAY_FAILED', 'invoice expired'));
      },
    };
    const w = world({}, { payer });
    const s = await open(w, target, 120);
    assert.equal(accepted(await w.scheme.verify(requestWith(s.close), target)).refund?.status, 'failed');
    assert.equal(paid, 1);
    w.clock.advance(121_000);
    const refunds = (await w.scheme.retryRefunds()).refunds;
    assert.equal(refunds[0]?.status, 'abandoned');
    assert.match(refunds[0]?.error ?? '', /the return invoice expired at /);
    assert.equal(paid, 1, 'not paid again');
    const stored = await w.store.getSession(s.sessionId);
    assert.equal(stored?.refund?.status, 'abandoned');
    assert.match(stored?.refund?.lastError ?? '', /expired/);
  });

  it('counts a refund the node reports already paid as succeeded', async () => {
    const w = world();
    const s = await open(w);
    // The refund was paid, but its outcome was lost before it was recorded.
    await w.client.pay(s.returnInvoice, 54);
    const ok = accepted(await w.scheme.verify(requestWith(s.close), target));
    assert.equal(ok.refund?.status, 'succeeded');
  });

  it('sweeps idle sessions: closes and refunds those idle past the timeout, and only those', async () => {
    const w = world({}, { idleTimeoutSeconds: 300 });
    const idle = await open(w);
    w.clock.advance(200_000);
    const busy = await open(w);
    w.clock.advance(100_001);
    const swept = await w.scheme.sweepIdleSessions();
    assert.equal(swept.closed, 1);
    assert.deepEqual(swept.refunds, [{ sessionId: idle.sessionId, sats: 57, status: 'succeeded' }]);
    refused(await w.scheme.verify(requestWith(idle.bearer), target), 'L402_ERR_MPP_SESSION_CLOSED', 'lightning/session-closed');
    accepted(await w.scheme.verify(requestWith(busy.bearer), target));
    w.clock.advance(299_000);
    assert.equal((await w.scheme.sweepIdleSessions()).closed, 0);
    w.clock.advance(1_001);
    assert.equal((await w.scheme.sweepIdleSessions()).closed, 1);
  });

  it('advertises the configured idle timeout and deposit multiplier', async () => {
    const w = world({}, { idleTimeoutSeconds: 900, depositMultiplier: 5 });
    const offer = await sessionOffer(w);
    const request = JSON.parse(Buffer.from(offer.challenge.request, 'base64url').toString()) as Record<string, string>;
    assert.equal(request['idleTimeout'], '900');
    assert.equal(request['depositAmount'], '15');
    assert.equal(offer.invoiceSats, 15);
  });
});
