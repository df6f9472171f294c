// The charge intent of MppScheme: offers, verification rule by rule, consume-once,
// release after a failed backend, and the 402 it answers with.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { L402Error } from '../../src/core/errors.js';
import { computeChallengeId, parsePaymentChallenges, verifyChallengeId, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { MppScheme, type MppAccepted, type MppRefused, type MppVerification } from '../../src/mpp/mpp-scheme.js';
import { bindingKey, hashOf, invoiceOf, paymentHeader, quiet, randomPreimage, requestWith, world } from './support.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';

const target = { service: 'quotes', priceSats: 10 };

function accepted(v: MppVerification): MppAccepted {
  assert.equal(v.kind, 'accepted', v.kind === 'refused' ? `${v.code}: ${v.problem.detail}` : v.kind);
  return v as MppAccepted;
}
function refused(v: MppVerification, code: string, type: string): MppRefused {
  assert.equal(v.kind, 'refused');
  const r = v as MppRefused;
  assert.equal(r.code, code, r.problem.detail);
  assert.equal(r.problem.type, `https://paymentauth.org/problems/${type}`);
  assert.equal(r.problem.status, 402);
  return r;
}

async function paidCharge(w: ReturnType<typeof world>, t = target) {
  const [offer] = await w.scheme.offers({ ...t, intents: ['charge'] });
  assert.ok(offer);
  const preimage = await w.pay(offer);
  return { offer, preimage, header: paymentHeader(offer.challenge, { preimage }) };
}

describe('MppScheme charge: offers', () => {
  it('offers charge then session, each an authentic, bound, expiring challenge with a fresh invoice', async () => {
    const w = world();
    const offers = await w.scheme.offers({ ...target, description: 'Q&A "quotes"' });
    assert.deepEqual(
      offers.map((o) => o.intent),
      ['charge', 'session'],
    );
    const parsed = parsePaymentChallenges(offers.map((o) => o.header).join(', '));
    assert.deepEqual(
      parsed,
      offers.map((o) => o.challenge),
    );
    for (const o of offers) {
      assert.ok(verifyChallengeId(bindingKey(w.secret, 'quotes'), o.challenge));
      assert.equal(verifyChallengeId(w.secret, o.challenge), false);
      assert.equal(verifyChallengeId(bindingKey(w.secret, 'other'), o.challenge), false);
      assert.equal(o.challenge.realm, 'api.example.test');
      assert.equal(o.challenge.method, 'lightning');
      assert.equal(o.challenge.expires, new Date(w.clock.ms + 900_000).toISOString().replace('.000Z', 'Z'));
      assert.equal(o.challenge.description, 'Q&A "quotes"');
      // The binding is in the key, not in a parameter some clients do not echo.
      assert.equal(o.challenge.opaque, undefined);
    }
    const charge = JSON.parse(Buffer.from(offers[0]!.challenge.request, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(
      Buffer.from(offers[0]!.challenge.request, 'base64url').toString(),
      JSON.stringify({
        amount: '10',
        currency: 'sat',
        description: 'Q&A "quotes"',
        methodDetails: { invoice: invoiceOf(offers[0]!), network: 'regtest', paymentHash: offers[0]!.paymentHash },
      }),
    );
    assert.equal(charge['amount'], '10');
    const session = JSON.parse(Buffer.from(offers[1]!.challenge.request, 'base64url').toString()) as Record<string, string>;
    assert.deepEqual(Object.keys(session), ['amount', 'currency', 'depositAmount', 'depositInvoice', 'idleTimeout', 'paymentHash']);
    assert.equal(session['depositAmount'], '200');
    assert.equal(session['idleTimeout'], '300');
    assert.equal(offers[1]!.invoiceSats, 200);
    assert.notEqual(offers[0]!.paymentHash, offers[1]!.paymentHash);
    // Each 402 mints fresh invoices.
    const again = await w.scheme.offers(target);
    assert.notEqual(again[0]!.paymentHash, offers[0]!.paymentHash);
  });

  it('offers only the intents a target accepts and the scheme has', async () => {
    const w = world();
    assert.deepEqual(
      (await w.scheme.offers({ ...target, intents: ['session'] })).map((o) => o.intent),
      ['session'],
    );
    const chargeOnly = new MppScheme({
      realm: 'r',
      secret: w.secret,
      invoicer: w.server,
      network: 'regtest',
      charges: w.store,
      clock: w.clock,
    });
    assert.deepEqual(chargeOnly.intents, ['charge']);
    assert.deepEqual(
      (await chargeOnly.offers(target)).map((o) => o.intent),
      ['charge'],
    );
  });

  it('binds the resource of a dynamically priced target', async () => {
    const w = world();
    const [offer] = await w.scheme.offers({ ...target, resource: '/v1/quote?x=1', intents: ['charge'] });
    assert.ok(verifyChallengeId(bindingKey(w.secret, 'quotes', '/v1/quote?x=1'), offer!.challenge));
    assert.equal(verifyChallengeId(bindingKey(w.secret, 'quotes'), offer!.challenge), false);
    assert.equal(verifyChallengeId(bindingKey(w.secret, 'quotes', '/v1/quote?x=2'), offer!.challenge), false);
  });

  it('answers a 402 with every challenge line, problem+json and no-store', async () => {
    const w = world();
    const offers = await w.scheme.offers(target);
    const response = w.scheme.challengeResponse(offers);
    assert.equal(response.status, 402);
    assert.deepEqual(response.headers, [
      ['WWW-Authenticate', offers[0]!.header],
      ['WWW-Authenticate', offers[1]!.header],
      ['Content-Type', 'application/problem+json'],
      ['Cache-Control', 'no-store'],
    ]);
    assert.deepEqual(JSON.parse(response.body), {
      type: 'https://paymentauth.org/problems/payment-required',
      title: 'Payment Required',
      status: 402,
      detail: 'Payment required for access.',
    });
  });

  it('refuses bad options and targets with L402_ERR_MPP_INVALID_ARGUMENT', async () => {
    const w = world();
    const base = { realm: 'r', secret: w.secret, invoicer: w.server, network: 'regtest', charges: w.store };
    const bad = (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_MPP_INVALID_ARGUMENT';
    assert.throws(() => new MppScheme({ ...base, secret: new Uint8Array(31) }), bad);
    assert.throws(() => new MppScheme({ ...base, realm: 'a\r\nb' }), bad);
    assert.throws(() => new MppScheme({ ...base, realm: '' }), bad);
    assert.throws(() => new MppScheme({ realm: 'r', secret: w.secret, invoicer: w.server, network: 'regtest' }), bad);
    assert.throws(() => new MppScheme({ ...base, challengeTtlSeconds: 0 }), bad);
    await assert.rejects(w.scheme.offers({ service: 's', priceSats: 0 }), bad);
    await assert.rejects(w.scheme.offers({ service: 's', priceSats: 1.5 }), bad);
    await assert.rejects(w.scheme.verify(requestWith(), { service: 's', priceSats: -1 }), bad);
  });
});

describe('MppScheme charge: verification', () => {
  it('accepts a paid charge once, with a receipt bound to the payment', async () => {
    const w = world();
    const { offer, header, preimage } = await paidCharge(w);
    const ok = accepted(await w.scheme.verify(requestWith(header), target));
    assert.equal(ok.intent, 'charge');
    assert.equal(ok.reference, offer.paymentHash);
    assert.equal(ok.chargedSats, 10);
    const headers = w.scheme.responseHeaders(ok);
    assert.deepEqual(
      headers.map(([n]) => n),
      ['Payment-Receipt', 'Cache-Control'],
    );
    assert.equal(headers[1]![1], 'private');
    const receipt = decodePaymentReceipt(headers[0]![1]);
    assert.deepEqual(receipt, {
      status: 'success',
      method: 'lightning',
      timestamp: new Date(w.clock.ms).toISOString().replace('.000Z', 'Z'),
      reference: offer.paymentHash,
      challengeId: offer.challenge.id,
    });
    assert.ok(!headers[0]![1].includes(preimage) && !Buffer.from(headers[0]![1], 'base64url').toString().includes(preimage));
    assert.equal((await w.store.getCharge(offer.paymentHash))?.challengeId, offer.challenge.id);
    // The same credential again is a replay.
    refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_REPLAYED', 'verification-failed');
  });

  it('releases a consumption after a failed backend, so the same credential buys the retry (once)', async () => {
    const w = world();
    const { header } = await paidCharge(w);
    const first = accepted(await w.scheme.verify(requestWith(header), target));
    assert.equal(await w.scheme.release(first), true);
    assert.equal(await w.scheme.release(first), false);
    const retry = accepted(await w.scheme.verify(requestWith(header), target));
    refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_REPLAYED', 'verification-failed');
    // A stale release of the first claim cannot undo the retry's consumption.
    assert.equal(await w.scheme.release(first), false);
    refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_REPLAYED', 'verification-failed');
    assert.equal(await w.scheme.release(retry), true);
  });

  it('requires expires, and refuses an expired challenge', async () => {
    const w = world();
    const { header, offer, preimage } = await paidCharge(w);
    w.clock.advance(900_000);
    const r = refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_CHALLENGE_EXPIRED', 'payment-expired');
    assert.equal(r.problem.challengeId, offer.challenge.id);
    // An authentic challenge without expires (made with the secret) is refused too.
    const { id: _id, expires: _expires, ...rest } = offer.challenge;
    const noExpiry: PaymentChallenge = { id: computeChallengeId(bindingKey(w.secret, 'quotes'), rest), ...rest };
    w.clock.advance(-900_000);
    refused(
      await w.scheme.verify(requestWith(paymentHeader(noExpiry, { preimage })), target),
      'L402_ERR_MPP_CHALLENGE_INVALID',
      'invalid-challenge',
    );
  });

  it('refuses an altered challenge (HMAC), a wrong or malformed preimage', async () => {
    const w = world();
    const { offer, preimage } = await paidCharge(w);
    const cheaper = {
      ...offer.challenge,
      request: Buffer.from(Buffer.from(offer.challenge.request, 'base64url').toString().replace('"10"', '"1"')).toString('base64url'),
    };
    refused(
      await w.scheme.verify(requestWith(paymentHeader(cheaper, { preimage })), target),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    const longer = { ...offer.challenge, expires: '2099-01-01T00:00:00Z' };
    refused(
      await w.scheme.verify(requestWith(paymentHeader(longer, { preimage })), target),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    const other = world();
    refused(
      await other.scheme.verify(requestWith(paymentHeader(offer.challenge, { preimage })), target),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    refused(
      await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { preimage: randomPreimage() })), target),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    refused(
      await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { preimage: preimage.toUpperCase() })), target),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    refused(
      await w.scheme.verify(requestWith(paymentHeader(offer.challenge, {})), target),
      'L402_ERR_MPP_BAD_PREIMAGE',
      'lightning/invalid-preimage',
    );
    // None of those consumed the payment.
    accepted(await w.scheme.verify(requestWith(paymentHeader(offer.challenge, { preimage })), target));
  });

  it("refuses a cheap service's credential on an expensive one, another resource's, and an amount under the current price", async () => {
    const w = world();
    const cheap = { service: 'cheap', priceSats: 1 };
    const { header } = await paidCharge(w, cheap);
    refused(
      await w.scheme.verify(requestWith(header), { service: 'dear', priceSats: 1000 }),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    refused(
      await w.scheme.verify(requestWith(header), { ...cheap, resource: '/a' }),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    refused(
      await w.scheme.verify(requestWith(header), { service: 'cheap', priceSats: 2 }),
      'L402_ERR_MPP_WRONG_AMOUNT',
      'payment-insufficient',
    );
    const priced = await paidCharge(w, { service: 'dyn', resource: '/a', priceSats: 5 } as typeof target);
    refused(
      await w.scheme.verify(requestWith(priced.header), { service: 'dyn', resource: '/b', priceSats: 5 }),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
      'lightning/unknown-challenge',
    );
    // A price that went down is covered.
    accepted(await w.scheme.verify(requestWith(priced.header), { service: 'dyn', resource: '/a', priceSats: 4 }));
    accepted(await w.scheme.verify(requestWith(header), cheap));
  });

  it('tells none, malformed, conflicting, unsupported method and intent apart', async () => {
    const w = world();
    assert.deepEqual(await w.scheme.verify(requestWith(), target), { kind: 'none' });
    assert.deepEqual(await w.scheme.verify(requestWith('L402 abc:def', 'Bearer x'), target), { kind: 'none' });
    refused(await w.scheme.verify(requestWith('Payment !!!'), target), 'L402_ERR_MPP_MALFORMED', 'malformed-credential');
    refused(await w.scheme.verify(requestWith('payment '), target), 'L402_ERR_MPP_MALFORMED', 'malformed-credential');
    refused(await w.scheme.verify(requestWith(`Payment ${'A'.repeat(87_385)}`), target), 'L402_ERR_MPP_MALFORMED', 'malformed-credential');
    const { header, offer, preimage } = await paidCharge(w);
    const second = await paidCharge(w);
    refused(await w.scheme.verify(requestWith(header, second.header), target), 'L402_ERR_MPP_MALFORMED', 'malformed-credential');
    // The same credential twice is one credential.
    accepted(await w.scheme.verify(requestWith(header, header), target));
    const onchain = { ...offer.challenge, method: 'tempo' };
    refused(
      await w.scheme.verify(requestWith(paymentHeader(onchain, { preimage })), target),
      'L402_ERR_MPP_METHOD_UNSUPPORTED',
      'method-unsupported',
    );
    refused(
      await w.scheme.verify(requestWith(second.header), { ...target, intents: ['session'] }),
      'L402_ERR_MPP_METHOD_UNSUPPORTED',
      'method-unsupported',
    );
    const sessionsOnly = new MppScheme({
      realm: 'api.example.test',
      secret: w.secret,
      invoicer: w.server,
      network: 'regtest',
      sessions: {
        store: w.store,
        payer: { payInvoice: () => Promise.reject(new Error('unused')) },
        decodeInvoice: () => ({ network: 'regtest', amountMsat: 0n, expiresAt: 0 }),
      },
      clock: w.clock,
    });
    refused(await sessionsOnly.verify(requestWith(second.header), target), 'L402_ERR_MPP_METHOD_UNSUPPORTED', 'method-unsupported');
    assert.equal(w.scheme.isOwnAuthorization('PAYMENT abc'), true);
    assert.equal(w.scheme.isOwnAuthorization('L402 abc'), false);
    // The refusal's problem goes into the 402 body with the challenge id.
    const r = refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_REPLAYED', 'verification-failed');
    const body = JSON.parse(w.scheme.challengeResponse(await w.scheme.offers(target), r).body) as Record<string, unknown>;
    assert.equal(body['type'], 'https://paymentauth.org/problems/verification-failed');
    assert.equal(body['challengeId'], offer.challenge.id);
  });

  it('prunes consumed charges only after their challenge expired', async () => {
    const w = world();
    const { header, offer } = await paidCharge(w);
    accepted(await w.scheme.verify(requestWith(header), target));
    assert.equal(await w.scheme.pruneCharges(), 0);
    w.clock.advance(900_000 + 60_000 + 1);
    assert.equal(await w.scheme.pruneCharges(), 1);
    assert.equal(await w.store.getCharge(offer.paymentHash), undefined);
    // Pruned, but still refused: the challenge has expired.
    refused(await w.scheme.verify(requestWith(header), target), 'L402_ERR_MPP_CHALLENGE_EXPIRED', 'payment-expired');
  });

  it('accepts a charge credential once under concurrency on one store', async () => {
    const w = world();
    const { header } = await paidCharge(w);
    const results = await Promise.all(Array.from({ length: 50 }, () => w.scheme.verify(requestWith(header), target)));
    assert.equal(results.filter((r) => r.kind === 'accepted').length, 1);
    assert.equal(results.filter((r) => r.kind === 'refused' && r.code === 'L402_ERR_MPP_REPLAYED').length, 49);
  });

  it('propagates a store outage as an exception, not a refusal', async () => {
    const clock = world().clock;
    const store = new MemoryStore({ clock });
    const server = new DevInvoicer({ ...quiet, clock });
    const scheme = new MppScheme({ realm: 'r', secret: Buffer.alloc(32, 7), invoicer: server, network: 'regtest', charges: store, clock });
    const [offer] = await scheme.offers(target);
    const { preimage } = await server.pay(invoiceOf(offer!));
    assert.equal(hashOf(preimage), offer!.paymentHash);
    await store.close();
    await assert.rejects(scheme.verify(requestWith(paymentHeader(offer!.challenge, { preimage })), target), {
      code: 'L402_ERR_STORE_UNAVAILABLE',
    });
  });
});
