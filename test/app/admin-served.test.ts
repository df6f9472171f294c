// The admin API served by the `aperture` program (startAperture with admin.enabled) on its
// own listener, end to end, on the memory, SQLite and PostgreSQL stores: every RPC over
// gRPC (grpc-js, h2c) and REST (HTTP/1.1), authentication failures, services created,
// changed and deleted taking effect on the proxy at once, tokens paid through the proxy
// listed, counted and revoked. The per-RPC details are test/admin/'s.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { h1 } from '../proxy/support.js';
import { tempBaseDir } from '../e2e/support.js';
import { fromStruct, rest2, toStruct } from '../admin/support.js';
import { dropSchema, echoBackend, payFor, postgresSkipReason, schemaName, startProgram, type Program, type StoreKind } from './support.js';

type GrpcError = Error & { code: number; details: string };

async function grpcFails(call: Promise<unknown>, code: number, pattern?: RegExp): Promise<void> {
  try {
    await call;
  } catch (error) {
    const e = error as GrpcError;
    assert.equal(e.code, code, `expected gRPC code ${code}, got ${e.code}: ${e.details}`);
    if (pattern !== undefined) assert.match(e.details, pattern);
    return;
  }
  assert.fail(`expected gRPC code ${code}, the call succeeded`);
}

const pgSkip = await postgresSkipReason();

for (const kind of ['memory', 'sqlite', 'postgres'] as StoreKind[]) {
  describe(`the program serves the admin API (${kind} store)`, { skip: kind === 'postgres' ? pgSkip : undefined }, () => {
    let p: Program;
    let backend: Awaited<ReturnType<typeof echoBackend>>;
    const schema = schemaName();
    let dir: string;
    const mac = (): string => p.macaroonHex;

    before(async () => {
      dir = tempBaseDir('aperture-program-admin-');
      backend = await echoBackend();
      p = await startProgram({
        kind,
        dir,
        ...(kind === 'postgres' ? { schema } : {}),
        yaml: `admin:
  enabled: true
  dashboard: false # "not routed" is the proxy's 404 here, not the dashboard's page
services:
  - name: paid
    pathregexp: '^/paid'
    address: ${backend.address}
    price: 7
    headers:
      X-Svc: paid
  - name: open
    pathregexp: '^/open'
    address: ${backend.address}
    auth: 'off'
    headers:
      X-Svc: open
`,
      });
    });
    after(async () => {
      await p.close();
      await backend.close();
      if (kind === 'postgres') await dropSchema(schema);
    });

    test('first start writes the admin macaroon and its root key next to it, 0600', () => {
      for (const file of ['admin.macaroon', 'admin.rootkey']) {
        const path = join(dir, file);
        assert.ok(existsSync(path), `${file} written`);
        assert.equal(statSync(path).mode & 0o777, 0o600);
      }
    });

    test('GetHealth needs no macaroon; GetInfo says what the program runs (gRPC and REST)', async () => {
      assert.deepEqual(await p.grpc.call('GetHealth', {}), { status: 'ok' });
      const health = await p.rest('/api/admin/health');
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, { status: 'ok' });
      const info = await p.grpc.call('GetInfo', {}, mac());
      assert.equal(info['network'], 'regtest');
      assert.equal(info['insecure'], true);
      assert.equal(info['listen_addr'], '127.0.0.1:0');
      const rest = await p.rest('/api/admin/info', { macaroon: mac() });
      assert.equal(rest.status, 200);
      assert.deepEqual(rest.json, {
        network: 'regtest',
        listen_addr: '127.0.0.1:0',
        insecure: true,
        mpp_enabled: false,
        sessions_enabled: false,
        mpp_realm: '',
      });
      assert.equal(rest.headers['access-control-allow-origin'], undefined, 'no proxy CORS on admin answers');
    });

    test('without a valid macaroon every other call is Unauthenticated (16 / 401)', async () => {
      await grpcFails(p.grpc.call('GetInfo', {}), 16);
      await grpcFails(p.grpc.call('ListServices', {}, 'zz'), 16);
      await grpcFails(p.grpc.call('ListTokens', {}, mac().slice(0, -2) + (mac().endsWith('00') ? '01' : '00')), 16);
      const rest = await p.rest('/api/admin/services');
      assert.equal(rest.status, 401);
      assert.equal((rest.json as { code: number }).code, 16);
      const wrong = await p.rest('/api/admin/stats', { macaroon: 'deadbeef' });
      assert.equal(wrong.status, 401);
    });

    test('services: create, update and delete take effect on the proxy at once', async () => {
      assert.equal((await h1(`${p.aperture.url}/new/x`)).status, 404);
      const created = await p.rest('/api/admin/services', {
        method: 'POST',
        macaroon: mac(),
        body: { name: 'new', address: backend.address, path_regexp: '^/new', auth: 'off', config: { headers: { 'X-Svc': 'new' } } },
      });
      assert.equal(created.status, 200, created.text);
      const served = await h1(`${p.aperture.url}/new/x`);
      assert.equal(served.status, 200);
      assert.equal(served.body, 'new /new/x');

      const listed = await p.grpc.call('ListServices', {}, mac());
      const services = listed['services'] as Array<Record<string, unknown>>;
      assert.deepEqual(
        services.map((s) => [s['name'], s['source']]),
        [
          ['paid', 'config'],
          ['open', 'config'],
          ['new', 'api'],
        ],
      );
      assert.deepEqual(fromStruct(services[2]?.['config'])['headers'], { 'X-Svc': 'new' });

      // Priced now: a challenge for 3 sat.
      const updated = await p.grpc.call('UpdateService', { name: 'new', price: 3, auth: 'on' }, mac());
      assert.equal(updated['price'], '3');
      const challenged = await h1(`${p.aperture.url}/new/x`);
      assert.equal(challenged.status, 402);
      assert.match(String(challenged.headers['www-authenticate']), /invoice="lnbcrt30n1/);

      // A configuration-file service changed through the API is overridden in place.
      await p.grpc.call('UpdateService', { name: 'open', config: toStruct({ headers: { 'X-Svc': 'open-2' } }) }, mac());
      assert.equal((await h1(`${p.aperture.url}/open/y`)).body, 'open-2 /open/y');

      assert.deepEqual(await p.grpc.call('DeleteService', { name: 'new' }, mac()), { status: 'deleted' });
      assert.equal((await h1(`${p.aperture.url}/new/x`)).status, 404);
      const gone = await p.rest('/api/admin/services/new', { method: 'DELETE', macaroon: mac() });
      assert.equal(gone.status, 404);
    });

    test('services over the other transport: gRPC create, REST list, update and delete', async () => {
      const created = await p.grpc.call(
        'CreateService',
        {
          name: 'other',
          address: backend.address,
          path_regexp: '^/other',
          auth: 'off',
          config: toStruct({ headers: { 'X-Svc': 'other' } }),
        },
        mac(),
      );
      assert.equal(created['source'], 'api');
      assert.equal((await h1(`${p.aperture.url}/other/1`)).body, 'other /other/1');
      const listed = await p.rest('/api/admin/services', { macaroon: mac() });
      assert.equal(listed.status, 200);
      assert.ok((listed.json as { services: Array<{ name: string }> }).services.some((s) => s.name === 'other'));
      const updated = await p.rest('/api/admin/services/other', {
        method: 'PUT',
        macaroon: mac(),
        body: { config: { headers: { 'X-Svc': 'other-2' } } },
      });
      assert.equal(updated.status, 200, updated.text);
      assert.equal((await h1(`${p.aperture.url}/other/1`)).body, 'other-2 /other/1');
      const deleted = await p.rest('/api/admin/services/other', { method: 'DELETE', macaroon: mac() });
      assert.equal(deleted.status, 200, deleted.text);
      assert.deepEqual(deleted.json, { status: 'deleted' });
      assert.equal((await h1(`${p.aperture.url}/other/1`)).status, 404);
    });

    test('a service whose path would capture the admin API is refused; admin paths are never proxied', async () => {
      await grpcFails(
        p.grpc.call('CreateService', { name: 'greedy', address: backend.address, path_regexp: '^/api' }, mac()),
        3,
        /path_regexp/,
      );
      const rest = await p.rest('/api/admin/services', {
        method: 'POST',
        macaroon: mac(),
        body: { name: 'all', address: backend.address },
      });
      assert.equal(rest.status, 400);
      assert.match(rest.text, /would capture/);
      // No route answers under /api/admin/ but the API itself.
      const unknown = await p.rest('/api/admin/nothing-here', { macaroon: mac() });
      assert.equal(unknown.status, 404);
      assert.notEqual(unknown.text, '-');
    });

    test('ledger: tokens paid through the proxy are listed, counted, and revoked at once', async () => {
      const paid = await payFor(p.aperture.url, '/paid/a');
      assert.equal((await h1(`${p.aperture.url}/paid/a`, { headers: { authorization: paid.authorization } })).status, 200);

      const txs = await p.grpc.call('ListTransactions', { service: 'paid', state: 'settled' }, mac());
      const rows = txs['transactions'] as Array<Record<string, string>>;
      const row = rows.find((r) => r['payment_hash'] === paid.paymentHash);
      assert.ok(row !== undefined, 'the paid challenge is a settled row');
      assert.equal(row['price_sats'], '7');
      assert.equal(row['service_name'], 'paid');

      const rest = await p.rest('/api/admin/transactions?service=paid&limit=1', { macaroon: mac() });
      assert.equal(rest.status, 200);
      assert.equal((rest.json as { total_count: string }).total_count, '1', 'one challenge was made, and paid');

      const tokens = await p.grpc.call('ListTokens', {}, mac());
      assert.ok((tokens['tokens'] as Array<Record<string, string>>).some((t) => t['token_id'] === row['token_id']));
      const restTokens = await p.rest('/api/admin/tokens?limit=10', { macaroon: mac() });
      assert.equal(restTokens.status, 200);
      assert.equal((restTokens.json as { total_count: string }).total_count, '1');
      const stats = await p.rest('/api/admin/stats', { macaroon: mac() });
      assert.equal(stats.status, 200);
      const s = stats.json as {
        total_revenue_sats: string;
        service_breakdown: Array<{ service_name: string; total_revenue_sats: string }>;
      };
      assert.equal(s.total_revenue_sats, '7');
      assert.deepEqual(
        s.service_breakdown.map((b) => [b.service_name, b.total_revenue_sats]),
        [['paid', '7']],
      );

      const revoked = await p.rest(`/api/admin/tokens/${row['token_id'] ?? ''}`, { method: 'DELETE', macaroon: mac() });
      assert.equal(revoked.status, 200, revoked.text);
      const refused = await h1(`${p.aperture.url}/paid/a`, { headers: { authorization: paid.authorization } });
      assert.notEqual(refused.status, 200, 'a revoked token is refused at once');
      assert.equal((await p.grpc.call('GetStats', {}, mac()))['total_revenue_sats'], '7', 'revenue stays true');

      // RevokeToken over gRPC.
      const second = await payFor(p.aperture.url, '/paid/b');
      assert.equal((await h1(`${p.aperture.url}/paid/b`, { headers: { authorization: second.authorization } })).status, 200);
      const all = (await p.grpc.call('ListTransactions', { service: 'paid' }, mac()))['transactions'] as Array<Record<string, string>>;
      const secondRow = all.find((r) => r['payment_hash'] === second.paymentHash);
      assert.ok(secondRow !== undefined);
      assert.deepEqual(await p.grpc.call('RevokeToken', { token_id: secondRow['token_id'] }, mac()), { status: 'revoked' });
      assert.notEqual((await h1(`${p.aperture.url}/paid/b`, { headers: { authorization: second.authorization } })).status, 200);
    });
  });
}

describe('the program serves the admin API over TLS (gRPC on HTTP/2, REST on HTTP/1.1)', () => {
  let p: Program;
  let dir: string;
  before(async () => {
    dir = tempBaseDir('aperture-program-tls-');
    p = await startProgram({
      kind: 'memory',
      dir,
      tls: true,
      yaml: 'admin:\n  enabled: true\n  corsorigin: ["https://dash.example.com"]\n',
    });
  });
  after(() => p.close());

  test('GetInfo over gRPC and REST; CORS per admin.corsorigin, preflight included', async () => {
    assert.equal((await p.grpc.call('GetInfo', {}, p.macaroonHex))['insecure'], false);
    const rest = await p.rest('/api/admin/info', { macaroon: p.macaroonHex, headers: { origin: 'https://dash.example.com' } });
    assert.equal(rest.status, 200);
    assert.equal(rest.headers['access-control-allow-origin'], 'https://dash.example.com');
    const preflight = await p.rest('/api/admin/services/x', {
      method: 'OPTIONS',
      headers: { origin: 'https://dash.example.com', 'access-control-request-method': 'DELETE' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://dash.example.com');
    assert.match(preflight.headers['access-control-allow-methods'] ?? '', /DELETE/);
    const other = await p.rest('/api/admin/info', { macaroon: p.macaroonHex, headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const h2 = await rest2(p.target, '/api/admin/info', { macaroon: p.macaroonHex });
    assert.equal(h2.status, 200, 'REST over HTTP/2 too');
    assert.equal((h2.json as { insecure: boolean }).insecure, false);
  });
});
