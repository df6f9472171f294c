// Metered sessions in the library: a session challenge advertises the quote (unit price and
// deposit), a session request is debited the quote, and after the response the debit is
// corrected to the true cost (clamped to [0, deposit]); without a cost the unmetered rule
// holds (the estimate stands when served, is given back when not); a close is final.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { MppScheme } from '../../src/mpp/mpp-scheme.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { Gate, type RouteOptions } from '../../src/core/gate.js';
import type { AllowDecision, Decision, RequestView } from '../../src/core/types.js';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';
import { MppPaymentScheme, type MppPaymentSchemeOptions } from '../../src/mpp/mpp-payment-scheme.js';
import type { MppAccepted } from '../../src/mpp/mpp-scheme.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { request } from '../core/support.js';
import { invoiceOf, meteredSessionRace, paymentHeader, quiet, world } from './support.js';

const route: RouteOptions = { service: 'llm', priceSats: 50 };
const SERVED: ResponseOutcome = { status: 200, completed: true };

function setup(options: Partial<MppPaymentSchemeOptions> = {}) {
  const w = world();
  const quotes: Array<string | undefined> = [];
  const errors: unknown[] = [];
  const mpp = new MppPaymentScheme({
    scheme: w.scheme,
    priceSats: () => 50,
    intents: ['session'],
    sessionQuote: (_request, _target, sessionId) => {
      quotes.push(sessionId);
      return { unitSats: 4, depositSats: 40 };
    },
    onSettleError: (e) => errors.push(e),
    ...options,
  });
  const gate = new Gate({ schemes: [mpp], clock: w.clock });
  return { w, gate, mpp, quotes, errors };
}

/** A session opened through the gate; returns the bearer header, the session id and the session challenge. */
async function opened(s: ReturnType<typeof setup>) {
  const challenge = await s.gate.decide(request(), route);
  assert.equal(challenge.kind, 'challenge');
  const lines = challenge.kind === 'challenge' ? challenge.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v) : [];
  const session = parsePaymentChallenges(lines)[0] as PaymentChallenge;
  const offered = JSON.parse(Buffer.from(session.request, 'base64url').toString('utf8')) as Record<string, string>;
  const preimage = (await s.w.server.pay(invoiceOf({ challenge: session } as never))).preimage;
  const open = paymentHeader(session, { action: 'open', preimage, returnInvoice: await s.w.returnInvoice() });
  const id = offered['paymentHash'] as string;
  return { offered, id, open, bearer: paymentHeader(session, { action: 'bearer', sessionId: id, preimage }), session, preimage };
}

/** Decides a request and reports its response to the gate; returns the decision. */
async function serve(gate: Gate, header: string, outcome: ResponseOutcome): Promise<Decision> {
  const view: RequestView = request({ authorization: header });
  const decision = await gate.decide(view, route);
  gate.responded(view, decision, outcome);
  return decision;
}

const settled = async (w: ReturnType<typeof world>, id: string, balance: number): Promise<void> => {
  for (let i = 0; i < 100; i++) {
    if ((await w.store.getSession(id))?.balanceSats === balance) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal((await w.store.getSession(id))?.balanceSats, balance);
};

test('the session challenge advertises the quote; a request is debited it, then settled at its cost, clamped', async () => {
  const costs = [9, 1, 500];
  const seen: ResponseOutcome[] = [];
  const s = setup({
    settleSession: (_accepted, _request, outcome) => {
      seen.push(outcome);
      return costs.shift();
    },
  });
  const { offered, id, open, bearer } = await opened(s);
  assert.deepEqual([offered['amount'], offered['depositAmount']], ['4', '40']);
  assert.deepEqual(s.quotes, [undefined]);
  const d = (await serve(s.gate, open, { ...SERVED, tail: Buffer.from('usage') })) as AllowDecision;
  assert.equal((d.credential as MppAccepted).chargedSats, 4);
  assert.deepEqual(s.quotes, [undefined, id], 'quoted with the session');
  await settled(s.w, id, 31);
  assert.deepEqual(Buffer.from(seen[0]?.tail ?? []).toString(), 'usage');
  await serve(s.gate, bearer, SERVED);
  await settled(s.w, id, 30);
  await serve(s.gate, bearer, SERVED);
  await settled(s.w, id, 0);
  assert.equal((await s.w.store.getSession(id))?.spentSats, 40, 'the spend stops at the deposit');
});

test('a quote of 0 or none leaves the price; a deposit below the unit price is raised to it', async () => {
  const none = (await opened(setup({ sessionQuote: () => undefined }))).offered;
  assert.deepEqual([none['amount'], none['depositAmount']], ['50', '1000']);
  const small = (await opened(setup({ sessionQuote: () => ({ unitSats: 0, depositSats: 3 }) }))).offered;
  assert.deepEqual([small['amount'], small['depositAmount']], ['50', '50']);
});

test('an incomplete response the backend answered is settled at its cost, not given back', async () => {
  const s = setup({ settleSession: () => 2 });
  const { id, open } = await opened(s);
  await serve(s.gate, open, { status: 200, completed: false });
  await settled(s.w, id, 38);
});

test('no cost (UNIMPLEMENTED) or a failing settlement: the estimate stands when served, is given back when not', async () => {
  const answers: Array<() => number | undefined> = [
    () => undefined,
    () => {
      throw new Error('meter down');
    },
    () => undefined,
    () => undefined,
  ];
  const s = setup({ settleSession: () => (answers.shift() as () => number | undefined)() });
  const { id, open, bearer } = await opened(s);
  await serve(s.gate, open, SERVED);
  await settled(s.w, id, 36);
  await serve(s.gate, bearer, SERVED);
  await settled(s.w, id, 32);
  assert.equal(s.errors.length, 1);
  assert.match(String(s.errors[0]), /meter down/);
  await serve(s.gate, bearer, { status: 200, completed: false });
  await settled(s.w, id, 32);
  // A client that left before the end: served, the estimate stands without a cost.
  await serve(s.gate, bearer, { status: 200, completed: false, clientAborted: true });
  await settled(s.w, id, 28);
  assert.equal(s.errors.length, 1);
  // A 5xx is not costed at all: given back, the pricer not asked.
  let asked = 0;
  const t = setup({
    settleSession: () => {
      asked++;
      return 40;
    },
  });
  const second = await opened(t);
  await serve(t.gate, second.open, { status: 502, completed: true });
  await settled(t.w, second.id, 40);
  assert.equal(asked, 0);
});

test('a close is final: it is not settled', async () => {
  let asked = 0;
  const s = setup({
    settleSession: () => {
      asked++;
      return 1;
    },
  });
  const { id, open, session, preimage } = await opened(s);
  await serve(s.gate, open, SERVED);
  await settled(s.w, id, 39);
  const close = paymentHeader(session, { action: 'close', sessionId: id, preimage });
  await serve(s.gate, close, SERVED);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(asked, 1);
  const closed = await s.w.store.getSession(id);
  assert.deepEqual([closed?.status, closed?.spentSats], ['closed', 5]);
  // The library call refuses a bad cost and settles nothing for a close.
  await assert.rejects(s.w.scheme.settle({ kind: 'accepted', intent: 'session', action: 'bearer' } as MppAccepted, -1), /non-negative/);
});

test('SQLite: a metered session debited and settled through two instances on one file ends at the sum of its costs, clamped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-metered-'));
  const server = new DevInvoicer(quiet);
  const client = new DevInvoicer(quiet);
  const a = new SqliteStore({ path: join(dir, 'aperture.db'), revocationPollMs: 0 });
  const b = new SqliteStore({ path: join(dir, 'aperture.db'), revocationPollMs: 0 });
  t.after(async () => {
    await a.close();
    await b.close();
    await server.close();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const secret = randomBytes(32);
  const scheme = (store: SqliteStore) =>
    new MppScheme({
      realm: 'api.example.test',
      secret,
      invoicer: server,
      network: 'regtest',
      sessions: { store, payer: new DevPayer(client), decodeInvoice },
    });
  await meteredSessionRace(scheme(a), scheme(b), server, client, a);
});
