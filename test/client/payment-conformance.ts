/**
 * The client conformance suite for the Payment (MPP) scheme, run by every HTTP
 * client helper (`wrapFetch`, the undici interceptor) against the test server
 * serving an `MppScheme` beside or instead of L402: charge per request, the
 * scheme preference, price and budget limits, one payment per challenge under
 * concurrency, a refused credential as a coded error, and sessions (open, bearer,
 * top-up on `insufficient-balance`, close with the refund arriving).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { L402Client } from '../../src/client/l402-client.js';
import { BudgetExceededError, PaymentError } from '../../src/core/errors.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import type { CleanupScope } from '../fixtures/cleanup.js';
import type { ClientTransport, TransportServer } from './client-conformance.js';
import type { TestServerOptions } from './l402-test-server.js';

/** A running server of the transport that also reports its MPP side. */
export interface PaymentTransportServer extends TransportServer {
  /** The client's node: issues return invoices, receives refunds. */
  wallet: DevInvoicer;
  /** Payment-Receipt values the server sent. */
  receipts: string[];
  /** Problem types of refused Payment credentials. */
  refusals: string[];
  /** Closes a session on the server's side. */
  closeSession(id: string): Promise<void>;
}

/** An HTTP client helper under test. */
export interface PaymentTransport extends Omit<ClientTransport, 'start'> {
  start(t: CleanupScope, options: TestServerOptions): Promise<PaymentTransportServer>;
}

const PRICE = 10;

/** Runs the Payment suite for one transport. */
export function runPaymentConformance(transport: PaymentTransport): void {
  describe(`${transport.name}: Payment (MPP) conformance`, () => {
    test('a charge offered alone is paid for each request, with a Payment credential and a receipt', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only' } });
      const receipts: unknown[] = [];
      const send = s.helper({ payer: new DevPayer(s.invoicer), mpp: { onReceipt: (r) => receipts.push(r) } });
      assert.deepEqual(await send(), { kind: 'ok', body: 'paid content for mpp charge\n' });
      assert.deepEqual(await send(), { kind: 'ok', body: 'paid content for mpp charge\n' });
      assert.equal(s.payments(), 2);
      const sent = s.authorizations.filter((a) => a !== undefined);
      assert.equal(sent.length, 2);
      for (const a of sent) assert.match(a, /^Payment [A-Za-z0-9_-]+$/);
      assert.equal(receipts.length, 2);
      assert.equal((receipts[0] as { status: string }).status, 'success');
      assert.equal(s.receipts.length, 2);
    });

    test('offered both, the default prefers L402 (a reusable token): one payment for two requests', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'both' } });
      const send = s.helper({ payer: new DevPayer(s.invoicer) });
      assert.equal((await send()).kind, 'ok');
      assert.equal((await send()).kind, 'ok');
      assert.equal(s.payments(), 1);
      const sent = s.authorizations.filter((a) => a !== undefined);
      assert.ok(
        sent.every((a) => a.startsWith('L402 ')),
        sent.join('\n'),
      );
    });

    test("offered both, preferScheme 'mpp' pays the charge", async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'both' } });
      const send = s.helper({ payer: new DevPayer(s.invoicer), preferScheme: 'mpp' });
      assert.deepEqual(await send(), { kind: 'ok', body: 'paid content for mpp charge\n' });
      assert.equal(s.payments(), 1);
      assert.match(s.authorizations.at(-1) ?? '', /^Payment /);
    });

    test('a charge above maxPriceSats, or past the budget, is refused before paying', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only' } });
      const over = await s.helper({ payer: new DevPayer(s.invoicer), maxPriceSats: PRICE - 1 })();
      assert.equal(over.kind, 'error');
      if (over.kind === 'error') {
        assert.equal(over.code, 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
        if (transport.typedErrors) assert.ok(over.error instanceof BudgetExceededError);
      }
      // Budget of 25 sat with a 1 sat fee reserve: two charges (11 each reserved) fit, the third does not.
      const client = new L402Client({ payer: new DevPayer(s.invoicer), maxFeeSats: 1, budget: { totalSats: 25 } });
      const send = s.helper(client);
      assert.equal((await send()).kind, 'ok');
      assert.equal((await send()).kind, 'ok');
      const third = await send();
      assert.equal(third.kind === 'error' ? third.code : third.kind, 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
      assert.equal(s.payments(), 2);
      assert.equal(client.spent().totalSats, 2 * PRICE);
    });

    test('one challenge is paid once, however many requests answer it at once', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only', sameChallenges: true } });
      const send = s.helper({ payer: new DevPayer(s.invoicer) });
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => send()));
      assert.equal(s.payments(), 1);
      // The charge credential buys one request; the others are told it was spent.
      assert.equal(outcomes.filter((o) => o.kind === 'ok').length, 1);
      for (const o of outcomes.filter((o) => o.kind !== 'ok')) {
        assert.equal(o.kind === 'error' ? o.code : o.kind, 'L402_ERR_CLIENT_CREDENTIAL_REFUSED');
      }
    });

    test('a refused Payment credential costs one payment and L402_ERR_CLIENT_CREDENTIAL_REFUSED naming the problem', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, alwaysChallenge: true, mpp: { offer: 'only' } });
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })();
      assert.equal(outcome.kind, 'error');
      if (outcome.kind === 'error') {
        assert.equal(outcome.code, 'L402_ERR_CLIENT_CREDENTIAL_REFUSED');
        if (transport.typedErrors) assert.ok(outcome.error instanceof PaymentError);
        assert.match(outcome.message, /verification-failed/);
        assert.equal(outcome.status, 402);
      }
      assert.equal(s.payments(), 1);
    });

    test('sessions: one deposit for concurrent requests, the bearer reused, a top-up when the balance runs out, close refunds the rest', async (t) => {
      // Deposit = 3 × price: open (1) + 2 bearers use it up; the 4th request tops up.
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only', sessions: true, depositMultiplier: 3 } });
      const client = new L402Client({ payer: new DevPayer(s.invoicer), maxFeeSats: 0, mpp: { sessions: { invoicer: s.wallet } } });
      const send = s.helper(client);
      const first = await Promise.all([send(), send(), send()]);
      assert.deepEqual(first.map((o) => (o.kind === 'ok' ? o.body.trim() : o.kind)).sort(), [
        'paid content for mpp bearer',
        'paid content for mpp bearer',
        'paid content for mpp open',
      ]);
      assert.equal(s.payments(), 1, 'one deposit');
      assert.equal((await send()).kind === 'ok' ? 'ok' : 'no', 'ok');
      assert.equal(s.payments(), 2, 'one top-up');
      assert.ok(s.refusals.some((p) => p.endsWith('/insufficient-balance')));
      assert.equal(client.spent().totalSats, 2 * 3 * PRICE);
      const id = client.sessionId(s.url);
      assert.ok(id);
      const refunds: number[] = [];
      s.wallet.onSettled((status) => refunds.push(status.amountPaidSats ?? 0));
      // Balance now: 60 − 4 × 10 = 20; closing costs one more unit and refunds 10.
      const result = await client.closeSession(s.url, (authorization) => fetch(s.url, { headers: { authorization } }));
      assert.deepEqual(result, { sessionId: id, status: 200, refundSats: PRICE, refundStatus: 'succeeded' });
      assert.equal(client.sessionId(s.url), undefined);
      assert.equal(await client.closeSession(s.url, () => assert.fail('nothing to close')), undefined);
      // The refund arrived at the client's node, paying its return invoice.
      assert.deepEqual(refunds, [PRICE]);
    });

    test('a session the server closed is forgotten and a new one opened, once', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only', sessions: true, depositMultiplier: 5 } });
      const client = new L402Client({ payer: new DevPayer(s.invoicer), mpp: { sessions: { invoicer: s.wallet } } });
      const send = s.helper(client);
      assert.equal((await send()).kind, 'ok');
      const first = client.sessionId(s.url);
      assert.ok(first);
      await s.closeSession(first);
      assert.deepEqual(await send(), { kind: 'ok', body: 'paid content for mpp open\n' });
      assert.ok(
        s.refusals.some((p) => p.endsWith('/session-closed')),
        s.refusals.join(),
      );
      const second = client.sessionId(s.url);
      assert.ok(second !== undefined && second !== first);
      assert.equal(s.payments(), 2);
    });

    test('sessions are used only when asked for: without mpp.sessions a charge is paid', async (t) => {
      const s = await transport.start(t, { priceSats: PRICE, mpp: { offer: 'only', sessions: true } });
      assert.deepEqual(await s.helper({ payer: new DevPayer(s.invoicer) })(), { kind: 'ok', body: 'paid content for mpp charge\n' });
    });
  });
}
