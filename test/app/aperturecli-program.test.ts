// Our own aperturecli, run as a program (bin/aperturecli.js), against the `aperture`
// program's admin API on its main listener: over TLS (--tls-cert, the program's
// self-signed certificate) and plaintext (--insecure, h2c). Every admin command on
// real traffic: info, health, services list/create/update/delete (served at once),
// transactions list, tokens list/revoke (refused at once), stats, and the exit
// codes of a refused path, a missing service and a wrong macaroon.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { h1 } from '../proxy/support.js';
import { repoRoot, tempBaseDir } from '../e2e/support.js';
import { echoBackend, payFor, startProgram, type Program } from './support.js';

const CLI = join(repoRoot, 'bin', 'aperturecli.js');

for (const transport of ['tls', 'insecure'] as const) {
  describe(`aperturecli against the aperture program (${transport === 'tls' ? 'TLS, --tls-cert' : 'plaintext, --insecure'})`, () => {
    let p: Program;
    let backend: Awaited<ReturnType<typeof echoBackend>>;
    let dir: string;

    before(async () => {
      dir = tempBaseDir('aperture-program-ourcli-');
      backend = await echoBackend();
      p = await startProgram({
        kind: 'sqlite',
        dir,
        tls: transport === 'tls',
        yaml: `admin:
  enabled: true
  dashboard: false # "not routed" is the proxy's 404 here, not the dashboard's page
services:
  - name: paid
    pathregexp: '^/paid'
    address: ${backend.address}
    price: 6
`,
      });
    });
    after(async () => {
      await p?.close();
      await backend?.close();
    });

    /** Runs aperturecli with the connection flags and `--json`: its exit code, stdout parsed, stderr. */
    function cli(
      args: readonly string[],
      macaroon = join(dir, 'admin.macaroon'),
    ): Promise<{ code: number; json: unknown; stderr: string }> {
      const connection = transport === 'tls' ? ['--tls-cert', join(dir, 'tls.cert')] : ['--insecure'];
      const flags = [
        '--host',
        `127.0.0.1:${p.aperture.addresses.proxy.port}`,
        '--macaroon',
        macaroon,
        ...connection,
        '--json',
        '--timeout',
        '20s',
      ];
      return new Promise((resolve) => {
        execFile(
          process.execPath,
          [CLI, ...args, ...flags],
          { timeout: 60_000, env: { ...process.env, HOME: dir } },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
            let json: unknown;
            try {
              json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
            } catch {
              json = stdout;
            }
            resolve({ code, json, stderr });
          },
        );
      });
    }

    test('info and health', async () => {
      const info = await cli(['info']);
      assert.equal(info.code, 0, info.stderr);
      assert.equal((info.json as Record<string, unknown>)['network'], 'regtest');
      assert.equal((info.json as Record<string, unknown>)['insecure'], transport === 'insecure');
      const health = await cli(['health']);
      assert.equal(health.code, 0, health.stderr);
      assert.equal((health.json as Record<string, unknown>)['status'], 'ok');
    });

    test('services: list, create (served at once), update, delete; a refused path and a missing service', async () => {
      const listed = await cli(['services', 'list']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(JSON.stringify(listed.json), /"paid"/);
      const created = await cli([
        'services',
        'create',
        '--name',
        'made',
        '--address',
        backend.address,
        '--path-regexp',
        '^/made',
        '--auth',
        'off',
      ]);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((await h1(`${p.aperture.url}/made/1`, p.target.cert === undefined ? {} : { ca: p.target.cert })).status, 200);
      const updated = await cli(['services', 'update', '--name', 'made', '--auth', 'on', '--price', '9']);
      assert.equal(updated.code, 0, updated.stderr);
      const challenged = await h1(`${p.aperture.url}/made/1`, p.target.cert === undefined ? {} : { ca: p.target.cert });
      assert.equal(challenged.status, 402);
      assert.match(String(challenged.headers['www-authenticate']), /lnbcrt90n1/);
      const deleted = await cli(['services', 'delete', '--name', 'made']);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal((await h1(`${p.aperture.url}/made/1`, p.target.cert === undefined ? {} : { ca: p.target.cert })).status, 404);
      const greedy = await cli(['services', 'create', '--name', 'greedy', '--address', backend.address, '--path-regexp', '^/api/']);
      assert.equal(greedy.code, 2, `a path capturing the admin API is an invalid argument: ${greedy.stderr}`);
      assert.match(greedy.stderr, /"exit_code":2/);
      const missing = await cli(['services', 'delete', '--name', 'nosuch']);
      assert.equal(missing.code, 5, missing.stderr);
    });

    test('transactions, tokens and stats of a token paid through the proxy; revoke; a wrong macaroon is exit 4', async () => {
      const token = await payFor(p.aperture.url, '/paid/x', p.target.cert);
      const txs = await cli(['transactions', 'list', '--service', 'paid']);
      assert.equal(txs.code, 0, txs.stderr);
      assert.ok(JSON.stringify(txs.json).includes(token.paymentHash), 'the paid challenge is listed');
      const tokens = await cli(['tokens', 'list']);
      assert.equal(tokens.code, 0, tokens.stderr);
      const list = (tokens.json as { tokens?: Array<{ tokenId: string; paymentHash: string }> }).tokens ?? [];
      const mine = list.find((t) => t.paymentHash === token.paymentHash);
      assert.ok(mine !== undefined, JSON.stringify(tokens.json));
      const stats = await cli(['stats']);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(String((stats.json as Record<string, unknown>)['totalRevenueSats']), '6');
      const revoked = await cli(['tokens', 'revoke', '--token-id', mine.tokenId]);
      assert.equal(revoked.code, 0, revoked.stderr);
      const after = await h1(`${p.aperture.url}/paid/x`, {
        headers: { authorization: token.authorization },
        ...(p.target.cert === undefined ? {} : { ca: p.target.cert }),
      });
      assert.equal(after.status, 402, 'a revoked token is refused at once');
      const wrong = join(dir, 'wrong.macaroon');
      writeFileSync(wrong, Buffer.from('0201036c6e64', 'hex'));
      const refused = await cli(['tokens', 'list'], wrong);
      assert.equal(refused.code, 4, refused.stderr);
    });
  });
}
