// Conformance of the ledger role: challenges, settlement, listings, revenue,
// reconciliation, revocation marks and garbage collection.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Ledger, RevocationEvent, RootKeyStore } from '../../../src/store/index.js';
import { HOUR, T0, bind, hex, idHashOf, race, rejectsWith, type RoleHarness } from './harness.js';

/** The ledger revokes and collects root keys, so its suite needs them too. */
export type LedgerUnderTest = Ledger & RootKeyStore;

type Over = Partial<{
  tokenId: string;
  paymentHash: string;
  service: string;
  priceSats: number;
  authType: 'l402' | 'mpp';
  createdAt: number;
  expiresAt: number;
}>;

async function challenge(store: Ledger, over: Over = {}): Promise<{ tokenId: string; paymentHash: string; idHash: Uint8Array }> {
  const tokenId = over.tokenId ?? hex();
  const paymentHash = over.paymentHash ?? hex();
  assert.equal(
    await store.recordChallenge({
      tokenId,
      paymentHash,
      service: over.service ?? 'svc',
      priceSats: over.priceSats ?? 10,
      authType: over.authType ?? 'l402',
      createdAt: over.createdAt ?? T0,
      expiresAt: over.expiresAt ?? T0 + HOUR,
    }),
    true,
  );
  return { tokenId, paymentHash, idHash: idHashOf(paymentHash, tokenId) };
}

/**
 * Registers the Ledger suite.
 * @param name - implementation name
 * @param harness - stores
 */
export function ledgerConformance(name: string, harness: RoleHarness<LedgerUnderTest>): void {
  describe(`Ledger conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    it('rejects malformed input with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      const base = {
        tokenId: hex(),
        paymentHash: hex(),
        service: 's',
        priceSats: 1,
        authType: 'l402' as const,
        createdAt: T0,
        expiresAt: T0 + 1,
      };
      await rejectsWith(store.recordChallenge({ ...base, tokenId: 'XYZ' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, paymentHash: hex().toUpperCase() }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, priceSats: -1 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, authType: 'x' as 'l402' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, authType: 'mpp', tokenId: '' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.markSettled('nothex', T0, 1), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ limit: 0 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ limit: 1001 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ offset: -1 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ state: 'paid' as 'settled' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTokens({ limit: 5000 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('records a challenge as pending and settles it once', async (store) => {
      const { tokenId, paymentHash } = await challenge(store, { priceSats: 21, service: 'quotes' });
      const again = await store.recordChallenge({
        tokenId,
        paymentHash: hex(),
        service: 'x',
        priceSats: 1,
        authType: 'l402',
        createdAt: T0,
        expiresAt: T0 + 1,
      });
      assert.equal(again, false, 'a duplicate token id changes nothing');
      const pending = await store.getTransaction(tokenId, T0 + 1);
      assert.deepEqual(
        { ...pending, id: 0 },
        {
          id: 0,
          tokenId,
          paymentHash,
          service: 'quotes',
          priceSats: 21,
          authType: 'l402',
          state: 'pending',
          createdAt: T0,
          expiresAt: T0 + HOUR,
        },
      );
      assert.equal((await store.getTransaction(tokenId, T0 + HOUR))?.state, 'expired');
      assert.equal(await store.markSettled(paymentHash, T0 + 5, 21), true);
      assert.equal(await store.markSettled(paymentHash, T0 + 9, 99), false, 'settling twice is a no-op');
      assert.equal(await store.markSettled(hex(), T0, 1), false, 'an unknown hash is a no-op');
      const settled = await store.getTransaction(tokenId, T0 + 2 * HOUR);
      assert.equal(settled?.state, 'settled');
      assert.equal(settled?.settledAt, T0 + 5);
      assert.equal(settled?.amountPaidSats, 21);
      assert.equal(await store.getTransaction(hex()), undefined);
    });

    it('lists transactions with filters, paging and totals', async (store) => {
      const a = await challenge(store, { service: 'a', createdAt: T0, expiresAt: T0 + HOUR });
      const b = await challenge(store, { service: 'b', createdAt: T0 + 1000, expiresAt: T0 + 2 * HOUR });
      const c = await challenge(store, { service: 'a', createdAt: T0 + 2000, expiresAt: T0 + 10 * HOUR });
      const m = await challenge(store, {
        service: 'b',
        createdAt: T0 + 3000,
        expiresAt: T0 + 10 * HOUR,
        authType: 'mpp',
        tokenId: 'challenge-id_1',
      });
      await store.markSettled(b.paymentHash, T0 + 1500, 10);
      const now = T0 + 90 * 60_000; // a expired, c and m pending, b settled
      const ids = async (f: Parameters<Ledger['listTransactions']>[0]): Promise<string[]> =>
        (await store.listTransactions({ now, ...f })).items.map((r) => r.tokenId);
      assert.deepEqual(await ids({}), [m.tokenId, c.tokenId, b.tokenId, a.tokenId], 'newest first');
      assert.deepEqual(await ids({ service: 'a' }), [c.tokenId, a.tokenId]);
      assert.deepEqual(await ids({ state: 'settled' }), [b.tokenId]);
      assert.deepEqual(await ids({ state: 'expired' }), [a.tokenId]);
      assert.deepEqual(await ids({ state: 'pending' }), [m.tokenId, c.tokenId]);
      assert.deepEqual(await ids({ authType: 'mpp' }), [m.tokenId]);
      assert.deepEqual(await ids({ start: T0 + 1000, end: T0 + 3000 }), [c.tokenId, b.tokenId], 'start inclusive, end exclusive');
      await store.markSettled(c.paymentHash, T0 + 2500, 20);
      assert.deepEqual(
        await ids({ settledStart: T0 + 1500, settledEnd: T0 + 2500 }),
        [b.tokenId],
        'settled range: start inclusive, end exclusive, pending rows out',
      );
      assert.deepEqual(await ids({ settledStart: T0 + 1501 }), [c.tokenId]);
      assert.deepEqual(await ids({ settledEnd: T0 + 2501, service: 'a' }), [c.tokenId]);
      assert.equal((await store.listTransactions({ now, settledStart: T0, limit: 1 })).total, 2);
      const page = await store.listTransactions({ now, limit: 2, offset: 1 });
      assert.deepEqual(
        page.items.map((r) => r.tokenId),
        [c.tokenId, b.tokenId],
      );
      assert.equal(page.total, 4);
      const filtered = await store.listTransactions({ now, service: 'a', limit: 1 });
      assert.equal(filtered.total, 2);
      assert.equal(filtered.items.length, 1);
      assert.equal((await store.listTransactions({ now, state: 'expired' })).items[0]?.state, 'expired');
    });

    it('lists settled L402 tokens, without revoked ones unless asked', async (store) => {
      const x = await challenge(store, { service: 'a', createdAt: T0 });
      const y = await challenge(store, { service: 'b', createdAt: T0 + 1 });
      await challenge(store, { service: 'a', createdAt: T0 + 2 }); // pending: not a token yet
      const mpp = await challenge(store, { authType: 'mpp', tokenId: 'mpp-1', createdAt: T0 + 3 });
      for (const r of [x, y, mpp]) await store.markSettled(r.paymentHash, T0 + 10, 10);
      const tokens = await store.listTokens();
      assert.deepEqual(
        tokens.items.map((r) => r.tokenId),
        [y.tokenId, x.tokenId],
      );
      assert.equal(tokens.total, 2);
      assert.deepEqual(
        (await store.listTokens({ service: 'a' })).items.map((r) => r.tokenId),
        [x.tokenId],
      );
      assert.equal(await store.revokeToken(x.tokenId), true);
      assert.deepEqual(
        (await store.listTokens()).items.map((r) => r.tokenId),
        [y.tokenId],
      );
      const all = await store.listTokens({ includeRevoked: true });
      assert.deepEqual(
        all.items.map((r) => r.tokenId),
        [y.tokenId, x.tokenId],
      );
      assert.equal(typeof all.items[1]?.revokedAt, 'number');
      assert.equal(await store.revokeToken(mpp.tokenId), true, 'an MPP row is marked revoked (it has no root key)');
      assert.equal(await store.revokeToken(mpp.tokenId), false);
    });

    it('computes revenue from settled rows, in all and per service', async (store) => {
      const r1 = await challenge(store, { service: 'b', priceSats: 10 });
      const r2 = await challenge(store, { service: 'a', priceSats: 5 });
      const r3 = await challenge(store, { service: 'a', priceSats: 7 });
      await challenge(store, { service: 'c', priceSats: 1000 }); // never paid
      await store.markSettled(r1.paymentHash, T0 + 100, 12); // overpaid: the amount received counts
      await store.markSettled(r2.paymentHash, T0 + 200, 5);
      await store.markSettled(r3.paymentHash, T0 + 300, 7);
      assert.deepEqual(await store.revenueStats(), {
        totalSats: 24,
        count: 3,
        services: [
          { service: 'a', totalSats: 12, count: 2 },
          { service: 'b', totalSats: 12, count: 1 },
        ],
      });
      assert.deepEqual(await store.revenueStats({ start: T0 + 200, end: T0 + 300 }), {
        totalSats: 5,
        count: 1,
        services: [{ service: 'a', totalSats: 5, count: 1 }],
      });
      assert.deepEqual(await store.revenueStats({ start: T0 + 10_000 }), { totalSats: 0, count: 0, services: [] });
    });

    it('lists pending rows whose invoice has not expired, oldest first', async (store) => {
      const live1 = await challenge(store, { createdAt: T0, expiresAt: T0 + HOUR });
      const live2 = await challenge(store, { createdAt: T0 + 5, expiresAt: T0 + 2 * HOUR });
      await challenge(store, { createdAt: T0 + 1, expiresAt: T0 + 10 });
      const paid = await challenge(store, { createdAt: T0 + 2, expiresAt: T0 + HOUR });
      await store.markSettled(paid.paymentHash, T0 + 3, 10);
      assert.deepEqual(
        (await store.listPendingUnexpired(T0 + 100)).map((r) => r.tokenId),
        [live1.tokenId, live2.tokenId],
      );
      assert.deepEqual(
        (await store.listPendingUnexpired(T0 + 100, 1)).map((r) => r.tokenId),
        [live1.tokenId],
      );
      assert.deepEqual(
        (await store.listPendingUnexpired(T0 + HOUR)).map((r) => r.tokenId),
        [live2.tokenId],
      );
    });

    it('pages through every pending row with a cursor, ties by token ID, while earlier rows get settled', async (store) => {
      // 7 rows, three of them created at the same instant, plus rows that must not show.
      const rows = [];
      for (const [i, createdAt] of [T0, T0 + 1, T0 + 1, T0 + 1, T0 + 2, T0 + 3, T0 + 4].entries()) {
        rows.push({ ...(await challenge(store, { createdAt, expiresAt: T0 + HOUR })), createdAt, i });
      }
      await challenge(store, { createdAt: T0 + 1, expiresAt: T0 + 10 });
      const settledEarly = await challenge(store, { createdAt: T0 + 1, expiresAt: T0 + HOUR });
      await store.markSettled(settledEarly.paymentHash, T0 + 2, 10);
      const expected = [...rows].sort((a, b) => a.createdAt - b.createdAt || (a.tokenId < b.tokenId ? -1 : 1)).map((r) => r.tokenId);
      const seen: string[] = [];
      let after: { createdAt: number; tokenId: string } | undefined;
      for (;;) {
        const page = await store.listPendingUnexpired(T0 + 100, 2, after);
        assert.ok(page.length <= 2);
        if (page.length === 0) break;
        for (const r of page) {
          seen.push(r.tokenId);
          // As the start-up reconciliation does: settle some rows of the page before asking for the next.
          if (seen.length % 2 === 1) await store.markSettled(r.paymentHash, T0 + 200, 10);
        }
        const last = page[page.length - 1] as { createdAt: number; tokenId: string };
        after = { createdAt: last.createdAt, tokenId: last.tokenId };
      }
      assert.deepEqual(seen, expected);
      assert.deepEqual(
        (await store.listPendingUnexpired(T0 + 100)).map((r) => r.tokenId),
        expected.filter((_, i) => i % 2 === 1),
      );
      await rejectsWith(store.listPendingUnexpired(T0, 0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listPendingUnexpired(T0, 10, { createdAt: Number.NaN, tokenId: 'x' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('revokes a token by id: root key gone, row marked, listeners told', async (store) => {
      const { tokenId, paymentHash, idHash } = await challenge(store);
      // The minter stores the key under sha256(identifier) before recording the challenge.
      await store.newSecret(idHash);
      await store.markSettled(paymentHash, T0 + 1, 10);
      const events: RevocationEvent[] = [];
      store.onRevoked((e) => events.push(e));
      assert.equal(await store.revokeToken(tokenId), true);
      assert.equal(await store.getSecret(idHash), undefined);
      assert.deepEqual(events, [{ idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: false }]);
      assert.equal(typeof (await store.getTransaction(tokenId))?.revokedAt, 'number');
      assert.equal(await store.revokeToken(tokenId), false, 'revoking twice revokes nothing');
      assert.equal(await store.revokeToken(hex()), false, 'unknown token');
    });

    it('revokeSecret on a recorded token marks the row and reports its token id', async (store) => {
      const { tokenId, idHash } = await challenge(store);
      await store.newSecret(idHash);
      const events: RevocationEvent[] = [];
      store.onRevoked((e) => events.push(e));
      assert.equal(await store.revokeSecret(idHash), true);
      assert.equal(events[0]?.tokenId, tokenId);
      assert.equal(typeof (await store.getTransaction(tokenId))?.revokedAt, 'number');
    });

    it('collects garbage of unpaid expired challenges and keeps settled tokens', async (store) => {
      const grace = 10 * 60_000;
      const unpaid = await challenge(store, { expiresAt: T0 + HOUR });
      const paid = await challenge(store, { expiresAt: T0 + HOUR });
      const inGrace = await challenge(store, { expiresAt: T0 + 2 * HOUR });
      const mpp = await challenge(store, { authType: 'mpp', tokenId: 'mpp-gc', expiresAt: T0 + HOUR });
      for (const r of [unpaid, paid, inGrace]) await store.newSecret(r.idHash);
      await store.markSettled(paid.paymentHash, T0 + 1, 10);
      const now = T0 + 2 * HOUR + grace - 1; // inGrace expired less than `grace` ago
      const report = await store.collectGarbage(now, grace);
      assert.deepEqual({ rootKeys: report.rootKeys, transactions: report.transactions }, { rootKeys: 1, transactions: 2 });
      assert.equal(await store.getSecret(unpaid.idHash), undefined);
      assert.equal(await store.getTransaction(unpaid.tokenId), undefined);
      assert.equal(await store.getTransaction(mpp.tokenId), undefined);
      assert.ok(await store.getSecret(paid.idHash), 'settled tokens keep their root key');
      assert.equal((await store.getTransaction(paid.tokenId))?.state, 'settled');
      assert.ok(await store.getSecret(inGrace.idHash), 'within grace: kept');
      const again = await store.collectGarbage(now, grace);
      assert.deepEqual({ rootKeys: again.rootKeys, transactions: again.transactions }, { rootKeys: 0, transactions: 0 });
    });

    itPair('one payment hash settles once across instances, one token id records once', async (pair) => {
      const { paymentHash } = await challenge(pair.a);
      const settled = await race(pair, 50, (s, i) => s.markSettled(paymentHash, T0 + i, 10));
      assert.equal(settled.filter(Boolean).length, 1);
      const tokenId = hex();
      const recorded = await race(pair, 20, (s) =>
        s.recordChallenge({
          tokenId,
          paymentHash: hex(),
          service: 's',
          priceSats: 1,
          authType: 'l402',
          createdAt: T0,
          expiresAt: T0 + HOUR,
        }),
      );
      assert.equal(recorded.filter(Boolean).length, 1);
      assert.equal((await pair.b.getTransaction(tokenId))?.tokenId, tokenId, 'b reads what a wrote');
    });

    itPair('a token revoked on one instance is revoked for the other and its listeners', async ({ a, b }) => {
      const { tokenId, paymentHash, idHash } = await challenge(a);
      await a.newSecret(idHash);
      await b.markSettled(paymentHash, T0 + 1, 10);
      const onB = new Promise<RevocationEvent>((resolve) => {
        const off = b.onRevoked((e) => {
          off();
          resolve(e);
        });
      });
      assert.equal(await a.revokeToken(tokenId), true);
      assert.deepEqual(await onB, { idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: harness.separateInstances });
      assert.equal(await b.getSecret(idHash), undefined);
      assert.equal(await b.revokeToken(tokenId), false);
    });
  });
}
