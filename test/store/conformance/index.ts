// Every role's conformance suite plus the lifecycle, for a store that
// implements them all (ApertureStore). Test files of each backend call
// storeConformance with a harness opening that backend.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ApertureStore } from '../../../src/store/index.js';
import { chargeStoreConformance } from './charge-store.js';
import { bind, hex, T0, HOUR, type RoleHarness } from './harness.js';
import { ledgerConformance } from './ledger.js';
import { lncSessionStoreConformance } from './lnc-session-store.js';
import { rootKeyStoreConformance } from './root-key-store.js';
import { serviceRegistryConformance } from './service-registry.js';
import { sessionStoreConformance } from './session-store.js';

export { hex, idHashOf, T0, HOUR } from './harness.js';
export type { RoleHarness } from './harness.js';

/** A harness for a whole store. */
export interface StoreHarness extends RoleHarness<ApertureStore> {
  /** Whether getSecret answers synchronously. */
  syncGetSecret: boolean;
  /** Whether the store keeps LNC sessions (not the memory store). */
  lncSessions: boolean;
}

/**
 * Registers every role suite and the lifecycle suite.
 * @param name - implementation name
 * @param harness - stores
 */
export function storeConformance(name: string, harness: StoreHarness): void {
  rootKeyStoreConformance(name, harness, harness.syncGetSecret);
  ledgerConformance(name, harness);
  serviceRegistryConformance(name, harness);
  chargeStoreConformance(name, harness);
  sessionStoreConformance(name, harness);
  lncSessionStoreConformance(name, harness, harness.lncSessions);

  describe(`ApertureStore lifecycle: ${name}`, () => {
    const { it } = bind(harness);

    it('collectGarbage covers the ledger and expired charges in one call', async (store) => {
      const tokenId = hex();
      const paymentHash = hex();
      await store.recordChallenge({
        tokenId,
        paymentHash,
        service: 's',
        priceSats: 1,
        authType: 'l402',
        createdAt: T0,
        expiresAt: T0 + HOUR,
      });
      const old = hex();
      const kept = hex();
      await store.consumeCharge(old, { expiresAt: T0 + HOUR });
      await store.consumeCharge(kept);
      assert.deepEqual(await store.collectGarbage(T0 + 2 * HOUR, 0), { rootKeys: 0, transactions: 1, charges: 1 });
      assert.equal(await store.getCharge(old), undefined);
      assert.ok(await store.getCharge(kept));
    });

    it('reports health, and after close throws L402_ERR_STORE_UNAVAILABLE', async (store) => {
      assert.deepEqual(await store.health(), { ok: true, backend: store.backend });
      await store.close();
      assert.equal((await store.health()).ok, false);
      const unavailable = (e: unknown): boolean => (e as { code?: unknown }).code === 'L402_ERR_STORE_UNAVAILABLE';
      await assert.rejects(store.newSecret(randomBytes(32)), unavailable);
      await assert.rejects(async () => store.getSecret(randomBytes(32)), unavailable);
      await assert.rejects(store.listTransactions(), unavailable);
      await assert.rejects(store.consumeCharge(hex()), unavailable);
      await assert.rejects(store.debitSession('x', 1), unavailable);
      await assert.rejects(store.servicesVersion(), unavailable);
      await store.close(); // idempotent
    });
  });
}
