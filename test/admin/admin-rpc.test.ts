// Every RPC of adminrpc.Admin over gRPC (a grpc-js client generated from the proto
// text) and REST (HTTP/1.1 and HTTP/2), on the memory, SQLite and PostgreSQL
// stores, against a backend built from the real store that records the services
// it is told to apply.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectiveServices } from '../../src/admin/service-entries.js';
import type { ApertureStore } from '../../src/store/aperture-store.js';
import {
  fromStruct,
  grpcClient,
  hex32,
  idHashOf,
  postgresSkipReason,
  rest1,
  rest2,
  startAdminServer,
  TestClock,
  toStruct,
  type AdminGrpcClient,
  type AdminServer,
  type StoreKind,
} from './support.js';

const pgSkip = await postgresSkipReason();

const CONFIG_YAML = `services:
  - name: cfg-one
    address: 127.0.0.1:9001
    pathregexp: ^/one
    price: 10
    headers:
      X-Key: \${UPSTREAM_KEY}
  - name: cfg-two
    address: 127.0.0.1:9002
    pathregexp: ^/two
    auth: freebie 3
`;

/** A whole second, so that RFC 3339 (to the second) round-trips. */
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const iso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

interface GrpcError {
  code: number;
  details: string;
}
const grpcFails = async (promise: Promise<unknown>, code: number, pattern?: RegExp): Promise<GrpcError> => {
  try {
    await promise;
  } catch (error) {
    const e = error as GrpcError;
    assert.equal(e.code, code, `expected gRPC code ${code}, got ${e.code}: ${e.details}`);
    if (pattern !== undefined) assert.match(e.details, pattern);
    return e;
  }
  assert.fail(`expected gRPC code ${code}, the call succeeded`);
};

for (const kind of ['memory', 'sqlite', 'postgres'] as StoreKind[]) {
  describe(`admin API on the ${kind} store`, { skip: kind === 'postgres' ? pgSkip : undefined }, () => {
    let s: AdminServer;
    let g: AdminGrpcClient;
    const clock = new TestClock(T0 + 10 * 60_000);
    const mac = (): string => s.macaroonHex;

    before(async () => {
      s = await startAdminServer({ kind, servicesYaml: CONFIG_YAML, clock });
      g = grpcClient(s);
    });
    after(async () => {
      g.close();
      await s.close();
    });

    test('GetHealth needs no macaroon; an unhealthy program answers UNAVAILABLE / 503', async () => {
      assert.deepEqual(await g.call('GetHealth', {}), { status: 'ok' });
      const r1 = await rest1(s, '/api/admin/health');
      assert.equal(r1.status, 200);
      assert.deepEqual(r1.json, { status: 'ok' });
      assert.deepEqual((await rest2(s, '/api/admin/health')).json, { status: 'ok' });
      s.backend.healthy = false;
      try {
        await grpcFails(g.call('GetHealth', {}), 14, /unhealthy/);
        const down = await rest1(s, '/api/admin/health');
        assert.equal(down.status, 503);
        assert.deepEqual(down.json, { code: 14, message: 'unhealthy', details: [] });
      } finally {
        s.backend.healthy = true;
      }
    });

    test('GetInfo: every field, over gRPC and REST', async () => {
      const expected = {
        network: 'regtest',
        listen_addr: '127.0.0.1:8081',
        insecure: true,
        mpp_enabled: false,
        sessions_enabled: false,
        mpp_realm: '',
      };
      assert.deepEqual(await g.call('GetInfo', {}, mac()), expected);
      const r = await rest1(s, '/api/admin/info', { macaroon: mac() });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.deepEqual(r.json, expected, 'unpopulated fields are present');
      assert.deepEqual((await rest2(s, '/api/admin/info', { macaroon: mac() })).json, expected);
    });

    test("ListServices: the configuration file's services with their whole entries", async () => {
      const grpcList = (await g.call('ListServices', {}, mac()))['services'] as Array<Record<string, unknown>>;
      assert.deepEqual(
        grpcList.map((x) => x['name']),
        ['cfg-one', 'cfg-two'],
      );
      const two = grpcList[1] as Record<string, unknown>;
      assert.equal(two['auth'], 'freebie 3');
      assert.equal(two['price'], '1', 'a price left out is the default of 1 sat');
      assert.equal(two['source'], 'config');
      assert.deepEqual(
        fromStruct(grpcList[0]?.['config']),
        {
          name: 'cfg-one',
          address: '127.0.0.1:9001',
          pathregexp: '^/one',
          price: 10,
          headers: { 'X-Key': '${UPSTREAM_KEY}' },
        },
        'header values as written: the environment reference, not its value',
      );
      const r = await rest1(s, '/api/admin/services', { macaroon: mac() });
      assert.equal(r.status, 200);
      assert.deepEqual((r.json as { services: unknown[] }).services[1], {
        name: 'cfg-two',
        address: '127.0.0.1:9002',
        protocol: 'http',
        host_regexp: '',
        path_regexp: '^/two',
        price: '1',
        auth: 'freebie 3',
        auth_scheme: 'AUTH_SCHEME_L402',
        config: { name: 'cfg-two', address: '127.0.0.1:9002', pathregexp: '^/two', auth: 'freebie 3' },
        source: 'config',
      });
    });

    test('CreateService keeps every field of a service entry, persisted and applied (gRPC)', async () => {
      const caPath = join(s.dir, 'backend-ca.pem');
      writeFileSync(caPath, 'placeholder');
      const extra = {
        headers: { 'X-Api': 'secret-1' },
        ratelimits: [{ pathregexp: '^/full/limited', requests: 5, per: '1s', burst: 10 }],
        timeout: 3600,
        capabilities: 'read,write',
        constraints: { tier: 'gold' },
        dynamicprice: { enabled: false, grpcaddress: '127.0.0.1:9999', insecure: true },
        authwhitelistpaths: ['^/full/free'],
        authskipinvoicecreationpaths: ['^/full/skip'],
        rewrite: { prefix: '/v1' },
        tlscertpath: caPath,
        freebiewindow: '1h',
        upstreamtimeout: '5s',
      };
      const created = await g.call(
        'CreateService',
        {
          name: 'full',
          address: 'backend.example:8443',
          protocol: 'https',
          host_regexp: '^api\\.example\\.com$',
          path_regexp: '^/full',
          price: 21,
          auth: 'freebie 2',
          auth_scheme: 'AUTH_SCHEME_L402_MPP',
          config: toStruct(extra),
        },
        mac(),
      );
      assert.equal(created['name'], 'full');
      assert.equal(created['price'], '21');
      assert.equal(created['auth_scheme'], 'AUTH_SCHEME_L402_MPP');
      assert.equal(created['source'], 'api');
      const entry = {
        name: 'full',
        ...extra,
        address: 'backend.example:8443',
        protocol: 'https',
        hostregexp: '^api\\.example\\.com$',
        pathregexp: '^/full',
        price: 21,
        auth: 'freebie 2',
        authscheme: 'l402+mpp',
      };
      assert.deepEqual(fromStruct(created['config']), entry);
      assert.deepEqual((await s.store.getService('full'))?.config, entry, 'the registry row holds the whole entry');
      assert.deepEqual(s.backend.lastApplied(), ['cfg-one', 'cfg-two', 'full'], "applied at once, after the configuration file's services");
      const applied = s.backend.applied.at(-1)?.find((x) => x.name === 'full');
      assert.ok(applied !== undefined);
      assert.equal(applied.rateLimits[0]?.requests, 5);
      assert.equal(applied.rateLimits[0]?.burst, 10);
      assert.equal(applied.rateLimits[0]?.pathRegexp?.source, '^/full/limited');
      assert.deepEqual(applied.headers, { 'X-Api': 'secret-1' });
      assert.equal(applied.timeoutSeconds, 3600);
      assert.deepEqual(applied.capabilities, ['read', 'write']);
      assert.deepEqual(applied.constraints, { tier: 'gold' });
      assert.equal(applied.dynamicPrice.grpcAddress, '127.0.0.1:9999');
      assert.equal(applied.authWhitelistPaths[0]?.source, '^/full/free');
      assert.equal(applied.authSkipInvoiceCreationPaths[0]?.source, '^/full/skip');
      assert.equal(applied.rewritePrefix, '/v1');
      assert.equal(applied.tlsCertPath, caPath);
      assert.equal(applied.freebieWindowMs, 3_600_000);
      assert.equal(applied.upstreamTimeoutMs, 5000);
      assert.deepEqual(applied.auth, { mode: 'freebie', count: 2 });
      assert.equal(applied.authScheme, 'l402+mpp');
      assert.equal(applied.hostRegexp.source, '^api\\.example\\.com$');
    });

    test('CreateService over REST, HTTP/1.1 and HTTP/2 (proto and lowerCamelCase names, int64 as string or number)', async () => {
      const one = await rest1(s, '/api/admin/services', {
        method: 'POST',
        macaroon: mac(),
        body: { name: 'rest-one', address: '127.0.0.1:9101', path_regexp: '^/rest-one', price: '3', config: { timeout: 60 } },
      });
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(one.json, {
        name: 'rest-one',
        address: '127.0.0.1:9101',
        protocol: 'http',
        host_regexp: '.*',
        path_regexp: '^/rest-one',
        price: '3',
        auth: 'on',
        auth_scheme: 'AUTH_SCHEME_L402',
        source: 'api',
        config: {
          name: 'rest-one',
          timeout: 60,
          address: '127.0.0.1:9101',
          protocol: 'http',
          hostregexp: '.*',
          pathregexp: '^/rest-one',
          price: 3,
        },
      });
      const two = await rest2(s, '/api/admin/services', {
        method: 'POST',
        macaroon: mac(),
        body: { name: 'rest-two', address: '127.0.0.1:9102', pathRegexp: '^/rest-two', price: 4, authScheme: 'AUTH_SCHEME_L402' },
      });
      assert.equal(two.status, 200, two.text);
      assert.equal((two.json as Record<string, unknown>)['path_regexp'], '^/rest-two');
      assert.deepEqual(s.backend.lastApplied(), ['cfg-one', 'cfg-two', 'full', 'rest-one', 'rest-two']);
    });

    test('CreateService refuses bad input with INVALID_ARGUMENT naming the field, and changes nothing', async () => {
      const version = await s.store.servicesVersion();
      const base = { name: 'bad', address: '127.0.0.1:9200', path_regexp: '^/bad' };
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{}, /^name is required$/],
        [{ name: 'bad' }, /^address is required$/],
        [{ ...base, protocol: 'ftp' }, /^protocol: /],
        [{ ...base, host_regexp: '(' }, /^host_regexp: /],
        [{ ...base, path_regexp: '^/api/' }, /^path_regexp must not match reserved paths .*would capture \/api\/admin\/$/],
        [{ name: 'bad', address: '127.0.0.1:9200' }, /path_regexp must not match reserved paths/],
        [{ ...base, path_regexp: '^/adminrpc' }, /would capture \/adminrpc\.Admin\/$/],
        [{ ...base, path_regexp: 'services' }, /would capture \/api\/admin\/services$/],
        [{ ...base, price: -1 }, /^price: /],
        [{ ...base, auth: 'sometimes' }, /^auth: /],
        [{ ...base, name: 'a b' }, /^name: /],
        [{ ...base, config: toStruct({ tmeout: 5 }) }, /^config\.tmeout: unknown key/],
        [
          { ...base, config: toStruct({ headers: { 'X-Leak': '${HOME}' } }) },
          /^config\.headers\.X-Leak: .*references are read only from aperture\.yaml/,
        ],
        [{ ...base, config: toStruct({ headers: { 'X-Leak': '!file+hex:/etc/hostname' } }) }, /^config\.headers\.X-Leak: /],
        [{ ...base, config: toStruct({ ratelimits: [{ requests: 0, per: '1s' }] }) }, /^config\.ratelimits\[0\]\.requests: /],
        [{ ...base, price: 6, config: toStruct({ price: 5 }) }, /^config\.price conflicts with price/],
      ];
      for (const [request, pattern] of cases) await grpcFails(g.call('CreateService', request, mac()), 3, pattern);
      const r = await rest1(s, '/api/admin/services', { method: 'POST', macaroon: mac(), body: { ...base, host_regexp: '(' } });
      assert.equal(r.status, 400);
      assert.equal((r.json as { code: number }).code, 3);
      assert.match((r.json as { message: string }).message, /^host_regexp: /);
      assert.equal(await s.store.servicesVersion(), version, 'nothing was written');
      assert.equal(await s.store.getService('bad'), undefined);
    });

    test('CreateService of a name that exists is ALREADY_EXISTS / 409', async () => {
      await grpcFails(
        g.call('CreateService', { name: 'cfg-one', address: '127.0.0.1:1', path_regexp: '^/x' }, mac()),
        6,
        /service already exists/,
      );
      await grpcFails(g.call('CreateService', { name: 'full', address: '127.0.0.1:1', path_regexp: '^/x' }, mac()), 6);
      const r = await rest1(s, '/api/admin/services', {
        method: 'POST',
        macaroon: mac(),
        body: { name: 'rest-one', address: '127.0.0.1:1', path_regexp: '^/x' },
      });
      assert.equal(r.status, 409);
      assert.deepEqual(r.json, { code: 6, message: 'service already exists', details: [] });
    });

    test('UpdateService changes only what is present; optional price and auth_scheme are honoured', async () => {
      await g.call(
        'CreateService',
        {
          name: 'upd',
          address: '127.0.0.1:9300',
          path_regexp: '^/upd',
          price: 5,
          auth_scheme: 'AUTH_SCHEME_L402_MPP',
          config: toStruct({ headers: { 'X-A': '1' } }),
        },
        mac(),
      );
      let u = await g.call('UpdateService', { name: 'upd', address: '127.0.0.1:9301' }, mac());
      assert.equal(u['address'], '127.0.0.1:9301');
      assert.equal(u['price'], '5', 'price absent: kept');
      assert.equal(u['auth_scheme'], 'AUTH_SCHEME_L402_MPP', 'auth_scheme absent: kept (not reset to L402)');
      assert.deepEqual(fromStruct(u['config'])['headers'], { 'X-A': '1' });
      u = await g.call('UpdateService', { name: 'upd', price: 0 }, mac());
      assert.equal(((await s.store.getService('upd'))?.config as Record<string, unknown>)['price'], 0, 'an explicit 0 is a change');
      u = await g.call('UpdateService', { name: 'upd', auth_scheme: 'AUTH_SCHEME_L402' }, mac());
      assert.equal(u['auth_scheme'], 'AUTH_SCHEME_L402', "an explicit L402 (the enum's zero) is a change");
      const r = await rest2(s, '/api/admin/services/upd', {
        method: 'PUT',
        macaroon: mac(),
        body: { auth_scheme: 'AUTH_SCHEME_L402_MPP', config: { headers: { 'x-a': null, 'X-B': 'c' }, timeout: 30 } },
      });
      assert.equal(r.status, 200, r.text);
      const body = r.json as Record<string, unknown>;
      assert.equal(body['auth_scheme'], 'AUTH_SCHEME_L402_MPP');
      assert.equal(body['address'], '127.0.0.1:9301');
      assert.deepEqual(
        (body['config'] as Record<string, unknown>)['headers'],
        { 'X-B': 'c' },
        'a merge patch: null removes a header (names without case)',
      );
      assert.equal((body['config'] as Record<string, unknown>)['timeout'], 30);
      const applied = s.backend.applied.at(-1)?.find((x) => x.name === 'upd');
      assert.equal(applied?.timeoutSeconds, 30);
      assert.equal(applied?.address, '127.0.0.1:9301');

      await grpcFails(g.call('UpdateService', { name: 'nope', price: 1 }, mac()), 5, /service not found/);
      const missing = await rest1(s, '/api/admin/services/nope', { method: 'PUT', macaroon: mac(), body: { price: 1 } });
      assert.equal(missing.status, 404);
      await grpcFails(g.call('UpdateService', { name: 'upd', path_regexp: '^/api/admin/' }, mac()), 3, /reserved/);
      await grpcFails(g.call('UpdateService', { name: 'upd', config: toStruct({ name: 'other' }) }, mac()), 3, /cannot be renamed/);
      await grpcFails(
        g.call('UpdateService', { name: 'upd', config: toStruct({ ratelimits: 'many' }) }, mac()),
        3,
        /^config\.ratelimits: /,
      );
      await grpcFails(g.call('UpdateService', {}, mac()), 3, /missing service name/);
    });

    test('UpdateService of a configuration-file service overrides it in place, keeping its other fields', async () => {
      const u = await g.call('UpdateService', { name: 'cfg-one', price: 11 }, mac());
      assert.equal(u['price'], '11');
      assert.equal(u['source'], 'api');
      assert.deepEqual(
        fromStruct(u['config']),
        {
          name: 'cfg-one',
          address: '127.0.0.1:9001',
          pathregexp: '^/one',
          price: 11,
          headers: { 'X-Key': '${UPSTREAM_KEY}' },
        },
        'the environment reference from the file stays a reference',
      );
      assert.equal(s.backend.lastApplied()[0], 'cfg-one', 'it keeps its place in the route order');
    });

    test('DeleteService: API services go, configuration-file services are hidden until created again', async () => {
      assert.deepEqual(await g.call('DeleteService', { name: 'rest-one' }, mac()), { status: 'deleted' });
      assert.equal(await s.store.getService('rest-one'), undefined);
      const r = await rest1(s, '/api/admin/services/cfg-two', { method: 'DELETE', macaroon: mac() });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'deleted' });
      assert.deepEqual((await s.store.getService('cfg-two'))?.config, { name: 'cfg-two', deleted: true }, 'a tombstone row');
      assert.ok(!s.backend.lastApplied().includes('cfg-two'));
      const listed = (await g.call('ListServices', {}, mac()))['services'] as Array<{ name: string }>;
      assert.ok(!listed.some((x) => x.name === 'cfg-two'));
      await grpcFails(g.call('DeleteService', { name: 'cfg-two' }, mac()), 5);
      const gone = await rest2(s, '/api/admin/services/cfg-two', { method: 'DELETE', macaroon: mac() });
      assert.equal(gone.status, 404);
      await g.call('CreateService', { name: 'cfg-two', address: '127.0.0.1:9402', path_regexp: '^/two' }, mac());
      assert.equal(s.backend.lastApplied()[1], 'cfg-two', "created again: back in the configuration file's place");
    });

    test(
      'a restarted program loads the same services from the store',
      { skip: kind === 'memory' ? 'the memory store does not outlive its process' : undefined },
      async () => {
        const listed = (await rest1(s, '/api/admin/services', { macaroon: mac() })).json as {
          services: Array<{ name: string; config: unknown }>;
        };
        const reopened: ApertureStore = await (s.reopen as () => Promise<ApertureStore>)();
        try {
          const loaded = effectiveServices(s.services, await reopened.listServices(), s.backend.entryOptions);
          assert.deepEqual(loaded.problems, []);
          assert.deepEqual(
            loaded.services.map((x) => x.config.name),
            listed.services.map((x) => x.name),
          );
          assert.deepEqual(
            loaded.services.map((x) => x.config.entry),
            listed.services.map((x) => x.config),
            'every field survives',
          );
        } finally {
          await reopened.close();
        }
      },
    );

    describe('the ledger', () => {
      // 60 challenges, services a and b alternating; even ones settled. Prices 7 (a) and 9 (b).
      const rows: Array<{ tokenId: string; paymentHash: string; service: string; settledAt?: number; price: number }> = [];
      before(async () => {
        for (let i = 0; i < 60; i++) {
          const row = { tokenId: hex32(), paymentHash: hex32(), service: i % 2 === 0 ? 'a' : 'b', price: i % 2 === 0 ? 7 : 9 };
          await s.store.recordChallenge({
            ...row,
            priceSats: row.price,
            authType: 'l402',
            createdAt: T0 + i * 1000,
            expiresAt: T0 + 3_600_000,
          });
          rows.push(row);
        }
        for (let i = 0; i < 60; i += 4) {
          const row = rows[i] as (typeof rows)[number];
          row.settledAt = T0 + 100_000 + i * 1000;
          await s.store.markSettled(row.paymentHash, row.settledAt, row.price);
        }
        for (let i = 1; i < 60; i += 4) {
          const row = rows[i] as (typeof rows)[number];
          row.settledAt = T0 + 100_000 + i * 1000;
          await s.store.markSettled(row.paymentHash, row.settledAt, row.price);
        }
      });

      test("ListTransactions: a row's fields; default page of 50; total_count", async () => {
        const page = await g.call('ListTransactions', {}, mac());
        assert.equal((page['transactions'] as unknown[]).length, 50);
        assert.equal(page['total_count'], '60');
        const newest = (page['transactions'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
        const r = rows[59] as (typeof rows)[number];
        assert.deepEqual(
          { ...newest, id: 0 },
          {
            id: 0,
            token_id: r.tokenId,
            payment_hash: r.paymentHash,
            service_name: 'b',
            price_sats: '9',
            state: 'pending',
            created_at: iso(T0 + 59_000),
            settled_at: '',
            revoked_at: '',
            auth_type: 'l402',
            refund_status: '',
            refund_sats: '0',
            refund_error: '',
          },
        );
        assert.equal(typeof newest['id'], 'number');
        const settled = (await rest1(s, `/api/admin/transactions?limit=1&offset=${60 - 57}`, { macaroon: mac() })).json as {
          transactions: Array<Record<string, unknown>>;
        };
        assert.equal(settled.transactions[0]?.['token_id'], rows[56]?.tokenId);
        assert.equal(settled.transactions[0]?.['settled_at'], iso(T0 + 100_000 + 56_000));
        assert.equal(settled.transactions[0]?.['state'], 'settled');
      });

      test('ListTransactions: service, state, settle-time range, limit and offset', async () => {
        const count = async (request: Record<string, unknown>): Promise<[number, string]> => {
          const p = await g.call('ListTransactions', request, mac());
          return [(p['transactions'] as unknown[]).length, p['total_count'] as string];
        };
        assert.deepEqual(await count({ service: 'a' }), [30, '30']);
        assert.deepEqual(await count({ state: 'settled' }), [30, '30']);
        assert.deepEqual(await count({ state: 'pending', service: 'b' }), [15, '15']);
        assert.deepEqual(await count({ limit: 10, offset: 55 }), [5, '60']);
        assert.deepEqual(await count({ limit: 5000 }), [60, '60'], 'a limit over 1000 is taken as 1000');
        // Settled at T0+100s+i·1s for i in {0,1,4,5,8,9,…}: from i=10 to i=20 inclusive → 10 (no), 12, 13, 16, 17, 20.
        const range = { start_date: iso(T0 + 110_000), end_date: iso(T0 + 120_000) };
        const inRange = await g.call('ListTransactions', range, mac());
        assert.deepEqual(
          (inRange['transactions'] as Array<{ token_id: string }>).map((t) => t.token_id).sort(),
          [12, 13, 16, 17, 20].map((i) => rows[i]?.tokenId).sort(),
          'on the settle time, both ends included',
        );
        assert.deepEqual(await count({ start_date: iso(T0 + 150_000) }), [4, '4'], 'one end alone is enough');
        const q = await rest1(s, `/api/admin/transactions?service=a&state=settled&limit=5&startDate=${encodeURIComponent(iso(T0))}`, {
          macaroon: mac(),
        });
        assert.equal(q.status, 200);
        assert.equal((q.json as { transactions: unknown[] }).transactions.length, 5);
        assert.equal((q.json as { total_count: string }).total_count, '15');
        await grpcFails(g.call('ListTransactions', { state: 'bogus' }, mac()), 3, /invalid state "bogus"/);
        await grpcFails(g.call('ListTransactions', { start_date: 'yesterday' }, mac()), 3, /invalid start_date format/);
        await grpcFails(
          g.call('ListTransactions', { start_date: iso(T0 + 2000), end_date: iso(T0) }, mac()),
          3,
          /end_date must be >= start_date/,
        );
        await grpcFails(g.call('ListTransactions', { offset: -1 }, mac()), 3, /offset must be >= 0/);
        const bad = await rest2(s, '/api/admin/transactions?limit=abc', { macaroon: mac() });
        assert.equal(bad.status, 400);
        assert.equal((bad.json as { code: number }).code, 3);
      });

      test('ListTokens: settled L402 tokens, paged, with total_count', async () => {
        const all = await g.call('ListTokens', { limit: 1000 }, mac());
        assert.equal(all['total_count'], '30');
        assert.ok((all['tokens'] as Array<{ state: string }>).every((t) => t.state === 'settled'));
        const r = await rest1(s, '/api/admin/tokens?limit=4&offset=28', { macaroon: mac() });
        assert.equal((r.json as { tokens: unknown[] }).tokens.length, 2);
        assert.equal((r.json as { total_count: string }).total_count, '30');
      });

      test('GetStats: totals, per service, on a settle-time range', async () => {
        const all = await g.call('GetStats', {}, mac());
        assert.deepEqual(all, {
          total_revenue_sats: String(15 * 7 + 15 * 9),
          transaction_count: '30',
          service_breakdown: [
            { service_name: 'a', total_revenue_sats: String(15 * 7), transaction_count: '15' },
            { service_name: 'b', total_revenue_sats: String(15 * 9), transaction_count: '15' },
          ],
        });
        const r = await rest1(
          s,
          `/api/admin/stats?from=${encodeURIComponent(iso(T0 + 110_000))}&to=${encodeURIComponent(iso(T0 + 120_000))}`,
          { macaroon: mac() },
        );
        assert.deepEqual(r.json, {
          total_revenue_sats: String(3 * 7 + 2 * 9),
          transaction_count: '5',
          service_breakdown: [
            { service_name: 'a', total_revenue_sats: String(3 * 7), transaction_count: '3' },
            { service_name: 'b', total_revenue_sats: String(2 * 9), transaction_count: '2' },
          ],
        });
        await grpcFails(
          g.call('GetStats', { from: iso(T0 + 1000), to: iso(T0) }, mac()),
          3,
          /'to' must be greater than or equal to 'from'/,
        );
        await grpcFails(g.call('GetStats', { from: '2026-13-01T00:00:00Z' }, mac()), 3, /invalid 'from' time format/);
      });

      test('RevokeToken: revokes at once, keeps the row marked revoked; pending tokens too; NotFound and InvalidArgument', async () => {
        const settled = rows[0] as (typeof rows)[number];
        const key = idHashOf(settled.paymentHash, settled.tokenId);
        await s.store.newSecret(key);
        assert.ok((await s.store.getSecret(key)) !== undefined);
        assert.deepEqual(await g.call('RevokeToken', { token_id: settled.tokenId.toUpperCase() }, mac()), { status: 'revoked' });
        assert.equal(await s.store.getSecret(key), undefined, 'the root key is gone');
        const row = (await g.call('ListTransactions', { limit: 1, offset: 59 }, mac()))['transactions'] as Array<Record<string, string>>;
        assert.equal(row[0]?.['token_id'], settled.tokenId);
        assert.equal(row[0]?.['state'], 'settled', 'the row stays');
        assert.equal(row[0]?.['revoked_at'], iso(clock.now()));
        assert.equal((await g.call('ListTokens', {}, mac()))['total_count'], '29', 'no longer a usable token');
        assert.equal((await g.call('GetStats', {}, mac()))['transaction_count'], '30', 'revenue stays true');
        assert.deepEqual(await g.call('RevokeToken', { token_id: settled.tokenId }, mac()), { status: 'revoked' }, 'again: no error');

        const pending = rows[2] as (typeof rows)[number];
        const pendingKey = idHashOf(pending.paymentHash, pending.tokenId);
        await s.store.newSecret(pendingKey);
        const r = await rest1(s, `/api/admin/tokens/${pending.tokenId}`, { method: 'DELETE', macaroon: mac() });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { status: 'revoked' });
        assert.equal(await s.store.getSecret(pendingKey), undefined);

        await grpcFails(g.call('RevokeToken', { token_id: hex32() }, mac()), 5, /token not found/);
        await grpcFails(g.call('RevokeToken', { token_id: 'xyz' }, mac()), 3, /invalid token ID/);
        await grpcFails(g.call('RevokeToken', { token_id: 'ab'.repeat(31) }, mac()), 3, /token ID must be 32 bytes, got 31/);
        await grpcFails(g.call('RevokeToken', {}, mac()), 3, /missing token ID/);
        const bad = await rest2(s, '/api/admin/tokens/zz', { method: 'DELETE', macaroon: mac() });
        assert.equal(bad.status, 400);
        const unknown = await rest1(s, `/api/admin/tokens/${hex32()}`, { method: 'DELETE', macaroon: mac() });
        assert.equal(unknown.status, 404);
      });
    });
  });
}
