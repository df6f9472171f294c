// MemoryStore against the conformance suite, and the factory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, openStore } from '../../src/store/index.js';
import { L402Error } from '../../src/core/errors.js';
import { storeConformance } from './conformance/index.js';

storeConformance('MemoryStore', {
  lncSessions: false,
  syncGetSecret: true,
  separateInstances: false,
  async open() {
    const store = new MemoryStore();
    return { store, cleanup: () => store.close() };
  },
  // A memory store is one instance: "two instances" is the same one twice.
  async openPair() {
    const store = new MemoryStore();
    return { a: store, b: store, cleanup: () => store.close() };
  },
});

test('openStore picks the implementation by backend', async () => {
  const store = await openStore({ backend: 'memory' });
  assert.ok(store instanceof MemoryStore);
  assert.equal(store.backend, 'memory');
  await store.close();
  await assert.rejects(
    openStore({ backend: 'etcd' } as unknown as Parameters<typeof openStore>[0]),
    (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_STORE_INVALID_ARGUMENT',
  );
});
