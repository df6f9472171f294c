// Routing expressions that make a backtracking engine run for hours (issue 14, item 3), through the
// `aperture` program as operators run it. The program runs in a child process, so that without
// linear-time matching it is the child that blocks, and this test fails on its timeout instead of
// hanging with it.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { freePort, tempBaseDir } from './support.js';

test('--check-config refuses what Go refuses, naming every key', async () => {
  const dir = tempBaseDir();
  try {
    const file = join(dir, 'aperture.yaml');
    writeFileSync(
      file,
      `
listenaddr: 127.0.0.1:8081
authenticator:
  backend: dev
services:
  - name: api
    hostregexp: 'a{1001}'
    pathregexp: '^/(x{2,1001})$'
    address: 127.0.0.1:8080
    authwhitelistpaths: ['^/free$', '(?:a{100}){11}']
    authskipinvoicecreationpaths: ['(?=lookahead)']
    ratelimits:
      - pathregexp: '\\Z'
        requests: 1
        per: 1s
`,
    );
    const p = spawnNode('bin/aperture.js', ['--check-config', '--config', file, '--basedir', dir]);
    assert.equal(await p.exited, 1, p.output());
    const out = p.output();
    const refusals: [string, string][] = [
      ['services[0].hostregexp', 'invalid repeat count'],
      ['services[0].pathregexp', 'invalid repeat count'],
      ['services[0].authwhitelistpaths[1]', 'invalid repeat count'],
      ['services[0].authskipinvoicecreationpaths[0]', 'invalid or unsupported Perl syntax'],
      ['services[0].ratelimits[0].pathregexp', 'invalid escape sequence'],
    ];
    for (const [path, reason] of refusals) {
      const line = out.split('\n').find((l) => l.includes(`✗ ${path} (line`));
      assert.ok(line !== undefined, `${path} missing from:\n${out}`);
      assert.ok(line.includes(reason), `${path}: expected "${reason}" in ${line}`);
    }
    assert.ok(!out.includes('authwhitelistpaths[0]'), 'a valid expression is not reported');
    assert.match(out, /FAILED/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Rejects when `promise` has not settled after `ms`: a blocked child must fail the test, not hang it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

test('a request built to make the path or host expression backtrack is answered, and so is the request next to it', async () => {
  const backend = await startBackend((req, res) => res.end(`${req.headers['x-service'] as string} ${req.url as string}`));
  const dir = tempBaseDir();
  const port = await freePort();
  // Each service tells the backend its name, so the answers show where routing sent each request.
  writeFileSync(
    join(dir, 'aperture.yaml'),
    `
listenaddr: 127.0.0.1:${port}
insecure: true
debuglevel: info
authenticator:
  disable: true
services:
  - name: evilpath
    pathregexp: '^/(a+)+$'
    address: ${backend.address}
    headers: { X-Service: evilpath }
  - name: evilhost
    hostregexp: '^(h|h)*$'
    address: ${backend.address}
    headers: { X-Service: evilhost }
  - name: rest
    hostregexp: '.*'
    address: ${backend.address}
    headers: { X-Service: rest }
`,
  );
  const p = spawnNode('bin/aperture.js', ['--basedir', dir]);
  try {
    await p.waitFor(/aperture listening/);
    const url = `http://127.0.0.1:${port}`;
    // 40 characters, then one that fails the match: 2^40 steps for a backtracking engine.
    const evilPath = `/${'a'.repeat(40)}!`;
    const evilHost = `${'h'.repeat(40)}x`;
    const answers = await within(
      Promise.all([
        h1(`${url}${evilPath}`),
        h1(`${url}/x`, { headers: ['Host', evilHost] }),
        // Sent while the two above are being routed: a blocked process would answer neither.
        h1(`${url}/${'a'.repeat(40)}`),
        h1(`${url}/y`, { headers: ['Host', 'hhhh'] }),
      ]),
      30_000,
      'the process is blocked (a backtracking engine needs hours for these requests)',
    );
    assert.deepEqual(
      answers.map((a) => [a.status, a.body]),
      [
        [200, `rest ${evilPath}`],
        [200, 'rest /x'],
        [200, `evilpath /${'a'.repeat(40)}`],
        [200, 'evilhost /y'],
      ],
    );
  } finally {
    // SIGKILL: a process blocked in a regexp would never run its SIGTERM handler.
    p.child.kill('SIGKILL');
    await p.exited;
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
