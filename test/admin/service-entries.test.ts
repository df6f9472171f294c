// How services from the configuration file and the registry make the running set
// (route order, overrides, tombstones, broken rows), merge patches, the reserved
// paths, and two API instances on one database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApi } from '../../src/admin/admin-api.js';
import { bakeAdminMacaroon } from '../../src/admin/admin-macaroon.js';
import { AdminStatusError } from '../../src/admin/admin-status.js';
import {
  canonicalEntry,
  effectiveServices,
  fieldOfIssue,
  mergePatch,
  newHeaderReference,
  reservedPathCaptured,
} from '../../src/admin/service-entries.js';
import type { ServiceRecord } from '../../src/store/service-registry.js';
import type { ApertureStore } from '../../src/store/aperture-store.js';
import { configServices, INFO, openTestStore, postgresSkipReason, RecordingBackend, type StoreKind } from './support.js';

const row = (name: string, config: unknown, createdAt: number): ServiceRecord => ({
  name,
  config,
  version: 1,
  createdAt,
  updatedAt: createdAt,
});

test('the running set: file order with overrides in place, tombstones remove, API services after by creation then name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-admin-entries-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fromFile = configServices(
    `services:
  - name: one
    address: 127.0.0.1:1
  - name: two
    address: 127.0.0.1:2
  - name: three
    address: 127.0.0.1:3
`,
    dir,
  );
  const result = effectiveServices(fromFile, [
    row('zeta', { name: 'zeta', address: '127.0.0.1:26' }, 100),
    row('alpha', { name: 'alpha', address: '127.0.0.1:27' }, 200),
    row('beta', { name: 'beta', address: '127.0.0.1:28' }, 100),
    row('two', { name: 'two', address: '127.0.0.1:22', price: 5 }, 300),
    row('three', { name: 'three', deleted: true }, 50),
    row('broken', { name: 'broken' }, 10),
    row('one', { name: 'one', address: '127.0.0.1:11', timeout: 'soon' }, 10),
  ]);
  assert.deepEqual(
    result.services.map((s) => `${s.config.name}:${s.source}`),
    ['one:config', 'two:api', 'beta:api', 'zeta:api', 'alpha:api'],
  );
  assert.equal(result.services[1]?.config.price, 5);
  assert.deepEqual(result.deleted, ['three']);
  assert.deepEqual(
    result.problems.map((p) => p.name).sort(),
    ['broken', 'one'],
    "rows that do not validate are reported; a broken override leaves the file's service running",
  );
  assert.equal(result.services[0]?.config.address, '127.0.0.1:1');
});

test('merge patch (RFC 7396) over canonical entries; fields of issues; header references; reserved paths', () => {
  const canonical = canonicalEntry({
    Name: 'a',
    HostRegexp: 'x',
    DynamicPrice: { Enabled: true },
    ratelimits: [{ Requests: 1 }],
    constraints: { Tier: 'Gold' },
  });
  assert.deepEqual(canonical, {
    ok: true,
    entry: { name: 'a', hostregexp: 'x', dynamicprice: { enabled: true }, ratelimits: [{ requests: 1 }], constraints: { Tier: 'Gold' } },
  });
  assert.deepEqual(canonicalEntry({ price: 1, Price: 2 }), { ok: false, duplicate: 'Price' });
  const before = {
    name: 'a',
    price: 1,
    headers: { 'X-Key': 'v', 'X-Other': 'w' },
    constraints: { a: '1' },
    dynamicprice: { enabled: true, grpcaddress: 'h:1' },
  };
  assert.deepEqual(
    mergePatch(before, { price: null, headers: { 'x-key': 'new' }, constraints: { A: '2' }, dynamicprice: { enabled: false } }),
    {
      name: 'a',
      headers: { 'X-Other': 'w', 'x-key': 'new' },
      constraints: { a: '1', A: '2' },
      dynamicprice: { enabled: false, grpcaddress: 'h:1' },
    },
    'header names without case, constraint keys with case',
  );
  assert.deepEqual(before.headers, { 'X-Key': 'v', 'X-Other': 'w' }, 'the input is not changed');
  assert.deepEqual(
    mergePatch({ ratelimits: [{ requests: 1 }] }, { ratelimits: [{ requests: 2 }] }),
    { ratelimits: [{ requests: 2 }] },
    'arrays are replaced',
  );

  assert.equal(fieldOfIssue('hostregexp'), 'host_regexp');
  assert.equal(fieldOfIssue('authscheme'), 'auth_scheme');
  assert.equal(fieldOfIssue('dynamicprice.grpcaddress'), 'config.dynamicprice.grpcaddress');
  assert.equal(fieldOfIssue('ratelimits[0].per'), 'config.ratelimits[0].per');
  assert.equal(fieldOfIssue('$'), 'config');

  assert.equal(newHeaderReference(undefined, { headers: { A: 'plain $HOME text' } }), undefined);
  assert.equal(newHeaderReference(undefined, { headers: { A: 'Bearer ${TOKEN}' } }), 'A');
  assert.equal(newHeaderReference({ headers: { a: '${TOKEN}' } }, { headers: { A: '${TOKEN}' } }), undefined, 'kept from the file');
  assert.equal(newHeaderReference({ headers: { A: '${TOKEN}' } }, { headers: { A: '${OTHER}' } }), 'A');

  for (const captures of [
    undefined,
    '',
    '.*',
    '^/api',
    'admin',
    '(?i)^/API/ADMIN',
    'GetInfo$',
    '^/_next/',
    '^/api/proxy/',
    '^/_dashboard/',
  ]) {
    assert.ok(reservedPathCaptured(captures) !== undefined, String(captures));
  }
  for (const free of ['^/v1/', '^/api/v1/', '^/api/adminx', '^/admin/']) assert.equal(reservedPathCaptured(free), undefined, free);
});

const pgSkip = await postgresSkipReason();

for (const kind of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`two API instances on one ${kind} database`, { skip: kind === 'postgres' ? pgSkip : undefined }, () => {
    let a: ApertureStore;
    let b: ApertureStore;
    let cleanup: () => Promise<void>;
    let sub: string;
    before(async () => {
      sub = mkdtempSync(join(tmpdir(), 'aperture-admin-instances-'));
      const opened = await openTestStore(kind, sub);
      a = opened.store;
      b = await (opened.reopen as () => Promise<ApertureStore>)();
      cleanup = opened.cleanup;
    });
    after(async () => {
      await b.close();
      await cleanup();
      rmSync(sub, { recursive: true, force: true });
    });

    test('one creation of a name wins; a change made through one is what the other lists and applies', async () => {
      const rootKey = new Uint8Array(32).fill(7);
      const mac = bakeAdminMacaroon(rootKey).toHex();
      const backendA = new RecordingBackend(a, [], sub, INFO);
      const backendB = new RecordingBackend(b, [], sub, INFO);
      const apiA = new AdminApi({ backend: backendA, rootKey });
      const apiB = new AdminApi({ backend: backendB, rootKey });
      const who = { macaroon: mac, clientAddress: '127.0.0.1' };
      const create = (api: AdminApi, address: string): Promise<unknown> =>
        api.call('CreateService', { name: 'race', address, path_regexp: '^/race' }, who);
      const results = await Promise.allSettled([
        create(apiA, '127.0.0.1:1'),
        create(apiB, '127.0.0.1:2'),
        create(apiA, '127.0.0.1:3'),
        create(apiB, '127.0.0.1:4'),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof AdminStatusError && r.reason.grpcCode === 6, String(r.reason));
      }
      await apiA.call('UpdateService', { name: 'race', price: 42, config: { headers: { 'X-Shared': 'yes' } } }, who);
      const seen = (await apiB.call('ListServices', {}, who))['services'] as Array<Record<string, unknown>>;
      assert.equal(seen[0]?.['price'], '42');
      assert.deepEqual((seen[0]?.['config'] as { headers: unknown }).headers, { 'X-Shared': 'yes' });
      // B's next change applies the whole set as the registry holds it, A's change included.
      await apiB.call('CreateService', { name: 'second', address: '127.0.0.1:5', path_regexp: '^/second' }, who);
      assert.deepEqual(backendB.lastApplied(), ['race', 'second']);
      assert.equal(backendB.applied.at(-1)?.[0]?.price, 42);
    });
  });
}
