// The Gate over a list of payment schemes, and its hooks: a second scheme fits
// without changing the Gate (its offer after L402's, its body, its response
// headers, its after-response call), the hooks run where documented, and the
// answers of the pipeline (503 body, price-failure code) are the same for
// every front end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate, type BeforeChallengeEvent, type ChallengeEvent, type ResponseEvent, type RouteOptions } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { L402Error } from '../../src/core/errors.js';
import type { ChallengeDecision, Decision } from '../../src/core/types.js';
import { TEST_SCHEME_BODY, TestPaymentScheme } from '../fixtures/test-payment-scheme.js';
import { FakeInvoicer, TestClock, request } from './support.js';

function setup<C = undefined>(hooks: Omit<ConstructorParameters<typeof Gate<C>>[0], 'schemes' | 'minter' | 'verifier'> = {}) {
  const clock = new TestClock();
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const l402 = new L402Scheme({ minter: new Minter({ invoicer, secrets, clock }), verifier: new Verifier({ secrets, clock }) });
  const other = new TestPaymentScheme();
  const gate = new Gate<C>({ schemes: [l402, other], clock, ...hooks });
  return { gate, invoicer, other, l402 };
}

const route: RouteOptions = { service: 'api', priceSats: 21 };
const stringRoute: RouteOptions<string> = { service: 'api', priceSats: 21 };

function asChallenge(d: Decision): ChallengeDecision {
  assert.equal(d.kind, 'challenge', JSON.stringify(d));
  return d as ChallengeDecision;
}

test('two schemes: one 402 with an offer per scheme, L402 lines first, the body the offers choose', async () => {
  const { gate, invoicer } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  assert.deepEqual(
    c.offers.map((o) => o.scheme),
    ['L402', 'Test'],
  );
  assert.deepEqual(
    c.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v.split(' ')[0]),
    ['LSAT', 'L402', 'Test'],
  );
  assert.equal(c.body, TEST_SCHEME_BODY);
  assert.deepEqual(
    c.headers.filter(([n]) => n !== 'WWW-Authenticate'),
    [
      ['Content-Type', 'application/problem+json'],
      ['Cache-Control', 'no-store'],
      ['X-Content-Type-Options', 'nosniff'],
    ],
  );
  // The first offer's facts stay on the decision; both offers are priced alike.
  assert.equal(c.paymentHash, c.offers[0]?.paymentHash);
  assert.deepEqual(
    c.offers.map((o) => o.priceSats),
    [21, 21],
  );
  assert.equal(invoicer.requests.length, 1, 'L402 minted once');
  // The L402 offer still pays as before.
  const [l402] = parseChallenges(c.headers.map(([, v]) => v));
  const paid = await gate.decide(
    request({ authorization: formatAuthorization(l402!.macaroon, invoicer.preimageOf(c.paymentHash)) }),
    route,
  );
  assert.equal(paid.kind, 'allow');
  assert.equal(paid.kind === 'allow' && paid.scheme, 'L402');
});

test('a credential of the second scheme is accepted by it: the allow names the scheme, carries its credential and response headers', async () => {
  const { gate } = setup();
  const d = await gate.decide(request({ 'x-test': 'good' }), route);
  assert.equal(d.kind, 'allow');
  if (d.kind !== 'allow') return;
  assert.equal(d.reason, 'paid');
  assert.equal(d.scheme, 'Test');
  assert.deepEqual(d.credential, { session: 's1' });
  assert.deepEqual(d.headers, [['Payment-Receipt', 'receipt-aaaa']]);
  assert.equal(d.token?.tokenId, 'aa'.repeat(32));
});

test('the refusal is the one of the scheme that found its credential, not the missing one of the others', async () => {
  const refusals: string[] = [];
  const { gate } = setup({ onRefusal: (r) => refusals.push(`${r.reason}:${r.code}`) });
  const c = asChallenge(await gate.decide(request({ 'x-test': 'bad' }), route));
  assert.equal(c.code, 'L402_ERR_TOKEN_MALFORMED');
  assert.equal(c.refusal?.reason, 'malformed');
  assert.deepEqual(refusals, ['malformed:L402_ERR_TOKEN_MALFORMED']);
  // Every offer is told the refusal (L402 names it on its lines).
  assert.match(c.headers[1]?.[1] ?? '', /, error="malformed"$/);
});

test('beforeChallenge may answer instead of the challenge (nothing minted) or let it go on; onChallenge sees every offer', async () => {
  const seen: BeforeChallengeEvent<{ id: number }>[] = [];
  const challenged: ChallengeEvent<{ id: number }>[] = [];
  const { gate, invoicer } = setup<{ id: number }>({
    beforeChallenge: (event) => {
      seen.push(event);
      return event.context?.id === 1 ? { kind: 'allow', reason: 'freebie' } : undefined;
    },
    onChallenge: (event) => {
      challenged.push(event);
    },
  });
  const r: RouteOptions<{ id: number }> = { service: 'api', priceSats: (_req, context) => context.id * 10 };
  const free = await gate.decide(request(), r, { id: 1 });
  assert.deepEqual(free, { kind: 'allow', reason: 'freebie' });
  assert.equal(invoicer.requests.length, 0);
  const c = asChallenge(await gate.decide(request(), r, { id: 2 }));
  assert.equal(c.priceSats, 20, 'the price function saw the context');
  assert.deepEqual(
    seen.map((e) => [e.context?.id, e.code, e.refusal]),
    [
      [1, 'L402_ERR_TOKEN_MISSING', undefined],
      [2, 'L402_ERR_TOKEN_MISSING', undefined],
    ],
  );
  assert.equal(challenged.length, 1);
  assert.equal(challenged[0]?.decision, c);
  assert.deepEqual(
    challenged[0]?.decision.offers.map((o) => o.authType),
    ['l402', 'mpp'],
  );
});

test('a skip-invoice route answers 401 before beforeChallenge runs', async () => {
  let ran = false;
  const { gate } = setup({ beforeChallenge: () => ((ran = true), undefined) });
  const d = await gate.decide(request(), { ...route, skipInvoiceCreation: true });
  assert.equal(d.kind === 'reject' && d.status, 401);
  assert.equal(ran, false);
});

test('faults answer 503 "service unavailable (<code>)" and reach onError: price, offer, onChallenge', async () => {
  const errors: string[] = [];
  let ledgerDown = false;
  const { gate, invoicer } = setup({
    onError: (error, event) => errors.push(`${event.route.service}:${error.code}`),
    onChallenge: () => {
      if (ledgerDown) throw new Error('disk full');
    },
  });
  const price = await gate.decide(request(), {
    service: 'api',
    priceSats: () => {
      throw new Error('pricer down');
    },
  });
  assert.deepEqual(price.kind === 'reject' && [price.status, price.body, price.code], [
    503,
    'service unavailable (L402_ERR_GATE_PRICE_UNAVAILABLE)\n',
    'L402_ERR_GATE_PRICE_UNAVAILABLE',
  ]);
  const coded = await gate.decide(request(), {
    service: 'api',
    priceSats: () => Promise.reject(new L402Error('L402_ERR_PRICER_UNAVAILABLE', 'price server down')),
  });
  assert.equal(
    coded.kind === 'reject' && coded.body,
    'service unavailable (L402_ERR_PRICER_UNAVAILABLE)\n',
    'a coded fault keeps its code',
  );
  const invalid = await gate.decide(request(), { service: 'api', priceSats: () => -1 });
  assert.equal(invalid.kind === 'reject' && invalid.code, 'L402_ERR_GATE_PRICE_UNAVAILABLE');
  invoicer.failWith = new Error('lnd down');
  const mint = await gate.decide(request(), route);
  assert.equal(mint.kind === 'reject' && mint.body, 'service unavailable (L402_ERR_LN_UNAVAILABLE)\n');
  invoicer.failWith = undefined;
  ledgerDown = true;
  const ledger = await gate.decide(request(), route);
  assert.deepEqual(ledger.kind === 'reject' && [ledger.status, ledger.body], [503, 'service unavailable (L402_ERR_STORE_UNAVAILABLE)\n']);
  assert.deepEqual(errors, [
    'api:L402_ERR_GATE_PRICE_UNAVAILABLE',
    'api:L402_ERR_PRICER_UNAVAILABLE',
    'api:L402_ERR_GATE_PRICE_UNAVAILABLE',
    'api:L402_ERR_LN_UNAVAILABLE',
    'api:L402_ERR_STORE_UNAVAILABLE',
  ]);
});

test('responded tells the accepting scheme and the afterResponse hook; nothing observes without either', async () => {
  const events: ResponseEvent<string>[] = [];
  const { gate, other } = setup<string>({ afterResponse: (event) => events.push(event) });
  assert.equal(gate.observesResponses, true);
  const req = request({ 'x-test': 'good' });
  const d = await gate.decide(req, stringRoute, 'ctx');
  gate.responded(req, d, { status: 200, completed: false }, 'ctx');
  assert.deepEqual(
    other.finished.map((f) => [f.accepted.token.tokenId, f.accepted.credential, f.outcome]),
    [['aa'.repeat(32), { session: 's1' }, { status: 200, completed: false }]],
  );
  assert.deepEqual(
    events.map((e) => [e.decision, e.outcome.status, e.context]),
    [[d, 200, 'ctx']],
  );
  // A challenge reaches the hook, not the scheme.
  const c = await gate.decide(request(), stringRoute);
  gate.responded(request(), c, { status: 402, completed: true });
  assert.equal(other.finished.length, 1);
  assert.equal(events.length, 2);

  const secrets = new MemorySecretStore();
  const plain = new Gate({ minter: new Minter({ invoicer: new FakeInvoicer(), secrets }), verifier: new Verifier({ secrets }) });
  assert.equal(plain.observesResponses, false);
  assert.equal(plain.schemes[0]?.name, 'L402');
});

test('observes: only a credential of a metering scheme is watched, unless the afterResponse hook is set', async () => {
  const { gate } = setup();
  const req = request({ 'x-test': 'good' });
  const metered = await gate.decide(req, route);
  assert.equal(metered.kind === 'allow' && metered.scheme, 'Test');
  assert.equal(gate.observes(metered), true);
  assert.equal(gate.observes({ kind: 'allow', reason: 'auth-off' }), false);
  assert.equal(gate.observes(await gate.decide(request(), route)), false, 'a challenge');
  assert.equal(gate.observes({ ...metered, scheme: 'L402' } as Decision), false, 'L402 meters nothing');
  const hooked = setup({ afterResponse: () => undefined }).gate;
  assert.equal(hooked.observes({ kind: 'allow', reason: 'auth-off' }), true);
});

test('the constructor takes schemes or the minter + verifier shorthand, not both, not neither, no duplicate names', () => {
  const secrets = new MemorySecretStore();
  const minter = new Minter({ invoicer: new FakeInvoicer(), secrets });
  const verifier = new Verifier({ secrets });
  const l402 = new L402Scheme({ minter, verifier });
  assert.throws(() => new Gate({}), { code: 'L402_ERR_CONFIG_INVALID' });
  assert.throws(() => new Gate({ schemes: [] }), { code: 'L402_ERR_CONFIG_INVALID' });
  assert.throws(() => new Gate({ schemes: [l402], minter, verifier }), { code: 'L402_ERR_CONFIG_INVALID' });
  assert.throws(() => new Gate({ minter }), /verifier/);
  assert.throws(() => new Gate({ schemes: [l402, new L402Scheme({ minter, verifier })] }), /second scheme named L402/);
  assert.throws(() => new Gate({ schemes: [l402], challengeForm: 'spec' }), /challengeForm/);
  assert.deepEqual(
    new Gate({ schemes: [l402, new TestPaymentScheme()] }).schemes.map((s) => s.name),
    ['L402', 'Test'],
  );
});

test('a paid request with a synchronous verification is decided synchronously by evaluate', async () => {
  const { gate } = setup();
  const d = gate.evaluate(request({ 'x-test': 'good' }), route);
  // Two schemes verify in turn (asynchronously); one scheme with a cached verification answers at once.
  assert.equal(typeof (d as Promise<Decision>).then, 'function');
  const secrets = new MemorySecretStore();
  const invoicer = new FakeInvoicer();
  const single = new Gate({ minter: new Minter({ invoicer, secrets }), verifier: new Verifier({ secrets }) });
  const c = asChallenge(await single.decide(request(), route));
  const [l402] = parseChallenges(c.headers.map(([, v]) => v));
  const auth = formatAuthorization(l402!.macaroon, invoicer.preimageOf(c.paymentHash));
  const now = single.evaluate(request({ authorization: auth }), route);
  assert.equal((now as Decision).kind, 'allow', 'not a promise');
});
