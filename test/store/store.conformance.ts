// The ApertureStore conformance suite, run against every implementation by
// memory-store.test.ts, sqlite-store.test.ts and postgres-store.test.ts.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { ApertureStore, RevocationEvent } from '../../src/store/index.js';
import { L402Error } from '../../src/core/errors.js';

/** How a test file gives the suite a fresh, empty store. */
export interface ConformanceHarness {
  /** A fresh empty store, and how to get rid of it afterwards. */
  open(): Promise<{ store: ApertureStore; cleanup(): Promise<void> }>;
  /** Whether getSecret answers synchronously. */
  syncGetSecret: boolean;
  /** Reason to skip the whole suite (database unreachable), or undefined. */
  skip?: () => string | undefined;
}

export const hex = (n = 32): string => randomBytes(n).toString('hex');

/** sha256(0x0000 ‖ payment_hash ‖ token_id), computed independently of the store. */
export function idHashOf(paymentHash: string, tokenId: string): Uint8Array {
  const identifier = Buffer.concat([Buffer.from([0, 0]), Buffer.from(paymentHash, 'hex'), Buffer.from(tokenId, 'hex')]);
  return new Uint8Array(createHash('sha256').update(identifier).digest());
}

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof promise === 'function' ? promise() : promise),
    (e: unknown) => e instanceof L402Error && e.code === code,
  );
}

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

/**
 * Registers the suite.
 * @param name - implementation name for the describe block
 * @param harness - how to open stores
 */
export function storeConformance(name: string, harness: ConformanceHarness): void {
  describe(`ApertureStore conformance: ${name}`, () => {
    const opened: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of opened.splice(0)) await cleanup();
    });

    // Each test gets its own store; the skip reason is read when the test runs
    // (after the file's `before` hook probed the database).
    function it(title: string, body: (store: ApertureStore) => Promise<void>): void {
      test(title, async (t) => {
        const reason = harness.skip?.();
        if (reason !== undefined) {
          t.skip(reason);
          return;
        }
        const { store, cleanup } = await harness.open();
        opened.push(cleanup);
        await body(store);
      });
    }

    async function challenge(
      store: ApertureStore,
      over: Partial<{ tokenId: string; paymentHash: string; service: string; priceSats: number; authType: 'l402' | 'mpp'; createdAt: number; expiresAt: number }> = {},
    ): Promise<{ tokenId: string; paymentHash: string; idHash: Uint8Array }> {
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

    it('stores, returns and revokes root keys', async (store) => {
      const idHash = randomBytes(32);
      const key = await store.newSecret(idHash);
      assert.equal(key.length, 32);
      const got = store.getSecret(idHash);
      assert.equal(got instanceof Promise, !harness.syncGetSecret);
      assert.deepEqual(Buffer.from((await got)!), Buffer.from(key));
      assert.notDeepEqual(Buffer.from(await store.newSecret(randomBytes(32))), Buffer.from(key));
      assert.equal(await store.getSecret(randomBytes(32)), undefined);
      assert.equal(await store.revokeSecret(idHash), true);
      assert.equal(await store.getSecret(idHash), undefined);
      assert.equal(await store.revokeSecret(idHash), false);
    });

    it('rejects malformed input with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      await rejectsWith(store.newSecret(randomBytes(31)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(() => store.getSecret(new Uint8Array(33)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      const base = { tokenId: hex(), paymentHash: hex(), service: 's', priceSats: 1, authType: 'l402' as const, createdAt: T0, expiresAt: T0 + 1 };
      await rejectsWith(store.recordChallenge({ ...base, tokenId: 'XYZ' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, paymentHash: hex().toUpperCase() }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, priceSats: -1 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.recordChallenge({ ...base, authType: 'x' as 'l402' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ limit: 0 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ limit: 1001 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ offset: -1 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTransactions({ state: 'paid' as 'settled' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listTokens({ limit: 5000 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.consumeCharge('nothex'), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.createService('', {}), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.debitSession('x', -5, T0), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('records a challenge as pending and settles it once', async (store) => {
      const { tokenId, paymentHash } = await challenge(store, { priceSats: 21, service: 'quotes' });
      const again = await store.recordChallenge({ tokenId, paymentHash: hex(), service: 'x', priceSats: 1, authType: 'l402', createdAt: T0, expiresAt: T0 + 1 });
      assert.equal(again, false, 'a duplicate token id changes nothing');
      const pending = await store.getTransaction(tokenId, T0 + 1);
      assert.deepEqual(
        { ...pending, id: 0 },
        { id: 0, tokenId, paymentHash, service: 'quotes', priceSats: 21, authType: 'l402', state: 'pending', createdAt: T0, expiresAt: T0 + HOUR },
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
      const m = await challenge(store, { service: 'b', createdAt: T0 + 3000, expiresAt: T0 + 10 * HOUR, authType: 'mpp', tokenId: 'challenge-id_1' });
      await store.markSettled(b.paymentHash, T0 + 1500, 10);
      const now = T0 + 90 * 60_000; // a expired, c and m pending, b settled
      const ids = async (f: Parameters<ApertureStore['listTransactions']>[0]): Promise<string[]> =>
        (await store.listTransactions({ now, ...f })).items.map((r) => r.tokenId);
      assert.deepEqual(await ids({}), [m.tokenId, c.tokenId, b.tokenId, a.tokenId], 'newest first');
      assert.deepEqual(await ids({ service: 'a' }), [c.tokenId, a.tokenId]);
      assert.deepEqual(await ids({ state: 'settled' }), [b.tokenId]);
      assert.deepEqual(await ids({ state: 'expired' }), [a.tokenId]);
      assert.deepEqual(await ids({ state: 'pending' }), [m.tokenId, c.tokenId]);
      assert.deepEqual(await ids({ authType: 'mpp' }), [m.tokenId]);
      assert.deepEqual(await ids({ start: T0 + 1000, end: T0 + 3000 }), [c.tokenId, b.tokenId], 'start inclusive, end exclusive');
      const page = await store.listTransactions({ now, limit: 2, offset: 1 });
      assert.deepEqual(page.items.map((r) => r.tokenId), [c.tokenId, b.tokenId]);
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
      assert.deepEqual(tokens.items.map((r) => r.tokenId), [y.tokenId, x.tokenId]);
      assert.equal(tokens.total, 2);
      assert.deepEqual((await store.listTokens({ service: 'a' })).items.map((r) => r.tokenId), [x.tokenId]);
      assert.equal(await store.revokeToken(x.tokenId), true);
      assert.deepEqual((await store.listTokens()).items.map((r) => r.tokenId), [y.tokenId]);
      const all = await store.listTokens({ includeRevoked: true });
      assert.deepEqual(all.items.map((r) => r.tokenId), [y.tokenId, x.tokenId]);
      assert.equal(typeof all.items[1]?.revokedAt, 'number');
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
      assert.deepEqual((await store.listPendingUnexpired(T0 + 100)).map((r) => r.tokenId), [live1.tokenId, live2.tokenId]);
      assert.deepEqual((await store.listPendingUnexpired(T0 + 100, 1)).map((r) => r.tokenId), [live1.tokenId]);
      assert.deepEqual((await store.listPendingUnexpired(T0 + HOUR)).map((r) => r.tokenId), [live2.tokenId]);
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
      const expected = [...rows]
        .sort((a, b) => a.createdAt - b.createdAt || (a.tokenId < b.tokenId ? -1 : 1))
        .map((r) => r.tokenId);
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
      assert.deepEqual((await store.listPendingUnexpired(T0 + 100)).map((r) => r.tokenId), expected.filter((_, i) => i % 2 === 1));
      await rejectsWith(store.listPendingUnexpired(T0, 0), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.listPendingUnexpired(T0, 10, { createdAt: Number.NaN, tokenId: 'x' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('revokes a token by id: root key gone, row marked, listeners told', async (store) => {
      const { tokenId, paymentHash, idHash } = await challenge(store);
      // The minter stores the key under sha256(identifier) before recording the challenge.
      await store.newSecret(idHash);
      await store.markSettled(paymentHash, T0 + 1, 10);
      const events: RevocationEvent[] = [];
      const off = store.onRevoked((e) => events.push(e));
      const throwing = store.onRevoked(() => {
        throw new Error('a broken listener must not break revocation');
      });
      assert.equal(await store.revokeToken(tokenId), true);
      assert.equal(await store.getSecret(idHash), undefined);
      assert.deepEqual(events, [{ idHash: Buffer.from(idHash).toString('hex'), tokenId, remote: false }]);
      assert.equal(typeof (await store.getTransaction(tokenId))?.revokedAt, 'number');
      assert.equal(await store.revokeToken(tokenId), false, 'revoking twice revokes nothing');
      assert.equal(await store.revokeToken(hex()), false, 'unknown token');
      off();
      throwing();
      const other = await challenge(store);
      await store.newSecret(other.idHash);
      assert.equal(await store.revokeToken(other.tokenId), true);
      assert.equal(events.length, 1, 'a removed listener hears nothing');
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

    it('keeps services: create, read, update, delete', async (store) => {
      assert.deepEqual(await store.listServices(), []);
      assert.equal(await store.createService('b-svc', { price: 5, hosts: ['x'] }), true);
      assert.equal(await store.createService('a-svc', { price: 1 }), true);
      assert.equal(await store.createService('a-svc', { price: 2 }), false, 'name taken');
      assert.deepEqual((await store.listServices()).map((s) => [s.name, s.config]), [
        ['a-svc', { price: 1 }],
        ['b-svc', { price: 5, hosts: ['x'] }],
      ]);
      assert.equal(await store.updateService('a-svc', { price: 3, nested: { ok: true } }), true);
      assert.deepEqual((await store.getService('a-svc'))?.config, { price: 3, nested: { ok: true } });
      assert.equal(await store.updateService('nope', {}), false);
      assert.equal(await store.deleteService('a-svc'), true);
      assert.equal(await store.deleteService('a-svc'), false);
      assert.equal(await store.getService('a-svc'), undefined);
      const b = await store.getService('b-svc');
      assert.equal(typeof b?.createdAt, 'number');
      assert.ok(b !== undefined && b.updatedAt >= b.createdAt);
    });

    it('consumes an MPP charge exactly once, even under concurrency', async (store) => {
      const ph = hex();
      assert.equal(await store.consumeCharge(ph, { challengeId: 'abc', expiresAt: T0 + HOUR }), true);
      assert.equal(await store.consumeCharge(ph), false);
      const racing = hex();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeCharge(racing)));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('keeps MPP sessions and debits them atomically', async (store) => {
      const s = { id: 'sess-1', paymentHash: hex(), depositSats: 100, balanceSats: 100, returnInvoice: 'lnbc1...', state: 'open' as const, createdAt: T0, updatedAt: T0 };
      assert.equal(await store.createSession(s), true);
      assert.equal(await store.createSession({ ...s, depositSats: 1 }), false);
      assert.deepEqual(await store.getSession('sess-1'), s);
      assert.equal(await store.getSession('none'), undefined);
      const debited = await Promise.all(Array.from({ length: 15 }, () => store.debitSession('sess-1', 10, T0 + 1)));
      assert.equal(debited.filter((d) => d !== undefined).length, 10, 'no overdraft under concurrency');
      assert.equal((await store.getSession('sess-1'))?.balanceSats, 0);
      const topped = await store.updateSession('sess-1', { depositSats: 150, balanceSats: 50 }, T0 + 2);
      assert.deepEqual(topped, { ...s, depositSats: 150, balanceSats: 50, updatedAt: T0 + 2 });
      assert.equal(await store.updateSession('none', { state: 'closed' }, T0), undefined);
      await store.updateSession('sess-1', { state: 'closing' }, T0 + 3);
      assert.equal(await store.debitSession('sess-1', 1, T0 + 4), undefined, 'a closing session cannot be spent');
      assert.equal(await store.debitSession('none', 1, T0 + 4), undefined);
      assert.equal(await store.deleteSession('sess-1'), true);
      assert.equal(await store.deleteSession('sess-1'), false);
    });

    it('collects garbage of unpaid expired challenges and keeps settled tokens', async (store) => {
      const grace = 10 * 60_000;
      const unpaid = await challenge(store, { expiresAt: T0 + HOUR });
      const paid = await challenge(store, { expiresAt: T0 + HOUR });
      const inGrace = await challenge(store, { expiresAt: T0 + 2 * HOUR });
      const mpp = await challenge(store, { authType: 'mpp', tokenId: 'mpp-gc', expiresAt: T0 + HOUR });
      for (const r of [unpaid, paid, inGrace]) await store.newSecret(r.idHash);
      await store.markSettled(paid.paymentHash, T0 + 1, 10);
      const oldCharge = hex();
      const keptCharge = hex();
      await store.consumeCharge(oldCharge, { expiresAt: T0 + HOUR });
      await store.consumeCharge(keptCharge);
      const now = T0 + 2 * HOUR + grace - 1; // inGrace expired less than `grace` ago
      assert.deepEqual(await store.collectGarbage(now, grace), { rootKeys: 1, transactions: 2, charges: 1 });
      assert.equal(await store.getSecret(unpaid.idHash), undefined);
      assert.equal(await store.getTransaction(unpaid.tokenId), undefined);
      assert.equal(await store.getTransaction(mpp.tokenId), undefined);
      assert.ok(await store.getSecret(paid.idHash), 'settled tokens keep their root key');
      assert.equal((await store.getTransaction(paid.tokenId))?.state, 'settled');
      assert.ok(await store.getSecret(inGrace.idHash), 'within grace: kept');
      assert.equal(await store.consumeCharge(keptCharge), false, 'charges without expiry are kept');
      assert.equal(await store.consumeCharge(oldCharge), true, 'pruned charge row is gone');
      assert.deepEqual(await store.collectGarbage(now, grace), { rootKeys: 0, transactions: 0, charges: 0 });
    });

    it('reports health, and after close throws L402_ERR_STORE_UNAVAILABLE', async (store) => {
      assert.deepEqual(await store.health(), { ok: true, backend: store.backend });
      await store.close();
      assert.equal((await store.health()).ok, false);
      await rejectsWith(store.newSecret(randomBytes(32)), 'L402_ERR_STORE_UNAVAILABLE');
      await rejectsWith(async () => store.getSecret(randomBytes(32)), 'L402_ERR_STORE_UNAVAILABLE');
      await rejectsWith(store.listTransactions(), 'L402_ERR_STORE_UNAVAILABLE');
      await store.close(); // idempotent
    });
  });
}
