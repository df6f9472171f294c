// Conformance of the session role: MPP sessions as atomic operations (open with
// a deposit, credit once per payment hash, debit only when covered, settle
// clamped, close-and-return-balance, idle listing, refund outcome and retry).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Ledger, NewSession, SessionRecord, SessionStore } from '../../../src/store/index.js';
import { T0, bind, hex, race, rejectsWith, type RoleHarness } from './harness.js';

const MIN = 60_000;
const HOURS = 100 * 3_600_000;
function session(over: Partial<NewSession> = {}): NewSession {
  const paymentHash = over.paymentHash ?? hex();
  return { id: paymentHash, paymentHash, depositSats: 100, returnInvoice: 'lnbcrt1refund', now: T0, ...over };
}

/**
 * Registers the SessionStore suite.
 * @param name - implementation name
 * @param harness - stores
 */
export function sessionStoreConformance(name: string, harness: RoleHarness<SessionStore>): void {
  describe(`SessionStore conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    it('opens a session with its deposit and tells a retry from a foreign deposit', async (store) => {
      const s = session();
      assert.equal(await store.openSession(s), 'opened');
      assert.deepEqual(await store.getSession(s.id), {
        id: s.id,
        paymentHash: s.paymentHash,
        depositSats: 100,
        spentSats: 0,
        balanceSats: 100,
        returnInvoice: 'lnbcrt1refund',
        status: 'open',
        createdAt: T0,
        updatedAt: T0,
      } satisfies SessionRecord);
      assert.equal(await store.openSession({ ...s, depositSats: 999, now: T0 + 1 }), 'replayed', 'the same deposit again: an honest retry');
      assert.equal((await store.getSession(s.id))?.depositSats, 100, 'a replay changes nothing');
      assert.equal(
        await store.openSession(session({ id: 'other-session', paymentHash: s.paymentHash })),
        'foreign',
        'a deposit opens one session',
      );
      assert.equal(await store.openSession(session({ id: s.id })), 'foreign', 'an id taken with another deposit');
      assert.equal(await store.getSession('other-session'), undefined);
      assert.equal(await store.getSession('none'), undefined);
    });

    it('credits a top-up once per payment hash: applied, replayed, foreign, not-open', async (store) => {
      const a = session();
      const b = session();
      await store.openSession(a);
      await store.openSession(b);
      const topUp = hex();
      assert.equal(await store.creditSession(a.id, topUp, 50, T0 + 1), 'applied');
      assert.deepEqual(
        (({ depositSats, balanceSats, updatedAt }) => ({ depositSats, balanceSats, updatedAt }))((await store.getSession(a.id))!),
        { depositSats: 150, balanceSats: 150, updatedAt: T0 + 1 },
      );
      assert.equal(await store.creditSession(a.id, topUp, 50, T0 + 2), 'replayed', 'a retried top-up');
      assert.equal(await store.creditSession(b.id, topUp, 50, T0 + 2), 'foreign', "another session's top-up");
      assert.equal(await store.creditSession(b.id, a.paymentHash, 50, T0 + 2), 'foreign', 'a deposit is a credit of its session');
      assert.equal(await store.creditSession(a.id, a.paymentHash, 50, T0 + 2), 'replayed');
      assert.equal((await store.getSession(a.id))?.depositSats, 150);
      assert.equal((await store.getSession(b.id))?.depositSats, 100);
      const unused = hex();
      assert.equal(await store.creditSession('missing', unused, 50, T0 + 3), 'not-open');
      await store.closeSession(b.id, T0 + 3);
      assert.equal(await store.creditSession(b.id, unused, 50, T0 + 4), 'not-open');
      assert.equal(await store.creditSession(a.id, unused, 50, T0 + 5), 'applied', 'a refused credit leaves the payment unused');
      assert.equal(
        await store.openSession(session({ paymentHash: topUp, id: 'from-top-up' })),
        'foreign',
        'a top-up cannot open a session',
      );
    });

    it('debits only what the balance covers', async (store) => {
      const s = session({ depositSats: 30 });
      await store.openSession(s);
      const d1 = await store.debitSession(s.id, 20, T0 + 1);
      assert.deepEqual(d1 && { spent: d1.spentSats, balance: d1.balanceSats, at: d1.updatedAt }, { spent: 20, balance: 10, at: T0 + 1 });
      assert.equal(await store.debitSession(s.id, 11, T0 + 2), undefined, 'short');
      assert.equal((await store.debitSession(s.id, 10, T0 + 3))?.balanceSats, 0, 'exactly covered');
      assert.equal(await store.debitSession(s.id, 1, T0 + 4), undefined);
      assert.equal((await store.getSession(s.id))?.updatedAt, T0 + 3, 'a refused debit changes nothing');
      assert.equal(await store.debitSession('missing', 1, T0), undefined);
    });

    it('settles a metered request clamped to [0, deposit]', async (store) => {
      const s = session({ depositSats: 100 });
      await store.openSession(s);
      await store.debitSession(s.id, 40, T0 + 1);
      assert.equal((await store.settleSession(s.id, 15, T0 + 2))?.spentSats, 55, 'an under-estimate charged');
      assert.equal((await store.settleSession(s.id, -5, T0 + 3))?.spentSats, 50, 'an over-estimate given back');
      assert.equal((await store.settleSession(s.id, -500, T0 + 4))?.spentSats, 0, 'never below zero');
      const full = await store.settleSession(s.id, 1_000, T0 + 5);
      assert.deepEqual(full && [full.spentSats, full.balanceSats, full.updatedAt], [100, 0, T0 + 5], 'never above the deposit');
      assert.equal(await store.settleSession('missing', 1, T0), undefined);
    });

    it('closes in one step, returning the balance, after which nothing changes it', async (store) => {
      const s = session({ depositSats: 100 });
      await store.openSession(s);
      await store.debitSession(s.id, 30, T0 + 1);
      const closed = await store.closeSession(s.id, T0 + 2);
      assert.deepEqual(closed && { ...closed }, {
        id: s.id,
        paymentHash: s.paymentHash,
        depositSats: 100,
        spentSats: 30,
        balanceSats: 70,
        returnInvoice: 'lnbcrt1refund',
        status: 'closed',
        createdAt: T0,
        updatedAt: T0 + 2,
        closedAt: T0 + 2,
        refund: { status: 'pending', attempts: 0, updatedAt: T0 + 2 },
      } satisfies SessionRecord);
      assert.equal(await store.closeSession(s.id, T0 + 3), undefined, 'closed once');
      assert.equal(await store.debitSession(s.id, 1, T0 + 3), undefined);
      assert.equal(await store.settleSession(s.id, -30, T0 + 3), undefined);
      assert.equal(await store.creditSession(s.id, hex(), 5, T0 + 3), 'not-open');
      assert.equal((await store.getSession(s.id))?.balanceSats, 70);
      assert.equal(await store.closeSession('missing', T0), undefined);
    });

    it('lists idle open sessions, least recently used first, page by page', async (store) => {
      const ids = ['s-a', 's-b', 's-c', 's-d', 's-e'];
      for (const [i, id] of ids.entries()) await store.openSession(session({ id, now: T0 + (i < 3 ? 0 : i) }));
      await store.debitSession('s-a', 1, T0 + 10 * MIN); // used recently: not idle
      await store.closeSession('s-e', T0 + 1); // closed: not listed
      const idleBefore = T0 + 5 * MIN;
      assert.deepEqual(
        (await store.listIdleSessions(idleBefore)).map((s) => s.id),
        ['s-b', 's-c', 's-d'],
      );
      const seen: string[] = [];
      let after: { updatedAt: number; id: string } | undefined;
      for (;;) {
        const page = await store.listIdleSessions(idleBefore, 2, after);
        if (page.length === 0) break;
        seen.push(...page.map((s) => s.id));
        const last = page[page.length - 1]!;
        after = { updatedAt: last.updatedAt, id: last.id };
      }
      assert.deepEqual(seen, ['s-b', 's-c', 's-d'], 'ties at one instant ordered by id, no overlap');
      assert.deepEqual(await store.listIdleSessions(T0), []);
      await rejectsWith(store.listIdleSessions(T0, 0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listIdleSessions(T0, 10, { updatedAt: 1.5, id: 'x' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it("records a refund's outcome and lets a failed or abandoned one be retried", async (store) => {
      const s = session();
      await store.openSession(s);
      assert.equal(await store.beginRefund(s.id, { now: T0 + 1 }), undefined, 'an open session has no refund');
      await store.closeSession(s.id, T0 + 1);
      assert.deepEqual(
        (await store.listRefundsDue(100, { now: T0 + 1 })).map((r) => r.id),
        [s.id],
      );
      const taken = await store.beginRefund(s.id, { now: T0 + 2 });
      assert.deepEqual(taken?.refund, { status: 'in-flight', attempts: 1, updatedAt: T0 + 2 });
      assert.equal(await store.beginRefund(s.id, { now: T0 + 3 }), undefined, 'one refunder at a time');
      assert.deepEqual(await store.listRefundsDue(100, { now: T0 + 3 }), [], 'in flight, not abandoned yet');
      const failed = await store.finishRefund(s.id, { status: 'failed', error: 'no route' }, T0 + 4);
      assert.deepEqual(failed?.refund, { status: 'failed', attempts: 1, lastError: 'no route', updatedAt: T0 + 4 });
      assert.equal(await store.finishRefund(s.id, { status: 'succeeded' }, T0 + 5), undefined, 'not in flight');
      assert.deepEqual(
        (await store.listRefundsDue(100, { now: T0 + 5 })).map((r) => r.id),
        [s.id],
        'a failed refund is due again',
      );
      assert.equal((await store.beginRefund(s.id, { now: T0 + 6 }))?.refund?.attempts, 2);
      // The refunder died: after staleAfterMs the refund may be taken again.
      assert.equal(await store.beginRefund(s.id, { now: T0 + 6 + 10 * MIN - 1 }), undefined);
      assert.deepEqual(
        (await store.listRefundsDue(100, { now: T0 + 6 + 10 * MIN })).map((r) => r.id),
        [s.id],
      );
      assert.equal((await store.beginRefund(s.id, { now: T0 + 7, staleAfterMs: 1 }))?.refund?.attempts, 3);
      const done = await store.finishRefund(s.id, { status: 'succeeded' }, T0 + 8);
      assert.deepEqual(done?.refund, { status: 'succeeded', attempts: 3, updatedAt: T0 + 8 }, 'success clears the last error');
      assert.equal(
        await store.beginRefund(s.id, { now: T0 + HOURS, staleAfterMs: 0 }),
        undefined,
        'a finished refund is never taken again',
      );
      assert.deepEqual(await store.listRefundsDue(100, { now: T0 + HOURS, staleAfterMs: 0 }), []);
      assert.equal(
        await store.finishRefund(s.id, { status: 'failed', error: 'x' }, T0 + 9),
        undefined,
        'a finished refund keeps its outcome',
      );
    });

    it('keeps a long refund error to 1000 characters; a skipped refund is final', async (store) => {
      const s = session();
      await store.openSession(s);
      await store.closeSession(s.id, T0 + 1);
      await store.beginRefund(s.id, { now: T0 + 2 });
      const failed = await store.finishRefund(s.id, { status: 'failed', error: 'e'.repeat(5000) }, T0 + 3);
      assert.equal(failed?.refund?.lastError?.length, 1000);
      await store.beginRefund(s.id, { now: T0 + 4 });
      assert.equal((await store.finishRefund(s.id, { status: 'skipped' }, T0 + 5))?.refund?.status, 'skipped');
      assert.deepEqual(await store.listRefundsDue(100, { now: T0 + HOURS, staleAfterMs: 0 }), []);
    });

    it('an abandoned refund is final, with its reason: never due, never taken again', async (store) => {
      const s = session();
      await store.openSession(s);
      await store.closeSession(s.id, T0 + 1);
      await store.beginRefund(s.id, { now: T0 + 2 });
      const abandoned = await store.finishRefund(s.id, { status: 'abandoned', error: 'the return invoice expired' }, T0 + 3);
      assert.deepEqual([abandoned?.refund?.status, abandoned?.refund?.lastError], ['abandoned', 'the return invoice expired']);
      assert.deepEqual(await store.listRefundsDue(100, { now: T0 + HOURS, staleAfterMs: 0 }), []);
      assert.equal(await store.beginRefund(s.id, { now: T0 + HOURS, staleAfterMs: 0 }), undefined);
      assert.equal((await store.getSession(s.id))?.refund?.status, 'abandoned');
    });

    it("the ledger shows a closed session's refund on its deposit row, and on no other", async (store) => {
      const ledger = store as unknown as Ledger;
      const s = session({ depositSats: 100 });
      // The deposit's invoice and an unrelated MPP row, as a 402 records them.
      for (const paymentHash of [s.paymentHash, hex()]) {
        await ledger.recordChallenge({
          tokenId: paymentHash,
          paymentHash,
          service: 'svc',
          priceSats: 100,
          authType: 'mpp',
          createdAt: T0,
          expiresAt: T0 + HOURS,
        });
      }
      await store.openSession(s);
      assert.ok(await store.debitSession(s.id, 30, T0 + 1));
      const open = await ledger.listTransactions({ now: T0 + 2 });
      assert.ok(
        open.items.every((r) => r.refund === undefined),
        'an open session has no refund',
      );
      await store.closeSession(s.id, T0 + 3);
      await store.beginRefund(s.id, { now: T0 + 4 });
      await store.finishRefund(s.id, { status: 'abandoned', error: 'the return invoice expired' }, T0 + 5);
      const rows = (await ledger.listTransactions({ now: T0 + 6 })).items;
      assert.deepEqual(rows.find((r) => r.paymentHash === s.paymentHash)?.refund, {
        status: 'abandoned',
        sats: 70,
        error: 'the return invoice expired',
      });
      assert.equal(rows.find((r) => r.paymentHash !== s.paymentHash)?.refund, undefined);
    });

    it('rejects malformed input with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      await rejectsWith(store.openSession(session({ id: '' })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.openSession(session({ paymentHash: 'xyz', id: 'x' })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.openSession(session({ depositSats: -1 })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.openSession(session({ depositSats: 1.5 })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.openSession(session({ returnInvoice: '' })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.openSession(session({ now: Number.NaN })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.creditSession('x', hex(), 0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.creditSession('x', 'nothex', 5), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.debitSession('x', -5, T0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.debitSession('x', 0, T0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.settleSession('x', 0.5, T0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.finishRefund('x', { status: 'pending' as 'failed' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.beginRefund('x', { staleAfterMs: -1 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listRefundsDue(0), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    itPair('a session debited concurrently from two instances never goes below zero', async (pair) => {
      const s = session({ depositSats: 100 });
      await pair.a.openSession(s);
      const results = await race(pair, 60, (store) => store.debitSession(s.id, 7, T0 + 1));
      const won = results.filter((r) => r !== undefined);
      assert.equal(won.length, 14, 'floor(100 / 7) debits fit');
      for (const r of won) assert.ok(r.balanceSats >= 0 && r.spentSats <= r.depositSats);
      const final = await pair.b.getSession(s.id);
      assert.deepEqual(final && [final.spentSats, final.balanceSats], [98, 2]);
    });

    itPair('credits of one payment hash racing on two instances apply once', async (pair) => {
      const s = session({ depositSats: 10 });
      const t = session({ depositSats: 10 });
      await pair.a.openSession(s);
      await pair.b.openSession(t);
      const topUp = hex();
      const same = await race(pair, 40, (store) => store.creditSession(s.id, topUp, 25, T0 + 1));
      assert.equal(same.filter((o) => o === 'applied').length, 1);
      assert.equal(same.filter((o) => o === 'replayed').length, 39);
      assert.equal((await pair.b.getSession(s.id))?.depositSats, 35);
      // One hash presented for two sessions at once: one session gets it.
      const contested = hex();
      const split = await race(pair, 40, (store, i) => store.creditSession(i % 4 < 2 ? s.id : t.id, contested, 5, T0 + 2));
      assert.equal(split.filter((o) => o === 'applied').length, 1);
      const winner = split.indexOf('applied') % 4 < 2 ? s.id : t.id;
      split.forEach((o, i) => {
        if (o !== 'applied') assert.equal(o, (i % 4 < 2 ? s.id : t.id) === winner ? 'replayed' : 'foreign');
      });
      assert.equal((await pair.a.getSession(s.id))?.depositSats, 35 + (winner === s.id ? 5 : 0));
      assert.equal((await pair.a.getSession(t.id))?.depositSats, 10 + (winner === t.id ? 5 : 0));
    });

    itPair('one deposit opening racing on two instances opens once', async (pair) => {
      const s = session();
      const outcomes = await race(pair, 20, (store) => store.openSession(s));
      assert.equal(outcomes.filter((o) => o === 'opened').length, 1);
      assert.ok(outcomes.every((o) => o === 'opened' || o === 'replayed'));
    });

    itPair('a close racing with debits returns the balance no debit spends after', async (pair) => {
      const s = session({ depositSats: 1000 });
      await pair.a.openSession(s);
      const closeAt = 10;
      const results = await race(pair, 41, (store, i) =>
        i === closeAt ? store.closeSession(s.id, T0 + 2) : store.debitSession(s.id, 3, T0 + 1),
      );
      const closed = results[closeAt];
      assert.ok(closed !== undefined && closed.status === 'closed');
      const final = await pair.b.getSession(s.id);
      assert.equal(final?.spentSats, closed.spentSats, 'nothing spent after the close');
      const debits = results.filter((r, i) => i !== closeAt && r !== undefined).length;
      assert.equal(closed.spentSats, debits * 3);
      assert.equal(closed.balanceSats, 1000 - debits * 3);
      const refunders = await race(pair, 10, (store) => store.beginRefund(s.id, { now: T0 + 3 }));
      assert.equal(refunders.filter((r) => r !== undefined).length, 1, 'one refunder takes the refund');
    });
  });
}
