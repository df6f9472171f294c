// Conformance of the LNC session role (LncSessionStore): a session stored at
// pairing, found by its entropy after a restart, the node's key and the expiry
// recorded later; a second session with the same phrase left alone; bad keys
// refused. The memory store has no such role (a restart would strand the
// pairing): lncSessionStoreOf answers undefined for it.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ApertureStore } from '../../../src/store/index.js';
import { lncSessionStoreOf, type LncSessionRecord } from '../../../src/store/lnc-session-store.js';
import { bind, rejectsWith, T0, HOUR, type RoleHarness } from './harness.js';

function session(overrides: Partial<LncSessionRecord> = {}): LncSessionRecord {
  return {
    passphraseWords: `words ${randomBytes(8).toString('hex')}`,
    passphraseEntropy: randomBytes(14),
    remoteStaticPubKey: undefined,
    localStaticPrivKey: randomBytes(32),
    mailboxAddr: 'mailbox.terminal.lightning.today:443',
    createdAt: T0,
    expiry: undefined,
    devServer: false,
    ...overrides,
  };
}

const plain = (r: LncSessionRecord | undefined): unknown =>
  r === undefined
    ? undefined
    : {
        ...r,
        passphraseEntropy: Buffer.from(r.passphraseEntropy),
        localStaticPrivKey: Buffer.from(r.localStaticPrivKey),
        remoteStaticPubKey: r.remoteStaticPubKey === undefined ? undefined : Buffer.from(r.remoteStaticPubKey),
      };

/**
 * Registers the LncSessionStore suite.
 * @param name - implementation name
 * @param harness - stores
 * @param supported - whether the store has the role (not the memory store)
 */
export function lncSessionStoreConformance(name: string, harness: RoleHarness<ApertureStore>, supported: boolean): void {
  describe(`LncSessionStore conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    if (!supported) {
      it('has no LNC session role', async (store) => {
        assert.equal(lncSessionStoreOf(store), undefined);
      });
      return;
    }

    it('stores a session, finds it by entropy, records the node key and the expiry', async (store) => {
      const lnc = lncSessionStoreOf(store);
      assert.ok(lnc);
      const s = session({ devServer: true });
      assert.equal(await lnc.getLncSession(s.passphraseEntropy), undefined);
      assert.equal(await lnc.addLncSession(s), true);
      assert.deepEqual(plain(await lnc.getLncSession(s.passphraseEntropy)), plain(s));
      const key = Buffer.concat([Buffer.from([2]), randomBytes(32)]);
      assert.equal(await lnc.setLncRemoteKey(s.passphraseEntropy, key), true);
      assert.equal(await lnc.setLncExpiry(s.passphraseEntropy, T0 + HOUR), true);
      assert.deepEqual(plain(await lnc.getLncSession(s.passphraseEntropy)), plain({ ...s, remoteStaticPubKey: key, expiry: T0 + HOUR }));
      assert.equal(await lnc.setLncRemoteKey(randomBytes(14), key), false);
      assert.equal(await lnc.setLncExpiry(randomBytes(14), T0), false);
    });

    it('a second session with the same phrase or entropy is refused and the first left alone', async (store) => {
      const lnc = lncSessionStoreOf(store)!;
      const s = session();
      assert.equal(await lnc.addLncSession(s), true);
      assert.equal(await lnc.addLncSession({ ...s, localStaticPrivKey: randomBytes(32) }), false);
      assert.equal(await lnc.addLncSession(session({ passphraseWords: s.passphraseWords })), false);
      assert.deepEqual(plain(await lnc.getLncSession(s.passphraseEntropy)), plain(s));
    });

    itPair('a session stored by one instance is found by another (a restart finds its pairing)', async ({ a, b }) => {
      const s = session({ remoteStaticPubKey: Buffer.concat([Buffer.from([3]), randomBytes(32)]) });
      assert.equal(await lncSessionStoreOf(a)!.addLncSession(s), true);
      assert.deepEqual(plain(await lncSessionStoreOf(b)!.getLncSession(s.passphraseEntropy)), plain(s));
    });

    it('refuses keys and entropy of the wrong length with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      const lnc = lncSessionStoreOf(store)!;
      await rejectsWith(lnc.getLncSession(randomBytes(13)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(lnc.addLncSession(session({ localStaticPrivKey: randomBytes(31) })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(lnc.addLncSession(session({ remoteStaticPubKey: randomBytes(32) })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(lnc.addLncSession(session({ mailboxAddr: '' })), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(lnc.setLncRemoteKey(randomBytes(14), randomBytes(33).subarray(0, 20)), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(lnc.setLncExpiry(randomBytes(14), 1.5), 'L402_ERR_STORE_INVALID_ARGUMENT');
    });
  });
}
