// Conformance of the charge role: consume once, release on backend failure, prune.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ChargeStore } from '../../../src/store/index.js';
import { HOUR, T0, bind, hex, race, rejectsWith, type RoleHarness } from './harness.js';

/**
 * Registers the ChargeStore suite.
 * @param name - implementation name
 * @param harness - stores
 */
export function chargeStoreConformance(name: string, harness: RoleHarness<ChargeStore>): void {
  describe(`ChargeStore conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    it('consumes a payment hash once and records the details', async (store) => {
      const ph = hex();
      const claim = await store.consumeCharge(ph, { challengeId: 'abc', expiresAt: T0 + HOUR, consumedAt: T0 });
      assert.ok(claim !== undefined);
      assert.equal(claim.paymentHash, ph);
      assert.equal(claim.consumedAt, T0);
      assert.equal(typeof claim.claimId, 'string');
      assert.equal(await store.consumeCharge(ph), undefined, 'a replay gets nothing');
      assert.deepEqual(await store.getCharge(ph), { paymentHash: ph, challengeId: 'abc', expiresAt: T0 + HOUR, consumedAt: T0 });
      assert.equal(await store.getCharge(hex()), undefined);
      const bare = hex();
      const bareClaim = await store.consumeCharge(bare);
      assert.ok(bareClaim !== undefined);
      const record = await store.getCharge(bare);
      assert.deepEqual(record, { paymentHash: bare, consumedAt: bareClaim.consumedAt });
    });

    it('a released charge can be consumed again; a stale or repeated release changes nothing', async (store) => {
      const ph = hex();
      const first = await store.consumeCharge(ph, { expiresAt: T0 + HOUR });
      assert.ok(first !== undefined);
      assert.equal(await store.releaseCharge(first), true, 'the backend failed: give the payment back');
      assert.equal(await store.getCharge(ph), undefined);
      assert.equal(await store.releaseCharge(first), false, 'released once');
      const second = await store.consumeCharge(ph, { expiresAt: T0 + HOUR });
      assert.ok(second !== undefined, 'the client retries with the same payment');
      assert.notEqual(second.claimId, first.claimId);
      assert.equal(await store.releaseCharge(first), false, 'a late release of the first request does not undo the second');
      assert.equal(await store.consumeCharge(ph), undefined, 'still consumed');
      assert.equal(await store.releaseCharge({ ...second, claimId: 'forged' }), false);
      assert.equal(await store.releaseCharge({ ...second, paymentHash: hex() }), false);
      assert.equal(await store.releaseCharge(second), true);
    });

    it('prunes charges whose challenge expired, keeps the rest', async (store) => {
      const old = hex();
      const live = hex();
      const forever = hex();
      await store.consumeCharge(old, { expiresAt: T0 });
      await store.consumeCharge(live, { expiresAt: T0 + HOUR });
      await store.consumeCharge(forever);
      assert.equal(await store.pruneCharges(T0), 0, 'expired before, not at');
      assert.equal(await store.pruneCharges(T0 + 1), 1);
      assert.equal(await store.getCharge(old), undefined);
      assert.ok(await store.consumeCharge(old), 'a pruned hash is free again (its challenge is refused anyway)');
      assert.equal(await store.consumeCharge(live), undefined);
      assert.equal(await store.pruneCharges(T0 + 100 * HOUR), 1, 'the live one, expired by then');
      assert.equal(await store.consumeCharge(forever), undefined, 'charges without expiry are kept');
      assert.equal(await store.consumeCharge(old), undefined, 'the re-consumed one, recorded without expiry, too');
    });

    it('rejects malformed input with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      await rejectsWith(store.consumeCharge('nothex'), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.consumeCharge(hex().toUpperCase()), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.consumeCharge(hex(), { expiresAt: 1.5 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.consumeCharge(hex(), { challengeId: '' }), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.releaseCharge({ paymentHash: 'x', claimId: 'y', consumedAt: T0 }), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    itPair('the same charge consumed 50 times at once from two instances: exactly one succeeds', async (pair) => {
      const ph = hex();
      const claims = await race(pair, 50, (s) => s.consumeCharge(ph, { expiresAt: T0 + HOUR }));
      const won = claims.filter((c) => c !== undefined);
      assert.equal(won.length, 1);
      // Released on one instance, the payment buys exactly one more request on either.
      assert.equal(await pair.b.releaseCharge(won[0]!), true);
      const again = await race(pair, 50, (s) => s.consumeCharge(ph, { expiresAt: T0 + HOUR }));
      assert.equal(again.filter((c) => c !== undefined).length, 1);
    });

    itPair('releases racing on two instances release once', async (pair) => {
      const claim = await pair.a.consumeCharge(hex());
      assert.ok(claim !== undefined);
      const released = await race(pair, 20, (s) => s.releaseCharge(claim));
      assert.equal(released.filter(Boolean).length, 1);
    });
  });
}
