// MppPaymentScheme through the Gate beside L402: both offered (L402 lines first,
// then charge, then session, problem+json body), either accepted, the receipt
// only for a Payment credential this request verified, the refused problem in
// the 402, and the payment given back when the response was not served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate, type RouteOptions } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { parseChallenges } from '../../src/core/challenge.js';
import type { ChallengeDecision, Decision, RequestView } from '../../src/core/types.js';
import { MppPaymentScheme, responseServed } from '../../src/mpp/mpp-payment-scheme.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { request } from '../core/support.js';
import { invoiceOf, paymentHeader, world } from './support.js';

function setup(priceSats = 21) {
  const w = world();
  const secrets = new MemorySecretStore();
  const l402 = new L402Scheme({
    minter: new Minter({ invoicer: w.server, secrets, clock: w.clock }),
    verifier: new Verifier({ secrets, clock: w.clock }),
  });
  const released: unknown[] = [];
  const mpp = new MppPaymentScheme({ scheme: w.scheme, priceSats: () => priceSats, onReleaseError: (e) => released.push(e) });
  const gate = new Gate({ schemes: [l402, mpp], clock: w.clock });
  return { w, gate, mpp, released };
}

const route: RouteOptions = { service: 'api', priceSats: 21 };

function asChallenge(d: Decision): ChallengeDecision {
  assert.equal(d.kind, 'challenge', JSON.stringify(d));
  return d as ChallengeDecision;
}

function paymentChallenges(c: ChallengeDecision): PaymentChallenge[] {
  return parsePaymentChallenges(c.headers.filter(([n, v]) => n === 'WWW-Authenticate' && v.startsWith('Payment ')).map(([, v]) => v));
}

async function payCharge(w: ReturnType<typeof world>, challenge: PaymentChallenge): Promise<string> {
  const invoice = JSON.parse(Buffer.from(challenge.request, 'base64url').toString('utf8')).methodDetails.invoice as string;
  const { preimage } = await w.server.pay(invoice);
  return paymentHeader(challenge, { preimage });
}

test('one 402 offers L402, then the charge, then the session, with the problem+json body', async () => {
  const { gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  assert.deepEqual(
    c.offers.map((o) => [o.scheme, o.authType]),
    [
      ['L402', 'l402'],
      ['Payment', 'mpp'],
    ],
  );
  const lines = c.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v.split(' ')[0]);
  assert.deepEqual(lines, ['LSAT', 'L402', 'Payment', 'Payment']);
  assert.deepEqual(
    paymentChallenges(c).map((p) => p.intent),
    ['charge', 'session'],
  );
  assert.equal(c.headers.find(([n]) => n === 'Content-Type')?.[1], 'application/problem+json');
  assert.equal(JSON.parse(c.body).type, 'https://paymentauth.org/problems/payment-required');
});

test('a paid charge is accepted once, with a receipt from the Payment scheme only; a replay gets the specific problem', async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const header = await payCharge(w, paymentChallenges(c)[0] as PaymentChallenge);
  const ok = await gate.decide(request({ authorization: header }), route);
  assert.equal(ok.kind, 'allow');
  if (ok.kind !== 'allow') return;
  assert.equal(ok.scheme, 'Payment');
  assert.equal(ok.headers?.find(([n]) => n === 'Payment-Receipt') !== undefined, true);
  assert.deepEqual(
    ok.headers?.find(([n]) => n === 'Cache-Control'),
    ['Cache-Control', 'private'],
  );
  const replay = asChallenge(await gate.decide(request({ authorization: header }), route));
  assert.equal(replay.code, 'L402_ERR_MPP_REPLAYED');
  assert.equal(JSON.parse(replay.body).type, 'https://paymentauth.org/problems/verification-failed');
  // Fresh challenges with it.
  assert.equal(paymentChallenges(replay).length, 2);
});

test("an L402 credential beside an unverified Payment header gets no Payment-Receipt (the reference's issue #272)", async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const [l402] = parseChallenges(c.headers.map(([, v]) => v));
  const preimage = (await w.server.pay(l402!.invoice)).preimage;
  const bogus = paymentHeader(paymentChallenges(c)[0] as PaymentChallenge, { preimage: '00'.repeat(32) });
  const d = await gate.decide(request({ authorization: [formatAuthorization(l402!.macaroon, preimage), bogus] }), route);
  // L402 verifies first and wins; the Payment credential was never spent, and no receipt is sent.
  assert.equal(d.kind, 'allow');
  if (d.kind !== 'allow') return;
  assert.equal(d.scheme, 'L402');
  assert.equal(d.headers?.some(([n]) => n === 'Payment-Receipt') ?? false, false);
});

test('a charge for another service is refused with unknown-challenge', async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const header = await payCharge(w, paymentChallenges(c)[0] as PaymentChallenge);
  const other = asChallenge(await gate.decide(request({ authorization: header }), { service: 'other', priceSats: 21 }));
  assert.equal(other.code, 'L402_ERR_MPP_CHALLENGE_UNKNOWN');
});

test('a response not served gives the charge back: the same credential pays the retry, once', async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const header = await payCharge(w, paymentChallenges(c)[0] as PaymentChallenge);
  const first = await gate.decide(request({ authorization: header }), route);
  assert.equal(first.kind, 'allow');
  const view: RequestView = request({ authorization: header });
  gate.responded(view, first, { status: 502, completed: true });
  // release is asynchronous: wait for it through the store.
  let again: Decision | undefined;
  for (const until = Date.now() + 10_000; again?.kind !== 'allow' && Date.now() < until;) {
    await new Promise((r) => setImmediate(r));
    again = await gate.decide(request({ authorization: header }), route);
  }
  assert.equal(again?.kind, 'allow', 'retried with the same credential');
  gate.responded(view, again as Decision, { status: 200, completed: true });
  assert.equal((await gate.decide(request({ authorization: header }), route)).kind, 'challenge', 'served: spent');
});

test('a cheaper charge does not pay for a dearer price', async () => {
  const cheap = setup(5);
  const c = asChallenge(await cheap.gate.decide(request(), { service: 'api', priceSats: 5 }));
  const header = await payCharge(cheap.w, paymentChallenges(c)[0] as PaymentChallenge);
  const dear = new Gate({ schemes: [new MppPaymentScheme({ scheme: cheap.w.scheme, priceSats: () => 50 })], clock: cheap.w.clock });
  const d = asChallenge(await dear.decide(request({ authorization: header }), { service: 'api', priceSats: 50 }));
  assert.equal(d.code, 'L402_ERR_MPP_WRONG_AMOUNT');
});

test('a free request spends no Payment credential', async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const header = await payCharge(w, paymentChallenges(c)[0] as PaymentChallenge);
  const free = new Gate({ schemes: [new MppPaymentScheme({ scheme: w.scheme, priceSats: () => 0 })], clock: w.clock });
  assert.deepEqual(await free.decide(request({ authorization: header }), { service: 'api', priceSats: 0 }), {
    kind: 'allow',
    reason: 'free',
  });
  assert.equal((await gate.decide(request({ authorization: header }), route)).kind, 'allow', 'still unspent');
});

test('session through the Gate: open, bearer, close with the refund in the receipt', async () => {
  const { w, gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const session = paymentChallenges(c)[1] as PaymentChallenge;
  const deposit = invoiceOf({ challenge: session } as never);
  const { preimage } = await w.server.pay(deposit);
  const open = await gate.decide(
    request({ authorization: paymentHeader(session, { action: 'open', preimage, returnInvoice: await w.returnInvoice() }) }),
    route,
  );
  assert.equal(open.kind, 'allow');
  const sessionId = open.kind === 'allow' ? open.token?.tokenId : undefined;
  const bearer = await gate.decide(request({ authorization: paymentHeader(session, { action: 'bearer', sessionId, preimage }) }), route);
  assert.equal(bearer.kind, 'allow');
  const close = await gate.decide(request({ authorization: paymentHeader(session, { action: 'close', sessionId, preimage }) }), route);
  assert.equal(close.kind, 'allow');
  const receipt = close.kind === 'allow' ? close.headers?.find(([n]) => n === 'Payment-Receipt')?.[1] : undefined;
  const decoded = JSON.parse(Buffer.from(receipt as string, 'base64url').toString('utf8'));
  assert.equal(decoded.refundSats, 21 * 20 - 3 * 21);
  assert.equal(decoded.refundStatus, 'succeeded');
});

test('responseServed: 5xx, a response the backend cut and gRPC UNAVAILABLE/INTERNAL/DEADLINE_EXCEEDED are not served', () => {
  assert.equal(responseServed({ status: 200, completed: true }), true);
  assert.equal(responseServed({ status: 404, completed: true }), true);
  assert.equal(responseServed({ status: 500, completed: true }), false);
  assert.equal(responseServed({ status: 200, completed: false }), false);
  assert.equal(responseServed({ status: 200, completed: false, clientAborted: false }), false);
  // The client left before the end (or before the head): the backend answered, it counts.
  assert.equal(responseServed({ status: 200, completed: false, clientAborted: true }), true);
  assert.equal(responseServed({ status: 502, completed: false, clientAborted: true }), false);
  assert.equal(responseServed({ status: 200, completed: false, clientAborted: true, grpcStatus: 14 }), false);
  assert.equal(responseServed({ status: 200, completed: true, grpcStatus: 14 }), false);
  assert.equal(responseServed({ status: 200, completed: true, grpcStatus: 5 }), true);
  // DEADLINE_EXCEEDED: the backend's failure, unless the client's own deadline ran out while it was answering.
  assert.equal(responseServed({ status: 200, completed: true, grpcStatus: 4 }), false);
  assert.equal(responseServed({ status: 200, completed: false, grpcStatus: 4 }), false);
  assert.equal(responseServed({ status: 200, completed: true, grpcStatus: 4, clientDeadline: true }), true);
  assert.equal(responseServed({ status: 200, completed: false, grpcStatus: 4, clientDeadline: true }), true);
  assert.equal(responseServed({ status: 200, completed: false, grpcStatus: 14, clientDeadline: true }), false);
});
