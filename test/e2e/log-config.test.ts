// Config keys that used to be accepted and do nothing: each is acted on or warned about by name
// (by --check-config and at start-up); `debuglevel` subsystem parts and `logging.console` apply;
// the reference's access-log line is written per request, and `logging.accesslog: false` stops it.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { checkConfig } from '../../src/proxy/config/check-config.js';
import { createLogger, subsystemLogger } from '../../src/proxy/ops/logger.js';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode, type Spawned } from './spawn.js';
import { freePort, tempBaseDir } from './support.js';

/** Keys that have no effect here, each with the warning path it must get. */
const INERT = `
etcd:
  host: localhost:2379
  user: u
  password: p
hashmail:
  messagerate: 20ms
  messageburstallowance: 1000
  staletimeout: 5m
tor:
  listenport: 8082
  virtualport: 8082
admin:
  macaroonpath: /tmp/admin.macaroon
logging:
  console:
    style: true
    callsite: short
`;
const INERT_AUTH = `
  wavelengthmacaroonpath: /tmp/wl.macaroon
  mpprealm: example.com
  sessiondepositmultiplier: 30
  sessionidletimeout: 600
`;
const WARNED = [
  'etcd.host',
  'etcd.user',
  'etcd.password',
  'hashmail.messagerate',
  'hashmail.messageburstallowance',
  'hashmail.staletimeout',
  'tor.listenport',
  'tor.virtualport',
  'admin.macaroonpath',
  'logging.console.style',
  'logging.console.callsite',
  'authenticator.wavelengthmacaroonpath',
  'authenticator.mpprealm',
  'authenticator.sessiondepositmultiplier',
  'authenticator.sessionidletimeout',
  'services[0].dynamicprice.usagetailbytes',
  'debuglevel',
];

function config(port: number, backend: string, extra: { debuglevel: string; logging?: string; inert?: boolean }): string {
  return `
listenaddr: 127.0.0.1:${port}
insecure: true
debuglevel: ${extra.debuglevel}
authenticator:
  backend: dev${extra.inert === true ? INERT_AUTH : ''}
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend}
    price: 5
    dynamicprice:
      usagetailbytes: 4096
${extra.inert === true ? INERT : ''}${extra.logging ?? ''}`;
}

test('--check-config names every inert key, the subsystem without log lines, and refuses an unknown subsystem', async () => {
  const dir = tempBaseDir();
  try {
    const text = config(8081, '127.0.0.1:9', { debuglevel: 'info,PRXY=debug,MINT=trace', inert: true });
    const report = checkConfig({ text, baseDir: dir });
    assert.equal(report.ok, true, JSON.stringify(report.issues));
    const paths = report.warnings.map((w) => w.path);
    for (const path of WARNED) assert.ok(paths.includes(path), `no warning for ${path}: ${paths.join(', ')}`);
    assert.match(report.warnings.find((w) => w.path === 'debuglevel')?.message ?? '', /subsystem MINT/);
    assert.deepEqual(report.config?.logSubsystems, { PRXY: 'debug' });
    assert.equal(report.config?.logLevel, 'info');

    const unknown = checkConfig({ text: config(8081, '127.0.0.1:9', { debuglevel: 'info,NOPE=debug' }), baseDir: dir });
    assert.equal(unknown.ok, false);
    assert.match(unknown.issues.find((i) => i.path === 'debuglevel')?.message ?? '', /unknown subsystem "NOPE"/);

    // The same through the program.
    const file = join(dir, 'inert.yaml');
    writeFileSync(file, text);
    const p = spawnNode('bin/aperture.js', ['--check-config', '--config', file, '--basedir', dir]);
    assert.equal(await p.exited, 0, p.output());
    for (const path of WARNED)
      assert.ok(p.output().includes(`${path} `) || p.output().includes(`${path}:`), `${path} missing from:\n${p.output()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createLogger: global and per-subsystem levels, the console threshold, disable, no timestamps', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  });
  const root = createLogger({ level: 'warn', subsystems: { PRXY: 'debug' }, consoleLevel: 'info', noTimestamps: true }, sink);
  const aper = subsystemLogger(root, 'APER');
  const prxy = subsystemLogger(root, 'PRXY');
  aper.info('aper info');
  aper.warn('aper warn');
  prxy.debug('prxy debug');
  prxy.info('prxy info');
  assert.deepEqual(
    lines.map((l) => `${String(l['subsystem'])} ${String(l['msg'])}`),
    ['APER aper warn', 'PRXY prxy info'],
  );
  assert.ok(lines.every((l) => !('time' in l)));
  lines.length = 0;
  const off = createLogger({ level: 'trace', disable: true }, sink);
  subsystemLogger(off, 'PRXY').error('nothing');
  assert.deepEqual(lines, []);
});

test(
  'at start-up: the warnings by name, levels per subsystem, the access-log line per request; logging.accesslog: false stops it',
  { timeout: 60_000 },
  async () => {
    const backend = await startBackend((_req, res) => res.end('ok'));
    const dir = tempBaseDir();
    const children: Spawned[] = [];
    const run = (file: string): Spawned => {
      const p = spawnNode('bin/aperture.js', ['--config', file, '--basedir', dir]);
      children.push(p);
      return p;
    };
    try {
      // Global warn, PRXY at info: the access log is written, APER's info lines ("store open") are not.
      const port = await freePort();
      const file = join(dir, 'a.yaml');
      writeFileSync(
        file,
        config(port, backend.address, { debuglevel: 'warn,PRXY=info,MINT=debug', inert: true, logging: '' }).replace(
          '    callsite: short\n',
          '    callsite: short\n    notimestamps: true\n',
        ),
      );
      const a = run(file);
      await a.waitFor(/aperture listening on/);
      for (const path of WARNED) assert.ok(a.output().includes(`warning: ${path}`), `${path} missing from:\n${a.output()}`);
      const res = await h1(`http://127.0.0.1:${port}/api/quote?x=1`, {
        headers: { 'user-agent': 'log-test/1', referer: 'http://example/' },
      });
      assert.equal(res.status, 402);
      const line = await a.waitFor(/\{[^\n]*"subsystem":"PRXY"[^\n]*\}\n/);
      const entry = JSON.parse(line[0]) as Record<string, unknown>;
      assert.equal(entry['msg'], '127.0.0.1 - - "GET /api/quote?x=1 HTTP/1.1" "http://example/" "log-test/1"');
      assert.equal(entry['level'], 30);
      assert.equal(entry['status'], 402);
      assert.equal('time' in entry, false, 'logging.console.notimestamps');
      assert.doesNotMatch(a.output(), /"msg":"store open"/);
      a.child.kill('SIGTERM');
      assert.equal(await a.exited, 0, a.output());

      // Default level, access log off, console threshold warn: no info line at all.
      const port2 = await freePort();
      const file2 = join(dir, 'b.yaml');
      writeFileSync(
        file2,
        config(port2, backend.address, { debuglevel: 'debug', logging: 'logging:\n  accesslog: false\n  console:\n    level: warn\n' }),
      );
      const b = run(file2);
      await b.waitFor(/aperture listening on/);
      assert.equal((await h1(`http://127.0.0.1:${port2}/api/quote`)).status, 402);
      b.child.kill('SIGTERM');
      assert.equal(await b.exited, 0, b.output());
      assert.doesNotMatch(b.output(), /"level":(10|20|30)/);
      assert.doesNotMatch(b.output(), /GET \/api\/quote/);

      // debuglevel info, access log off: info lines are there, the access line is not.
      const port3 = await freePort();
      const file3 = join(dir, 'c.yaml');
      writeFileSync(file3, config(port3, backend.address, { debuglevel: 'info', logging: 'logging:\n  accesslog: false\n' }));
      const c = run(file3);
      await c.waitFor(/"msg":"store open"/);
      await c.waitFor(/aperture listening on/);
      assert.equal((await h1(`http://127.0.0.1:${port3}/api/quote`)).status, 402);
      c.child.kill('SIGTERM');
      assert.equal(await c.exited, 0, c.output());
      assert.doesNotMatch(c.output(), /GET \/api\/quote/);
    } finally {
      for (const p of children) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await Promise.all(children.map((p) => p.exited));
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
