// Conformance of the secrets role (RootKeyStore): root keys and revocation events.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { RevocationEvent, RootKeyStore } from '../../../src/store/index.js';
import { bind, race, rejectsWith, type RoleHarness } from './harness.js';

function nextRevocation(store: RootKeyStore): Promise<RevocationEvent> {
  return new Promise((resolve) => {
    const off = store.onRevoked((e) => {
      off();
      resolve(e);
    });
  });
}

/**
 * Registers the RootKeyStore suite.
 * @param name - implementation name
 * @param harness - stores
 * @param syncGetSecret - whether getSecret answers synchronously
 */
export function rootKeyStoreConformance(name: string, harness: RoleHarness<RootKeyStore>, syncGetSecret: boolean): void {
  describe(`RootKeyStore conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    it('stores, returns and revokes root keys', async (store) => {
      const idHash = randomBytes(32);
      const key = await store.newSecret(idHash);
      assert.equal(key.length, 32);
      const got = store.getSecret(idHash);
      assert.equal(got instanceof Promise, !syncGetSecret);
      assert.deepEqual(Buffer.from((await got)!), Buffer.from(key));
      assert.notDeepEqual(Buffer.from(await store.newSecret(randomBytes(32))), Buffer.from(key));
      assert.equal(await store.getSecret(randomBytes(32)), undefined);
      assert.equal(await store.revokeSecret(idHash), true);
      assert.equal(await store.getSecret(idHash), undefined);
      assert.equal(await store.revokeSecret(idHash), false);
    });

    it('a second newSecret for one identifier replaces the key', async (store) => {
      const idHash = randomBytes(32);
      const first = await store.newSecret(idHash);
      const second = await store.newSecret(idHash);
      assert.notDeepEqual(Buffer.from(first), Buffer.from(second));
      assert.deepEqual(Buffer.from((await store.getSecret(idHash))!), Buffer.from(second));
    });

    it('newSecretIfAbsent creates a key once and returns the stored one afterwards', async (store) => {
      const idHash = randomBytes(32);
      const first = await store.newSecretIfAbsent(idHash);
      assert.equal(first.length, 32);
      assert.deepEqual(Buffer.from(await store.newSecretIfAbsent(idHash)), Buffer.from(first));
      assert.deepEqual(Buffer.from((await store.getSecret(idHash))!), Buffer.from(first));
      // A key made by newSecret is kept too.
      const other = randomBytes(32);
      const made = await store.newSecret(other);
      assert.deepEqual(Buffer.from(await store.newSecretIfAbsent(other)), Buffer.from(made));
      await rejectsWith(store.newSecretIfAbsent(randomBytes(31)), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('rejects a malformed identifier hash with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      await rejectsWith(store.newSecret(randomBytes(31)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(() => store.getSecret(new Uint8Array(33)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.revokeSecret(new Uint8Array(0)), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });

    it('tells listeners of a revocation; a throwing listener does not stop it, a removed one hears nothing', async (store) => {
      const idHash = randomBytes(32);
      await store.newSecret(idHash);
      const events: RevocationEvent[] = [];
      const off = store.onRevoked((e) => events.push(e));
      const offThrowing = store.onRevoked(() => {
        throw new Error('a broken listener must not break revocation');
      });
      assert.equal(await store.revokeSecret(idHash), true);
      assert.deepEqual(events, [{ idHash: idHash.toString('hex'), tokenId: undefined, remote: false }]);
      assert.equal(await store.revokeSecret(idHash), false);
      assert.equal(events.length, 1, 'nothing revoked, nothing told');
      off();
      offThrowing();
      const other = randomBytes(32);
      await store.newSecret(other);
      await store.revokeSecret(other);
      assert.equal(events.length, 1);
    });

    itPair("two instances share keys and hear each other's revocations", async ({ a, b }) => {
      const idHash = randomBytes(32);
      const key = await a.newSecret(idHash);
      assert.deepEqual(Buffer.from((await b.getSecret(idHash))!), Buffer.from(key), 'b reads what a wrote');
      const onB = nextRevocation(b);
      assert.equal(await a.revokeSecret(idHash), true);
      assert.deepEqual(await onB, { idHash: idHash.toString('hex'), tokenId: undefined, remote: harness.separateInstances });
      assert.equal(await b.getSecret(idHash), undefined);
      assert.equal(await b.revokeSecret(idHash), false);
    });

    itPair('newSecretIfAbsent from both instances at once: every caller gets the one key the database kept', async (pair) => {
      const idHash = randomBytes(32);
      const keys = await race(pair, 20, (s) => s.newSecretIfAbsent(idHash));
      const stored = Buffer.from((await pair.b.getSecret(idHash))!);
      for (const key of keys) assert.deepEqual(Buffer.from(key), stored);
      assert.deepEqual(Buffer.from((await pair.a.getSecret(idHash))!), stored);
    });

    itPair('a key revoked from both instances at once is revoked once', async (pair) => {
      const idHash = randomBytes(32);
      await pair.a.newSecret(idHash);
      const results = await race(pair, 20, (s) => s.revokeSecret(idHash));
      assert.equal(results.filter(Boolean).length, 1);
    });
  });
}
