// Conformance of the service-registry role: definitions and the registry version.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceRegistry } from '../../../src/store/index.js';
import { bind, race, rejectsWith, type RoleHarness } from './harness.js';

/**
 * Registers the ServiceRegistry suite.
 * @param name - implementation name
 * @param harness - stores
 */
export function serviceRegistryConformance(name: string, harness: RoleHarness<ServiceRegistry>): void {
  describe(`ServiceRegistry conformance: ${name}`, () => {
    const { it, itPair } = bind(harness);

    it('keeps services: create, read, update, delete', async (store) => {
      assert.deepEqual(await store.listServices(), []);
      assert.equal(await store.createService('b-svc', { price: 5, hosts: ['x'] }), true);
      assert.equal(await store.createService('a-svc', { price: 1 }), true);
      assert.equal(await store.createService('a-svc', { price: 2 }), false, 'name taken');
      assert.deepEqual(
        (await store.listServices()).map((s) => [s.name, s.config]),
        [
          ['a-svc', { price: 1 }],
          ['b-svc', { price: 5, hosts: ['x'] }],
        ],
      );
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

    it('sorts names by code unit, whatever the database collation', async (store) => {
      for (const n of ['b', 'B', 'a', '_x', 'Z1']) await store.createService(n, {});
      assert.deepEqual(
        (await store.listServices()).map((s) => s.name),
        ['B', 'Z1', '_x', 'a', 'b'],
      );
    });

    it('moves the registry version with every change and only then', async (store) => {
      assert.equal(await store.servicesVersion(), 0);
      await store.createService('one', { v: 1 });
      assert.equal(await store.servicesVersion(), 1);
      assert.equal((await store.getService('one'))?.version, 1);
      await store.createService('two', {});
      await store.updateService('one', { v: 2 });
      assert.equal(await store.servicesVersion(), 3);
      assert.equal((await store.getService('one'))?.version, 3, 'a record carries the version of its last change');
      assert.equal((await store.getService('two'))?.version, 2);
      assert.equal(await store.createService('one', {}), false);
      assert.equal(await store.updateService('missing', {}), false);
      assert.equal(await store.deleteService('missing'), false);
      assert.equal(await store.servicesVersion(), 3, 'refused changes leave the version alone');
      await store.deleteService('two');
      assert.equal(await store.servicesVersion(), 4, 'a delete moves it too');
    });

    it('rejects a bad name or a config that is not JSON with L402_ERR_STORE_INVALID_ARGUMENT', async (store) => {
      await rejectsWith(store.createService('', {}), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.createService('x'.repeat(201), {}), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.createService('big', 10n), 'L402_ERR_STORE_INVALID_ARGUMENT');
      await rejectsWith(store.createService('nothing', undefined), 'L402_ERR_STORE_INVALID_ARGUMENT');
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      await rejectsWith(store.updateService('cyclic', cyclic), 'L402_ERR_STORE_INVALID_ARGUMENT');
      assert.equal(await store.servicesVersion(), 0);
    });

    itPair('another instance sees changes and the version they made', async ({ a, b }) => {
      const before = await b.servicesVersion();
      await a.createService('shared', { price: 1 });
      assert.equal(await b.servicesVersion(), before + 1);
      assert.deepEqual((await b.getService('shared'))?.config, { price: 1 });
      await b.updateService('shared', { price: 2 });
      assert.deepEqual(
        (await a.listServices()).map((s) => s.config),
        [{ price: 2 }],
      );
      assert.equal(await a.servicesVersion(), before + 2);
    });

    itPair('concurrent changes from two instances get distinct versions, none lost', async (pair) => {
      await pair.a.createService('hot', { n: -1 });
      const start = await pair.a.servicesVersion();
      const updated = await race(pair, 20, (s, i) => s.updateService('hot', { n: i }));
      assert.ok(updated.every(Boolean));
      assert.equal(await pair.b.servicesVersion(), start + 20);
      const created = await race(pair, 20, (s) => s.createService('once', {}));
      assert.equal(created.filter(Boolean).length, 1, 'one name, one creation');
      assert.equal(await pair.a.servicesVersion(), start + 21);
      const hot = await pair.b.getService('hot');
      assert.ok(hot !== undefined && hot.version > start && hot.version <= start + 20);
    });
  });
}
