// The admin section (admin.enabled, admin.macaroonpath, admin.corsorigin,
// admin.allowinsecureremote, admin.dashboard) and one
// services[] entry validated by itself (what the admin API stores).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import {
  adminRootKeyPath,
  loadConfig,
  rawFromJson,
  rawToJson,
  resolveServiceEntry,
  type LoadConfigOptions,
} from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const minimal = 'listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  backend: dev\n';
const load = (text: string, extra: Partial<LoadConfigOptions> = {}): ReturnType<typeof loadConfig> =>
  loadConfig({ env: { HOME }, home: HOME, cwd: '/srv', fileExists: () => true, text: minimal + text, ...extra });

function issuesOf(text: string): Map<string, string> {
  try {
    load(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return new Map(err.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected a ConfigError');
}

test('admin: defaults as the reference (macaroon in the base directory, root key next to it)', () => {
  const { config } = load('');
  assert.deepEqual(config.admin, {
    enabled: false,
    macaroonPath: `${HOME}/.aperture/admin.macaroon`,
    rootKeyPath: `${HOME}/.aperture/admin.rootkey`,
    corsOrigins: [],
    allowInsecureRemote: false,
    dashboard: true,
  });
});

test('admin.dashboard: on by default with the admin API, off when false', () => {
  assert.equal(load('admin:\n  enabled: true\n').config.admin.dashboard, true);
  const off = load('admin:\n  enabled: true\n  dashboard: false\n');
  assert.equal(off.config.admin.dashboard, false);
  assert.deepEqual(
    off.warnings.filter((w) => w.path.startsWith('admin')),
    [],
  );
});

test('admin: the root key path is the macaroon path without .macaroon, plus .rootkey', () => {
  assert.equal(adminRootKeyPath('/var/lib/aperture/admin.macaroon'), '/var/lib/aperture/admin.rootkey');
  assert.equal(adminRootKeyPath('/etc/creds'), '/etc/creds.rootkey');
  assert.equal(adminRootKeyPath('/etc/a.macaroon.bak'), '/etc/a.macaroon.bak.rootkey');
  const { config } = load('admin:\n  macaroonpath: ~/keys/ops.macaroon\n');
  assert.equal(config.admin.macaroonPath, `${HOME}/keys/ops.macaroon`);
  assert.equal(config.admin.rootKeyPath, `${HOME}/keys/ops.rootkey`);
  const relative = load('admin:\n  macaroonpath: data/admin.macaroon\n');
  assert.equal(relative.config.admin.macaroonPath, '/srv/data/admin.macaroon');
});

test('admin: corsorigin takes "*" and origins, and refuses anything else by path', () => {
  const { config, warnings } = load(
    'admin:\n  enabled: true\n  corsorigin:\n    - https://dash.example.com\n    - "http://127.0.0.1:3000"\n    - "*"\n',
  );
  assert.deepEqual(config.admin.corsOrigins, ['https://dash.example.com', 'http://127.0.0.1:3000', '*']);
  // The program serves it: no warning.
  assert.deepEqual(
    warnings.filter((w) => w.path.startsWith('admin')),
    [],
  );
  // Settings of a disabled API are said to have no effect.
  const disabled = load('admin:\n  corsorigin: ["*"]\n  allowinsecureremote: true\n  dashboard: false\n');
  assert.deepEqual(
    disabled.warnings.filter((w) => w.path.startsWith('admin')).map((w) => `${w.kind} ${w.path}`),
    ['ignored admin.corsorigin', 'ignored admin.allowinsecureremote', 'ignored admin.dashboard'],
  );
  const issues = issuesOf(
    'admin:\n  corsorigin:\n    - https://dash.example.com/app\n    - ftp://x.example\n    - dash.example.com\n    - https://user@x.example\n',
  );
  assert.match(issues.get('admin.corsorigin[0]') ?? '', /is not an origin/);
  assert.match(issues.get('admin.corsorigin[1]') ?? '', /is not an origin/);
  assert.match(issues.get('admin.corsorigin[2]') ?? '', /is not an origin/);
  assert.match(issues.get('admin.corsorigin[3]') ?? '', /is not an origin/);
  assert.match(issuesOf('admin:\n  macaroonpath: /var/lib/aperture/\n').get('admin.macaroonpath') ?? '', /is a directory/);
});

test('resolveServiceEntry validates one entry as a file entry; strict makes unknown keys issues; the entry is kept as written', () => {
  const entry = {
    name: 'api',
    address: '127.0.0.1:8080',
    PathRegexp: '^/api',
    headers: { 'X-A.b': 'v' },
    ratelimits: [{ requests: 2, per: '1s' }],
  };
  const ok = resolveServiceEntry(entry, { context: { env: {}, cwd: '/srv', home: HOME } });
  assert.deepEqual(ok.issues, []);
  assert.equal(ok.service?.pathRegexp?.source, '^/api');
  assert.deepEqual(ok.service?.headers, { 'X-A.b': 'v' }, 'a dotted header name stays one key');
  assert.deepEqual(ok.service?.entry, entry);
  assert.deepEqual(rawToJson(rawFromJson(entry)), entry);
  const loose = resolveServiceEntry({ ...entry, tmeout: 3 });
  assert.ok(loose.service !== undefined);
  assert.equal(loose.warnings[0]?.kind, 'unknown-key');
  const strict = resolveServiceEntry({ ...entry, tmeout: 3, price: -2 }, { strict: true });
  assert.equal(strict.service, undefined);
  assert.deepEqual(strict.issues.map((i) => i.path).sort(), ['price', 'tmeout']);
  assert.match(strict.issues.find((i) => i.path === 'tmeout')?.message ?? '', /unknown key "tmeout" \(did you mean "timeout"\?\)/);
  assert.equal(resolveServiceEntry([1]).issues[0]?.path, '$');
});

test('services[] entries carry their entry as written; a file with a duplicate name is still refused', () => {
  const { config } = load('services:\n  - name: a\n    address: 127.0.0.1:1\n    headers:\n      X-K: ${K}\n', { env: { HOME, K: 'v' } });
  assert.deepEqual(config.services[0]?.entry, { name: 'a', address: '127.0.0.1:1', headers: { 'X-K': '${K}' } });
  assert.deepEqual(config.services[0]?.headers, { 'X-K': 'v' });
  const issues = issuesOf('services:\n  - name: a\n    address: 127.0.0.1:1\n  - name: a\n    address: 127.0.0.1:2\n');
  assert.match(issues.get('services[1].name') ?? '', /duplicate service name "a" \(also services\[0\]\)/);
});

test('admin: a plaintext listener on a non-loopback address is refused unless admin.allowinsecureremote', () => {
  const text = (listen: string, insecure: boolean, allow = ''): string =>
    `listenaddr: "${listen}"\ninsecure: ${insecure}\nauthenticator:\n  backend: dev\nadmin:\n  enabled: true\n${allow}`;
  const loadOwn = (t: string): ReturnType<typeof loadConfig> =>
    loadConfig({ env: { HOME }, home: HOME, cwd: '/srv', fileExists: () => true, text: t });
  for (const listen of ['0.0.0.0:8081', ':8081', '192.0.2.7:8081', '[::]:8081', 'gateway.example.com:8081']) {
    try {
      loadOwn(text(listen, true));
      assert.fail(`${listen} should be refused`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      const issue = err.issues.find((i) => i.path === 'admin.enabled');
      assert.match(issue?.message ?? '', /L402_ERR_ADMIN_INSECURE_REMOTE/, listen);
      assert.match(issue?.message ?? '', /admin\.allowinsecureremote/);
    }
  }
  for (const listen of ['127.0.0.1:8081', 'localhost:8081', '[::1]:8081', '127.8.9.10:1']) {
    assert.equal(loadOwn(text(listen, true)).config.admin.enabled, true, listen);
  }
  assert.equal(loadOwn(text('0.0.0.0:8081', false)).config.admin.enabled, true, 'TLS on every interface is fine');
  assert.equal(loadOwn(text('0.0.0.0:8081', true, '  allowinsecureremote: true\n')).config.admin.allowInsecureRemote, true);
  // The API disabled: nothing to refuse.
  assert.equal(loadOwn('listenaddr: "0.0.0.0:8081"\ninsecure: true\nauthenticator:\n  backend: dev\n').config.admin.enabled, false);
});
