// aperturecli's admin commands against our AdminApi on a real HTTP/2 listener
// (TLS with --tls-cert, and h2c with --insecure), backed by a real store: every
// command, the output shapes, every exit code, and --dry-run sending nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { Macaroon } from '../../src/core/macaroon.js';
import { join } from 'node:path';
import { hex32, startAdminServer, type AdminServer } from '../admin/support.js';
import { connection, runCli, scopedMacaroon } from './support.js';
import { bakeAdminMacaroon } from '../../src/admin/admin-macaroon.js';
import { removeDir, tempBaseDir } from '../e2e/support.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

for (const tls of [true, false]) {
  describe(`admin commands over gRPC ${tls ? 'with TLS (--tls-cert)' : 'in plaintext (--insecure)'}`, () => {
    let s: AdminServer;
    let flags: string[];
    const tokenIds: string[] = [];
    before(async () => {
      s = await startAdminServer({
        kind: 'sqlite',
        tls,
        servicesYaml: "services:\n  - name: quotes\n    pathregexp: '^/quotes'\n    address: 127.0.0.1:9\n    price: 5\n",
      });
      flags = connection(s);
      for (let i = 0; i < 3; i++) {
        const row = { tokenId: hex32(), paymentHash: hex32(), service: 'quotes' };
        tokenIds.push(row.tokenId);
        await s.store.recordChallenge({ ...row, priceSats: 5, authType: 'l402', createdAt: T0 + i * 1000, expiresAt: T0 + 3_600_000 });
        if (i < 2) await s.store.markSettled(row.paymentHash, T0 + 10_000 + i, 5);
      }
    });
    after(() => s.close());

    test('info and health', async () => {
      const info = await runCli(['info', ...flags]);
      assert.equal(info.code, 0, info.stderr);
      assert.deepEqual(info.json(), {
        network: 'regtest',
        listenAddr: '127.0.0.1:8081',
        insecure: true,
        mppEnabled: false,
        sessionsEnabled: false,
        mppRealm: '',
      });
      assert.equal(info.stdout.split('\n')[1], '  "network": "regtest",', 'indented protojson, as the reference prints');
      const health = await runCli(['health', ...flags]);
      assert.equal(health.code, 0, health.stderr);
      assert.deepEqual(Object.keys(health.json()), ['status']);
      if (!tls) assert.match(health.stderr, /--insecure is set, the macaroon is sent over plaintext/);
    });

    test('services: list, create (with the extension flags), update only what is given, delete', async () => {
      const listed = await runCli(['services', 'list', ...flags]);
      assert.equal(listed.code, 0, listed.stderr);
      const first = (listed.json()['services'] as Array<Record<string, unknown>>)[0];
      assert.equal(first?.['name'], 'quotes');
      assert.equal(first?.['price'], '5', 'int64 as a string (protojson)');
      assert.equal(first?.['authScheme'], 'AUTH_SCHEME_L402');

      const created = await runCli([
        'services',
        'create',
        ...flags,
        '--name',
        'weather',
        '--address',
        '127.0.0.1:10',
        '--path-regexp',
        '^/weather',
        '--price',
        '21',
        '--auth-scheme',
        'l402',
        '--header',
        'X-Api-Key: k-1',
        '--capabilities',
        'read,write',
        '--constraint',
        'tier=gold',
        '--token-timeout',
        '3600',
        '--config',
        '{"ratelimits":[{"requests":10,"per":"1m"}]}',
      ]);
      assert.equal(created.code, 0, created.stderr);
      const service = created.json();
      assert.equal(service['name'], 'weather');
      assert.equal(service['price'], '21');
      assert.equal(service['source'], 'api');
      const config = service['config'] as Record<string, unknown>;
      assert.deepEqual(config['headers'], { 'X-Api-Key': 'k-1' });
      assert.equal(config['capabilities'], 'read,write');
      assert.deepEqual(config['constraints'], { tier: 'gold' });
      assert.equal(config['timeout'], 3600);
      assert.deepEqual(config['ratelimits'], [{ requests: 10, per: '1m' }]);

      const updated = await runCli(['services', 'update', ...flags, '--name', 'weather', '--price', '34', '--config', '{"timeout":null}']);
      assert.equal(updated.code, 0, updated.stderr);
      const after = updated.json();
      assert.equal(after['price'], '34');
      assert.equal(after['address'], '127.0.0.1:10', 'a flag not given is not changed');
      assert.equal(after['pathRegexp'], '^/weather');
      assert.equal((after['config'] as Record<string, unknown>)['timeout'], undefined, 'merge patch null removes the key');
      assert.deepEqual((after['config'] as Record<string, unknown>)['headers'], { 'X-Api-Key': 'k-1' });

      const deleted = await runCli(['services', 'delete', ...flags, '--name', 'weather']);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(typeof deleted.json()['status'], 'string');
      assert.deepEqual(s.backend.lastApplied(), ['quotes']);
    });

    test('transactions list (filters → start_date/end_date), tokens list and revoke, stats', async () => {
      const all = await runCli(['transactions', 'list', ...flags]);
      assert.equal(all.code, 0, all.stderr);
      assert.equal(all.json()['totalCount'], '3');
      const settled = await runCli([
        'transactions',
        'list',
        ...flags,
        '--service',
        'quotes',
        '--state',
        'settled',
        '--limit',
        '1',
        '--offset',
        '1',
      ]);
      assert.equal(settled.code, 0, settled.stderr);
      assert.equal(settled.json()['totalCount'], '2');
      const page = settled.json()['transactions'] as Array<Record<string, unknown>>;
      assert.equal(page.length, 1);
      assert.deepEqual(Object.keys(page[0] ?? {}).slice(0, 8), [
        'id',
        'tokenId',
        'paymentHash',
        'serviceName',
        'priceSats',
        'state',
        'createdAt',
        'settledAt',
      ]);
      const none = await runCli(['transactions', 'list', ...flags, '--from', '2030-01-01T00:00:00Z', '--to', '2030-02-01T00:00:00Z']);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.json()['totalCount'], '0');

      const tokens = await runCli(['tokens', 'list', ...flags, '--limit', '10']);
      assert.equal(tokens.code, 0, tokens.stderr);
      assert.equal((tokens.json()['tokens'] as unknown[]).length, 2, 'the paid tokens');
      const revoked = await runCli(['tokens', 'revoke', ...flags, '--token-id', tokenIds[0] ?? '']);
      assert.equal(revoked.code, 0, revoked.stderr);
      const listedAfter = await runCli(['tokens', 'list', ...flags]);
      const row = (listedAfter.json()['tokens'] as Array<Record<string, unknown>>).find((t) => t['tokenId'] === tokenIds[0]);
      assert.notEqual(row?.['revokedAt'], '', 'the ledger row is marked revoked');

      const stats = await runCli(['stats', ...flags]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(stats.json()['totalRevenueSats'], '10');
      assert.equal(stats.json()['transactionCount'], '2');
      assert.deepEqual(
        (stats.json()['serviceBreakdown'] as Array<Record<string, unknown>>).map((b) => [b['serviceName'], b['totalRevenueSats']]),
        [['quotes', '10']],
      );
    });

    test('on a terminal: tables and sentences; --json forces JSON there', async () => {
      const table = await runCli(['services', 'list', ...flags], {}, true);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trim().split('\n');
      assert.match(lines[0] ?? '', /^NAME\s+ADDRESS\s+PROTOCOL\s+PRICE\s+AUTH$/);
      assert.match(lines[1] ?? '', /^quotes\s+127\.0\.0\.1:9\s+http\s+5\s*/);
      const stats = await runCli(['stats', ...flags], {}, true);
      assert.match(stats.stdout, /^Total Revenue: \d+ sats\nTransactions:  \d+\n/);
      const forced = await runCli(['info', ...flags, '--json'], {}, true);
      assert.equal(forced.json()['network'], 'regtest');
      const human = await runCli(['health', ...flags, '--human']);
      assert.match(human.stdout, /^Status: /);
      const missing = await runCli(['services', 'delete', ...flags, '--name', 'nope'], {}, true);
      assert.equal(missing.code, 5);
      assert.match(missing.stderr, /^Error: /m, 'a sentence on a terminal, not JSON');
    });

    test("every exit code, with the reference's error object", async () => {
      const expect = async (args: string[], code: number, kind: string): Promise<Record<string, unknown>> => {
        const run = await runCli(args);
        assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
        if (code === 0 || code === 10) return {};
        const error = run.error();
        assert.equal(error['error'], true);
        assert.equal(error['code'], kind);
        assert.equal(error['exit_code'], code);
        assert.equal(typeof error['message'], 'string');
        assert.match(String(error['l402_code']), /^L402_ERR_/);
        return error;
      };
      await expect(['info', ...flags], 0, '');
      // 1: a gRPC status without a meaning of its own (the program refused to apply the services: INTERNAL).
      s.backend.failApply = true;
      try {
        await expect(
          ['services', 'create', ...flags, '--name', 'x1', '--address', '127.0.0.1:11', '--path-regexp', '^/x1'],
          1,
          'rpc_error',
        );
      } finally {
        s.backend.failApply = false;
      }
      // 2: the command line, and INVALID_ARGUMENT from the server.
      await expect(['services', 'create', ...flags, '--address', '127.0.0.1:11'], 2, 'invalid_args');
      await expect(['services', 'list', ...flags, '--json', '--human'], 2, 'invalid_args');
      await expect(['info', ...flags, '--timeout', 'soon'], 2, 'invalid_args');
      await expect(['info', ...flags, ...(tls ? ['--insecure'] : ['--tls-cert', join(s.dir, 'tls.cert')])], 2, 'invalid_args');
      await expect(['services', 'create', ...flags, '--name', 'x2', '--address', '127.0.0.1:11', '--price', 'ten'], 2, 'invalid_args');
      const invalid = await expect(['services', 'create', ...flags, '--name', 'bad name', '--address', '127.0.0.1:11'], 2, 'invalid_args');
      assert.match(String(invalid['message']), /name/);
      // 3: nothing listens; TLS expected by the client but not spoken (or the reverse).
      const port = await closedPort();
      await expect(['info', '--host', `127.0.0.1:${port}`, '--macaroon', s.macaroonPath, '--insecure'], 3, 'connection_error');
      if (tls)
        await expect(['info', '--host', `127.0.0.1:${s.port}`, '--macaroon', s.macaroonPath, '--timeout', '3s'], 3, 'connection_error');
      // 4: unreadable macaroon, a macaroon of another root key, a read-only macaroon for a change.
      await expect(['info', ...connection(s, join(s.dir, 'missing.macaroon'))], 4, 'auth_failure');
      const garbage = join(s.dir, 'garbage.macaroon');
      writeFileSync(garbage, 'not a macaroon');
      await expect(['info', ...connection(s, garbage)], 4, 'auth_failure');
      const readOnly = scopedMacaroon(s, 'readonly', 'read-only');
      await expect(['services', 'list', ...connection(s, readOnly)], 0, '');
      const denied = await expect(['services', 'delete', ...connection(s, readOnly), '--name', 'quotes'], 4, 'auth_failure');
      assert.match(String(denied['message']), /PERMISSION_DENIED/);
      // 5: not found.
      await expect(['services', 'delete', ...flags, '--name', 'nope'], 5, 'not_found');
      await expect(['tokens', 'revoke', ...flags, '--token-id', hex32()], 5, 'not_found');
      // 10: a dry run.
      await expect(['tokens', 'revoke', ...flags, '--token-id', hex32(), '--dry-run'], 10, '');
    });

    test('macaroon bake: a read-only or method-limited, expiring macaroon from the root key, which the server honours', async () => {
      const rootKey = ['--root-key', join(s.dir, 'admin.rootkey')];
      const out = join(s.dir, 'baked-readonly.macaroon');
      const dry = await runCli(['macaroon', 'bake', ...rootKey, '--methods', 'read-only', '--out', out, '--dry-run']);
      assert.equal(dry.code, 10);
      assert.equal(existsSync(out), false, 'a dry run writes nothing');
      const baked = await runCli(['macaroon', 'bake', ...rootKey, '--methods', 'read-only', '--valid-for', '720h', '--out', out]);
      assert.equal(baked.code, 0, baked.stderr);
      assert.equal(baked.json()['macaroon'], undefined, 'written to the file, not printed');
      assert.equal((statSync(out).mode & 0o777).toString(8), '600');
      const bakedFlags = connection(s, out);
      assert.equal((await runCli(['stats', ...bakedFlags])).code, 0);
      const denied = await runCli(['tokens', 'revoke', ...bakedFlags, '--token-id', hex32()]);
      assert.equal(denied.code, 4, denied.stderr);
      assert.equal((await runCli(['macaroon', 'bake', ...rootKey, '--out', out])).code, 2, 'never overwrites');

      const printed = await runCli(['macaroon', 'bake', ...rootKey, '--methods', 'GetInfo', '--valid-for', '1h']);
      assert.equal(printed.code, 0, printed.stderr);
      const mac = Macaroon.fromHex(String(printed.json()['macaroon']));
      assert.deepEqual(printed.json()['methods'], ['GetInfo']);
      assert.equal(mac.firstPartyCaveats()[0], 'admin_methods=GetInfo');
      assert.match(mac.firstPartyCaveats()[1] ?? '', /^time-before \d{4}-\d\d-\d\dT/);
      assert.equal((await runCli(['macaroon', 'bake', ...rootKey, '--methods', 'GetInfo,Frobnicate'])).code, 2);
      assert.equal((await runCli(['macaroon', 'bake', '--root-key', join(s.dir, 'missing.rootkey')])).code, 4);
    });

    test('--dry-run prints the request and sends nothing', async () => {
      const before = s.events.length;
      const runs = [
        await runCli(['services', 'create', ...flags, '--name', 'dry', '--address', '127.0.0.1:12', '--price', '3', '--dry-run']),
        await runCli(['services', 'update', ...flags, '--name', 'quotes', '--price', '8', '--dry-run']),
        await runCli(['services', 'delete', ...flags, '--name', 'quotes', '--dry-run']),
        await runCli(['tokens', 'revoke', ...flags, '--token-id', tokenIds[1] ?? '', '--dry-run']),
      ];
      for (const run of runs) {
        assert.equal(run.code, 10, run.stderr);
        assert.equal(run.stderr, '', 'no error output for a dry run');
        assert.equal(run.json()['dry_run'], true);
      }
      assert.deepEqual(
        runs.map((r) => r.json()['rpc']),
        ['CreateService', 'UpdateService', 'DeleteService', 'RevokeToken'],
      );
      assert.deepEqual(runs[0]?.json()['request'], {
        name: 'dry',
        address: '127.0.0.1:12',
        protocol: 'http',
        hostRegexp: '',
        pathRegexp: '',
        price: '3',
        auth: 'on',
        authScheme: 'AUTH_SCHEME_L402',
        config: null,
      });
      assert.deepEqual(
        runs[1]?.json()['request'],
        { name: 'quotes', address: '', protocol: '', hostRegexp: '', pathRegexp: '', price: '8', auth: '', config: null },
        'only the given optional field appears',
      );
      assert.equal(s.events.length, before, 'the server received no call');
      const stillThere = await runCli(['services', 'list', ...flags]);
      const names = (stillThere.json()['services'] as Array<Record<string, unknown>>).map((x) => x['name']);
      assert.ok(names.includes('quotes') && !names.includes('dry'), names.join(','));
      // On a read-only command --dry-run has nothing to stop; it runs and says so.
      const read = await runCli(['services', 'list', ...flags, '--dry-run']);
      assert.equal(read.code, 0);
      assert.match(read.stderr, /--dry-run applies to commands that change something/);
    });
  });
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('--timeout: a server that never answers is DEADLINE_EXCEEDED, exit 3', async () => {
  const { createServer: createH2c } = await import('node:http2');
  const streams: Array<{ close(): void }> = [];
  const silent = createH2c();
  silent.on('stream', (stream) => streams.push(stream));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const dir = tempBaseDir('aperturecli-deadline-');
  try {
    const macaroon = join(dir, 'admin.macaroon');
    writeFileSync(macaroon, bakeAdminMacaroon(new Uint8Array(32)).toBinary());
    const run = await runCli([
      'info',
      '--host',
      `127.0.0.1:${(silent.address() as { port: number }).port}`,
      '--insecure',
      '--macaroon',
      macaroon,
      '--timeout',
      '300ms',
    ]);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(run.error()['code'], 'connection_error');
    assert.match(String(run.error()['message']), /DEADLINE_EXCEEDED/);
  } finally {
    for (const stream of streams) stream.close();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    removeDir(dir);
  }
});
