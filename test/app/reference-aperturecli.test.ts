// The reference's own `aperturecli` (v0.5.0, built by scripts/build-go-tools.ts) against
// our program's admin API, unchanged: info, health, services list/create/update/delete,
// transactions list, tokens list/revoke, stats. Skips and says why without the binary,
// except under CI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { goBinaries, mustRun } from '../regtest/go-binaries.js';
import { h1 } from '../proxy/support.js';
import { tempBaseDir } from '../e2e/support.js';
import { echoBackend, payFor, startProgram, type Program } from './support.js';

const binaries = goBinaries(['aperturecli']);

describe('the reference aperturecli against our program', { skip: binaries.ok || mustRun ? undefined : binaries.reason }, () => {
  let p: Program;
  let backend: Awaited<ReturnType<typeof echoBackend>>;
  let dir: string;

  before(async () => {
    if (!binaries.ok) assert.fail(`CI must run the aperturecli test: ${binaries.reason}`);
    dir = tempBaseDir('aperture-program-cli-');
    backend = await echoBackend();
    p = await startProgram({
      kind: 'sqlite',
      dir,
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

  /** Runs aperturecli with the connection flags and `--json`; its exit code, stdout parsed, stderr. */
  function cli(...args: string[]): Promise<{ code: number; json: unknown; stderr: string }> {
    const bin = binaries.ok ? binaries.paths.aperturecli : '';
    const flags = [
      '--host',
      `127.0.0.1:${p.aperture.addresses.proxy.port}`,
      '--macaroon',
      join(dir, 'admin.macaroon'),
      '--insecure',
      '--json',
      '--timeout',
      '20s',
    ];
    return new Promise((resolve) => {
      execFile(bin, [...flags, ...args], { timeout: 60_000, env: { ...process.env, HOME: dir } }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        let json: unknown;
        try {
          json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
        } catch {
          json = stdout;
        }
        resolve({ code, json, stderr });
      });
    });
  }

  test('info and health', async () => {
    const info = await cli('info');
    assert.equal(info.code, 0, info.stderr);
    assert.equal((info.json as Record<string, unknown>)['network'], 'regtest');
    const health = await cli('health');
    assert.equal(health.code, 0, health.stderr);
    assert.equal((health.json as Record<string, unknown>)['status'], 'ok');
  });

  test('services: list, create (served at once), update, delete', async () => {
    const listed = await cli('services', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(JSON.stringify(listed.json), /"paid"/);
    const created = await cli(
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
    );
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await h1(`${p.aperture.url}/made/1`)).status, 200);
    const updated = await cli('services', 'update', '--name', 'made', '--auth', 'on', '--price', '9');
    assert.equal(updated.code, 0, updated.stderr);
    const challenged = await h1(`${p.aperture.url}/made/1`);
    assert.equal(challenged.status, 402);
    assert.match(String(challenged.headers['www-authenticate']), /lnbcrt90n1/);
    const deleted = await cli('services', 'delete', '--name', 'made');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await h1(`${p.aperture.url}/made/1`)).status, 404);
    const bad = await cli('services', 'create', '--name', 'greedy', '--address', backend.address, '--path-regexp', '^/api/');
    assert.notEqual(bad.code, 0, 'a path capturing the admin API is refused');
  });

  test('transactions, tokens and stats of a token paid through the proxy; revoke', async () => {
    const token = await payFor(p.aperture.url, '/paid/x');
    const txs = await cli('transactions', 'list');
    assert.equal(txs.code, 0, txs.stderr);
    const text = JSON.stringify(txs.json);
    assert.ok(text.includes(token.paymentHash), 'the paid challenge is listed');
    const tokens = await cli('tokens', 'list');
    assert.equal(tokens.code, 0, tokens.stderr);
    // aperturecli prints protojson's lowerCamelCase names.
    const list = (tokens.json as { tokens?: Array<{ tokenId: string; paymentHash: string }> }).tokens ?? [];
    const mine = list.find((t) => t.paymentHash === token.paymentHash);
    assert.ok(mine !== undefined, JSON.stringify(tokens.json));
    const stats = await cli('stats');
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(String((stats.json as Record<string, unknown>)['totalRevenueSats']), '6');
    const revoked = await cli('tokens', 'revoke', '--token-id', mine.tokenId);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.notEqual((await h1(`${p.aperture.url}/paid/x`, { headers: { authorization: token.authorization } })).status, 200);
  });
});
