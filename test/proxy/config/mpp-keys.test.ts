// The Payment scheme's keys (authenticator.enablempp, enablesessions, mpprealm,
// sessiondepositmultiplier, sessionidletimeout, paymacaroonpath, acceptgochallenges) and per-service
// authscheme, as --check-config sees them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { loadConfig, resolveServiceEntry, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const head = 'listenaddr: "localhost:8081"\ninsecure: true\n';
const load = (text: string, extra: Partial<LoadConfigOptions> = {}): ReturnType<typeof loadConfig> =>
  loadConfig({ env: { HOME }, home: HOME, cwd: '/srv', fileExists: () => true, text: head + text, ...extra });

function issuesOf(text: string, extra: Partial<LoadConfigOptions> = {}): Map<string, string> {
  try {
    load(text, extra);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return new Map(err.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected a ConfigError');
}

const service = (scheme: string): string =>
  `services:\n  - name: s\n    pathregexp: '^/s'\n    address: 127.0.0.1:1\n    price: 3\n    authscheme: ${scheme}\n`;

test('defaults as the reference: off, realm = listenaddr, deposit ×20, idle 300 s', () => {
  const { config, warnings } = load('authenticator:\n  backend: dev\n');
  const a = config.authenticator;
  assert.deepEqual(
    [a.enableMpp, a.enableSessions, a.mppRealm, a.sessionDepositMultiplier, a.sessionIdleTimeoutSeconds, a.payMacaroonPath],
    [false, false, 'localhost:8081', 20, 300, undefined],
  );
  assert.deepEqual(warnings, []);
});

test('enablempp and enablesessions are served: no warning, every key read', () => {
  const { config, warnings } = load(
    `authenticator:\n  backend: dev\n  enablempp: true\n  enablesessions: true\n  mpprealm: api.example.com\n  sessiondepositmultiplier: 5\n  sessionidletimeout: 60\n${service('l402+mpp')}`,
  );
  assert.deepEqual(warnings, []);
  assert.equal(config.authenticator.mppRealm, 'api.example.com');
  assert.equal(config.authenticator.sessionDepositMultiplier, 5);
  assert.equal(config.authenticator.sessionIdleTimeoutSeconds, 60);
  assert.equal(config.services[0]?.authScheme, 'l402+mpp');
  assert.equal(load(`authenticator:\n  backend: dev\n  enablempp: true\n${service('mpp')}`).config.services[0]?.authScheme, 'mpp');
});

test('a service naming mpp needs enablempp; sessions need enablempp', () => {
  assert.match(
    issuesOf(`authenticator:\n  backend: dev\n${service('mpp')}`).get('services[0].authscheme') ?? '',
    /needs authenticator\.enablempp: true/,
  );
  assert.match(
    issuesOf(`authenticator:\n  backend: dev\n${service('l402+mpp')}`).get('services[0].authscheme') ?? '',
    /needs authenticator\.enablempp/,
  );
  assert.match(
    issuesOf('authenticator:\n  backend: dev\n  enablesessions: true\n').get('authenticator.enablesessions') ?? '',
    /requires enablempp/,
  );
  assert.match(
    issuesOf(`authenticator:\n  backend: dev\n${service('bitcoin')}`).get('services[0].authscheme') ?? '',
    /must be l402, mpp or l402\+mpp/,
  );
  // With payments disabled, nothing is charged: the scheme is not checked.
  assert.equal(load(`authenticator:\n  disable: true\n${service('mpp')}`).config.services.length, 1);
});

test('keys without effect are named: MPP keys with enablempp off, session keys with sessions off, paymacaroonpath without sessions', () => {
  const off = load('authenticator:\n  backend: dev\n  mpprealm: x\n  sessionidletimeout: 10\n').warnings.map((w) => `${w.kind} ${w.path}`);
  assert.deepEqual(off, ['ignored authenticator.mpprealm', 'ignored authenticator.sessionidletimeout']);
  const noSessions = load(
    'authenticator:\n  backend: dev\n  enablempp: true\n  sessiondepositmultiplier: 3\n  paymacaroonpath: /x/admin.macaroon\n',
  ).warnings.map((w) => `${w.kind} ${w.path}`);
  assert.deepEqual(noSessions, ['ignored authenticator.sessiondepositmultiplier', 'ignored authenticator.paymacaroonpath']);
});

test('acceptgochallenges: unset leaves the default to the database, a value is read, and it is named when enablempp is off', () => {
  const mpp = 'authenticator:\n  backend: dev\n  enablempp: true\n';
  assert.equal(load(mpp).config.authenticator.acceptGoChallenges, undefined);
  for (const value of [true, false]) {
    const { config, warnings } = load(`${mpp}  acceptgochallenges: ${value}\n`);
    assert.equal(config.authenticator.acceptGoChallenges, value);
    assert.deepEqual(warnings, []);
  }
  const off = load('authenticator:\n  backend: dev\n  acceptgochallenges: true\n').warnings.map((w) => `${w.kind} ${w.path}`);
  assert.deepEqual(off, ['ignored authenticator.acceptgochallenges']);
});

test('lnd with sessions needs paymacaroonpath, a macaroon that can pay refunds', () => {
  const lnd =
    'authenticator:\n  lndhost: localhost:10009\n  tlspath: /lnd/tls.cert\n  macdir: /lnd\n  enablempp: true\n  enablesessions: true\n';
  assert.match(issuesOf(lnd).get('authenticator.paymacaroonpath') ?? '', /offchain:write/);
  const { config, warnings } = load(`${lnd}  paymacaroonpath: ~/lnd/admin.macaroon\n`);
  assert.equal(config.authenticator.payMacaroonPath, `${HOME}/lnd/admin.macaroon`);
  assert.deepEqual(warnings, []);
  const missing = load(`${lnd}  paymacaroonpath: /nowhere/admin.macaroon\n`, { fileExists: (p) => p !== '/nowhere/admin.macaroon' });
  assert.deepEqual(
    missing.warnings.map((w) => `${w.kind} ${w.path}`),
    ['missing-file authenticator.paymacaroonpath'],
  );
});

test('a realm with a control character is refused (a challenge line could not carry it)', () => {
  assert.match(
    issuesOf('authenticator:\n  backend: dev\n  enablempp: true\n  mpprealm: "api\\nexample"\n').get('authenticator.mpprealm') ?? '',
    /without control characters/,
  );
});

test('one entry by itself (the admin API): mpp refused when the program has it off, accepted when on or unknown', () => {
  const entry = { name: 's', address: '127.0.0.1:1', pathregexp: '^/s', authscheme: 'mpp' };
  assert.match(resolveServiceEntry(entry, { defaults: { mppEnabled: false } }).issues[0]?.message ?? '', /enablempp/);
  assert.equal(resolveServiceEntry(entry, { defaults: { mppEnabled: true } }).service?.authScheme, 'mpp');
  assert.equal(resolveServiceEntry(entry).service?.authScheme, 'mpp');
});
