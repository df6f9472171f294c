// The `aperture` program as operators run it: bin/aperture.js as a child process.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { freePort, repoRoot, tempBaseDir } from './support.js';

const sample = join(repoRoot, 'test', 'fixtures', 'reference', 'sample-conf.yaml');

test('--check-config accepts the reference sample unchanged (warnings printed, exit 0)', async () => {
  const p = spawnNode('bin/aperture.js', ['--check-config', '--config', sample]);
  assert.equal(await p.exited, 0, p.output());
  assert.match(p.output(), /OK: configuration is valid \(3 services, \d+ warnings\)/);
  assert.match(p.output(), /enbled/);
});

test('a configuration with many mistakes: every one listed, non-zero exit, nothing started', async (t) => {
  const dir = tempBaseDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `
listenaddr: nonsense
dbbackend: etcd
readtimeout: 15
authenticator:
  backend: dev
services:
  - name: a b
    address: 127.0.0.1:8080
    auth: sometimes
    price: -1
    ratelimits:
      - requests: 0
        per: 1s
`,
  );
  for (const flag of ['--check-config', undefined]) {
    const p = spawnNode('bin/aperture.js', ['--config', file, '--basedir', dir, ...(flag === undefined ? [] : [flag])]);
    const code = await p.exited;
    assert.equal(code, 1, p.output());
    const out = p.output();
    for (const path of [
      'listenaddr',
      'dbbackend',
      'readtimeout',
      'services[0].name',
      'services[0].auth',
      'services[0].price',
      'services[0].ratelimits[0].requests',
    ]) {
      assert.ok(out.includes(path), `${path} missing from:\n${out}`);
    }
    assert.match(out, /FAILED/);
    if (flag === undefined) assert.match(out, /not started/);
  }
});

test('a bad flag exits 2 with usage', async () => {
  const p = spawnNode('bin/aperture.js', ['oops']);
  assert.equal(await p.exited, 2);
  assert.match(p.output(), /L402_ERR_CLI_BAD_ARGUMENT/);
  assert.match(p.output(), /Usage: aperture/);
});

test('an unknown --flag is refused before anything starts, naming the closest known flag', async (t) => {
  const dir = tempBaseDir(t);
  const port = await freePort();
  // A valid configuration: without the check, --chek-config would start the proxy on it.
  writeFileSync(
    join(dir, 'aperture.yaml'),
    `
listenaddr: 127.0.0.1:${port}
insecure: true
authenticator:
  disable: true
services: []
`,
  );
  const cases: Array<[string[], RegExp]> = [
    [['--chek-config'], /unknown flag --chek-config \(did you mean --check-config\?\)/],
    [['--lisenaddr=127.0.0.1:1'], /unknown flag --lisenaddr \(did you mean --listenaddr\?\)/],
    [['--authenticator.lndhots', 'localhost:10009'], /unknown flag --authenticator\.lndhots \(did you mean --authenticator\.lndhost\?\)/],
    [['--verison'], /unknown flag --verison \(did you mean --version\?\)/],
    [['--no-such-thing'], /unknown flag --no-such-thing \[/],
  ];
  for (const [args, message] of cases) {
    const p = spawnNode('bin/aperture.js', ['--basedir', dir, ...args]);
    // Without the check the proxy starts: stop it then, and fail.
    const started = p.waitFor(/aperture listening/).then(
      () => 'started',
      () => 'exited',
    );
    if ((await Promise.race([started, p.exited])) === 'started') {
      p.child.kill('SIGKILL');
      await p.exited;
      assert.fail(`${args.join(' ')} started the proxy:\n${p.output()}`);
    }
    assert.equal(await p.exited, 2, p.output());
    assert.match(p.output(), message);
    assert.match(p.output(), /L402_ERR_CLI_BAD_ARGUMENT/);
    assert.match(p.output(), /Usage: aperture/);
    assert.doesNotMatch(p.output(), /listening/);
  }
  // Known keys still override, as in the Go aperture (here one that keeps it from starting).
  const known = spawnNode('bin/aperture.js', ['--basedir', dir, '--check-config', '--debuglevel=trace', '--authenticator.disable']);
  assert.equal(await known.exited, 0, known.output());
});

test('aperture --version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const p = spawnNode('bin/aperture.js', ['--version']);
  assert.equal(await p.exited, 0);
  assert.equal(p.output(), `aperture ${pkg.version} (aperture-ts)\n`);
});

test('SIGTERM drains an in-flight request, then exits 0; a second instance on the same port fails clearly', async (t) => {
  let release: (() => void) | undefined;
  let arrived: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const backend = await startBackend((_req, res) => {
    release = () => res.end('finished after SIGTERM\n');
    arrived();
  });
  const dir = tempBaseDir(t);
  const port = await freePort();
  writeFileSync(
    join(dir, 'aperture.yaml'),
    `
listenaddr: 127.0.0.1:${port}
insecure: true
debuglevel: warn
authenticator:
  disable: true
services:
  - name: slow
    hostregexp: '.*'
    address: ${backend.address}
`,
  );
  const p = spawnNode('bin/aperture.js', ['--basedir', dir], {}, t);
  await p.waitFor(/aperture listening on http:\/\/127\.0\.0\.1:\d+/);
  await p.waitFor(/heap: the old generation grows to 1\.50× the live heap between full collections \(APERTURE_HEAP_GROWING_PERCENT=50\)/);

  const second = spawnNode('bin/aperture.js', ['--basedir', dir], {}, t);
  assert.equal(await second.exited, 1);
  assert.match(
    second.output(),
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\[L402_ERR_PROXY_ADDRESS_IN_USE\\]`),
  );

  const pending = h1(`http://127.0.0.1:${port}/work`);
  await reached;
  p.child.kill('SIGTERM');
  await p.waitFor(/draining in-flight requests/);
  release?.();
  const res = await pending;
  assert.equal(res.status, 200);
  assert.equal(res.body, 'finished after SIGTERM\n');
  assert.equal(await p.exited, 0, p.output());
  assert.match(p.output(), /aperture: stopped/);
  await backend.close();
});

test('a bad APERTURE_HEAP_GROWING_PERCENT is refused with a coded error before anything starts', async (t) => {
  const dir = tempBaseDir(t);
  writeFileSync(
    join(dir, 'aperture.yaml'),
    `
listenaddr: 127.0.0.1:1
insecure: true
authenticator:
  disable: true
services: []
`,
  );
  const p = spawnNode('bin/aperture.js', ['--basedir', dir], { APERTURE_HEAP_GROWING_PERCENT: 'lots' });
  assert.equal(await p.exited, 1, p.output());
  assert.match(p.output(), /APERTURE_HEAP_GROWING_PERCENT must be an integer from 0 to 1000 \(got "lots"\) \[L402_ERR_CONFIG_INVALID\]/);
  assert.doesNotMatch(p.output(), /listening/);
});
