// The program's admin API across restarts and instances: a service created through the API
// survives a restart (SQLite), and a registry row for a configuration-file name overrides
// it; two programs on one PostgreSQL database see each other's changes and revocations
// within seconds; a plaintext admin listener off loopback is refused at start.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAperture } from '../../src/app/start-aperture.js';
import { L402Error } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { h1 } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from '../e2e/support.js';
import { dropSchema, echoBackend, eventually, payFor, postgresSkipReason, schemaName, startProgram, type Program } from './support.js';

const servicesYaml = (address: string): string => `admin:
  enabled: true
  dashboard: false # "not routed" is the proxy's 404 here, not the dashboard's page
services:
  - name: cfg
    pathregexp: '^/cfg'
    address: ${address}
    auth: 'off'
    headers:
      X-Svc: from-file
  - name: paid
    pathregexp: '^/paid'
    address: ${address}
    price: 4
`;

describe('restart persistence (SQLite)', () => {
  let backend: Awaited<ReturnType<typeof echoBackend>>;
  before(async () => {
    backend = await echoBackend();
  });
  after(() => backend.close());

  test('a service created through the API survives a restart; a row for a file name overrides the file', async (t) => {
    const dir = tempBaseDir(t, 'aperture-program-restart-');
    const first = await startProgram({ kind: 'sqlite', dir, yaml: servicesYaml(backend.address) });
    try {
      const created = await first.rest('/api/admin/services', {
        method: 'POST',
        macaroon: first.macaroonHex,
        body: {
          name: 'made',
          address: backend.address,
          path_regexp: '^/made',
          auth: 'off',
          config: { headers: { 'X-Svc': 'made' }, ratelimits: [{ requests: 100, per: '1s' }] },
        },
      });
      assert.equal(created.status, 200, created.text);
      const changed = await first.rest('/api/admin/services/cfg', {
        method: 'PUT',
        macaroon: first.macaroonHex,
        body: { config: { headers: { 'X-Svc': 'from-api' } } },
      });
      assert.equal(changed.status, 200, changed.text);
    } finally {
      await first.close();
    }

    const second = await startProgram({ kind: 'sqlite', dir, yaml: servicesYaml(backend.address) });
    try {
      assert.equal((await h1(`${second.aperture.url}/made/1`)).body, 'made /made/1');
      assert.equal((await h1(`${second.aperture.url}/cfg/1`)).body, 'from-api /cfg/1', 'the row overrides the file');
      const listed = await second.grpc.call('ListServices', {}, second.macaroonHex);
      assert.deepEqual(
        (listed['services'] as Array<Record<string, string>>).map((s) => [s['name'], s['source']]),
        [
          ['cfg', 'api'],
          ['paid', 'config'],
          ['made', 'api'],
        ],
      );
      assert.deepEqual(
        second.aperture.services.map((s) => s.name),
        ['cfg', 'paid', 'made'],
        "route order: the file's, then the registry's",
      );
      assert.equal(second.aperture.services[2]?.config.rateLimits[0]?.requests, 100, 'every field survives');
    } finally {
      await second.close();
    }
  });
});

const pgSkip = await postgresSkipReason();

describe('two instances on one PostgreSQL database', { skip: pgSkip }, () => {
  const schema = schemaName();
  let backend: Awaited<ReturnType<typeof echoBackend>>;
  let a: Program;
  let b: Program;

  before(async () => {
    backend = await echoBackend();
    // A long verifier cache: only the revocation's announcement (PostgreSQL NOTIFY) can make B refuse in time.
    const options = { servicesPollMs: 100, verifierCacheTtlMs: 600_000 };
    a = await startProgram({
      kind: 'postgres',
      schema,
      dir: tempBaseDir('aperture-program-pg-a-'),
      yaml: servicesYaml(backend.address),
      options,
    });
    b = await startProgram({
      kind: 'postgres',
      schema,
      dir: tempBaseDir('aperture-program-pg-b-'),
      yaml: servicesYaml(backend.address),
      options,
    });
  });
  after(async () => {
    await a.close();
    await b.close();
    await backend.close();
    await dropSchema(schema);
  });

  test('created, changed and deleted on A: served so by B within seconds', async () => {
    assert.equal((await h1(`${b.aperture.url}/shared/1`)).status, 404);
    const created = await a.rest('/api/admin/services', {
      method: 'POST',
      macaroon: a.macaroonHex,
      body: {
        name: 'shared',
        address: backend.address,
        path_regexp: '^/shared',
        auth: 'off',
        config: { headers: { 'X-Svc': 'shared-1' } },
      },
    });
    assert.equal(created.status, 200, created.text);
    await eventually(
      'B serves the service created on A',
      async () => (await h1(`${b.aperture.url}/shared/1`)).body === 'shared-1 /shared/1',
    );
    await a.grpc.call(
      'UpdateService',
      {
        name: 'cfg',
        config: {
          fields: {
            headers: { kind: 'struct_value', struct_value: { fields: { 'X-Svc': { kind: 'string_value', string_value: 'cfg-on-a' } } } },
          },
        },
      },
      a.macaroonHex,
    );
    await eventually('B applies the override made on A', async () => (await h1(`${b.aperture.url}/cfg/1`)).body === 'cfg-on-a /cfg/1');
    await a.grpc.call('DeleteService', { name: 'shared' }, a.macaroonHex);
    await eventually('B stops serving the service deleted on A', async () => (await h1(`${b.aperture.url}/shared/1`)).status === 404);
    assert.equal(await b.aperture.pollServices(), false, 'B is up to date: nothing left to apply');
  });

  test('a token revoked on A is refused on B', async () => {
    const token = await payFor(b.aperture.url, '/paid/x');
    assert.equal((await h1(`${b.aperture.url}/paid/x`, { headers: { authorization: token.authorization } })).status, 200);
    const rows = (await a.grpc.call('ListTransactions', { service: 'paid' }, a.macaroonHex))['transactions'] as Array<
      Record<string, string>
    >;
    const row = rows.find((r) => r['payment_hash'] === token.paymentHash);
    assert.ok(row !== undefined, 'A sees the token paid on B');
    await a.grpc.call('RevokeToken', { token_id: row['token_id'] }, a.macaroonHex);
    await eventually(
      'B refuses the token revoked on A',
      async () => (await h1(`${b.aperture.url}/paid/x`, { headers: { authorization: token.authorization } })).status !== 200,
    );
  });
});

describe('a plaintext admin listener off loopback', () => {
  test('is refused at start with L402_ERR_ADMIN_INSECURE_REMOTE, before anything opens; allowinsecureremote allows it', async (t) => {
    const dir = tempBaseDir(t, 'aperture-program-insecure-');
    const config = configFrom('listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\nadmin:\n  enabled: true\n', dir);
    config.listenAddr = '0.0.0.0:0';
    const store = new MemoryStore();
    await assert.rejects(startAperture(config, { logger: quiet, store, gcIntervalMs: 0, defaultMetrics: false }), (error: unknown) => {
      assert.ok(error instanceof L402Error);
      assert.equal(error.code, 'L402_ERR_ADMIN_INSECURE_REMOTE');
      assert.match(error.message, /0\.0\.0\.0:0.*admin\.allowinsecureremote/);
      return true;
    });
    config.admin.allowInsecureRemote = true;
    const aperture = await startAperture(config, { logger: quiet, store, gcIntervalMs: 0, defaultMetrics: false });
    try {
      const health = await h1(`http://127.0.0.1:${aperture.addresses.proxy.port}/api/admin/health`);
      assert.equal(health.status, 200);
    } finally {
      await aperture.close();
      await store.close();
    }
  });
});
