// aperturecli manages the reference Go aperture too: its admin gRPC API
// (v0.5.0, admin enabled, authenticator disabled so that it needs no lnd),
// over TLS with its self-signed certificate and in plaintext (insecure: true,
// h2c). Skips with the reason when the Go binary is not built (never under CI).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { goBinaries, mustRun } from '../regtest/go-binaries.js';
import { startProcess, waitFor, type Proc } from '../regtest/processes.js';
import { freePort, removeDir, tempBaseDir } from '../e2e/support.js';
import { runCli } from './support.js';

const go = goBinaries(['aperture']);
if (!go.ok && mustRun) throw new Error(`the Go aperture must be built under CI: ${go.reason}`);

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

for (const insecure of [false, true]) {
  describe(
    `the Go aperture's admin API ${insecure ? 'in plaintext (--insecure)' : 'over TLS (--tls-cert)'}`,
    { skip: go.ok ? false : go.reason },
    () => {
      let dir: string;
      let proc: Proc;
      let flags: string[];
      before(async () => {
        if (!go.ok) return;
        dir = tempBaseDir('aperturecli-go-');
        const port = await freePort();
        writeFileSync(
          join(dir, 'aperture.yaml'),
          `listenaddr: 127.0.0.1:${port}
insecure: ${insecure}
servername: localhost
dbbackend: sqlite
sqlite:
  databasefilename: ${join(dir, 'aperture.db')}
authenticator:
  disable: true
admin:
  enabled: true
  macaroonpath: ${join(dir, 'admin.macaroon')}
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/quotes'
    address: 127.0.0.1:9
    protocol: http
    price: 5
`,
        );
        proc = startProcess(
          'reference aperture',
          go.paths.aperture,
          [`--configfile=${join(dir, 'aperture.yaml')}`, `--basedir=${dir}`],
          join(dir, 'aperture.log'),
        );
        await waitFor(
          'the Go aperture',
          async () => ((await accepting(port)) && existsSync(join(dir, 'admin.macaroon')) ? true : undefined),
          { proc, limitMs: 60_000 },
        );
        flags = [
          '--host',
          `127.0.0.1:${port}`,
          '--macaroon',
          join(dir, 'admin.macaroon'),
          ...(insecure ? ['--insecure'] : ['--tls-cert', join(dir, 'tls.cert')]),
        ];
      });
      after(async () => {
        await proc?.stop();
        if (dir !== undefined) removeDir(dir);
      });

      test("every command, with the reference's output and exit codes", async () => {
        const info = await runCli(['info', ...flags]);
        assert.equal(info.code, 0, `${info.stderr}\n${proc.tail()}`);
        assert.equal(info.json()['insecure'], insecure);
        assert.equal((await runCli(['health', ...flags])).code, 0);

        const listed = await runCli(['services', 'list', ...flags]);
        assert.equal(listed.code, 0, listed.stderr);
        assert.deepEqual(
          (listed.json()['services'] as Array<Record<string, unknown>>).map((s) => [s['name'], s['price']]),
          [['quotes', '5']],
        );

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
        ]);
        assert.equal(created.code, 0, created.stderr);
        assert.equal(created.json()['price'], '21');
        const updated = await runCli(['services', 'update', ...flags, '--name', 'weather', '--price', '34']);
        assert.equal(updated.code, 0, updated.stderr);
        assert.equal(updated.json()['address'], '127.0.0.1:10', 'a flag not given is not changed');
        assert.equal(updated.json()['price'], '34');

        // The Go aperture keeps only the reference's fields: the extension is reported, not silently lost.
        const extension = await runCli(['services', 'update', ...flags, '--name', 'weather', '--header', 'X-Key: 1']);
        assert.equal(extension.code, 1);
        assert.equal(extension.error()['code'], 'unsupported_by_server');
        assert.equal(extension.error()['l402_code'], 'L402_ERR_CLI_UNSUPPORTED');

        const deleted = await runCli(['services', 'delete', ...flags, '--name', 'weather']);
        assert.equal(deleted.code, 0, deleted.stderr);
        const missing = await runCli(['services', 'delete', ...flags, '--name', 'weather']);
        assert.equal(missing.code, 5, missing.stderr);
        assert.equal(missing.error()['code'], 'not_found');

        const txs = await runCli([
          'transactions',
          'list',
          ...flags,
          '--service',
          'quotes',
          '--state',
          'settled',
          '--from',
          '2026-01-01T00:00:00Z',
          '--to',
          '2036-01-01T00:00:00Z',
          '--limit',
          '5',
        ]);
        assert.equal(txs.code, 0, txs.stderr);
        assert.deepEqual(txs.json(), { transactions: [], totalCount: '0' });
        const tokens = await runCli(['tokens', 'list', ...flags]);
        assert.equal(tokens.code, 0, tokens.stderr);
        const stats = await runCli(['stats', ...flags]);
        assert.equal(stats.code, 0, stats.stderr);
        assert.deepEqual(stats.json(), { totalRevenueSats: '0', transactionCount: '0', serviceBreakdown: [] });

        const revoke = await runCli(['tokens', 'revoke', ...flags, '--token-id', 'ab'.repeat(32)]);
        assert.notEqual(revoke.code, 0);
        assert.equal(revoke.error()['error'], true);

        const foreign = join(dir, 'foreign.macaroon');
        writeFileSync(foreign, Buffer.from('0201086170657274757265020561646d696e00000620' + '11'.repeat(32), 'hex'));
        const refused = await runCli(['info', ...flags.slice(0, 2), '--macaroon', foreign, ...flags.slice(4)]);
        assert.equal(refused.code, 4, refused.stderr);
        assert.equal(refused.error()['code'], 'auth_failure');
      });
    },
  );
}
