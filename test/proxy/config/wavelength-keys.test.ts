// authenticator.wavelengthgateway and wavelengthmacaroonpath (the reference's keys): setting the gateway
// selects the Wavelength backend, as in the reference; --check-config validates them and refuses what the
// reference refuses (lndhost or passphrase beside it, strictverify) and what this backend cannot serve
// (enablesessions: refunds are amountless invoices, which the Wavelength payer cannot pay).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfig, loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const base = (auth: string, top = '', exists = true): LoadConfigOptions => ({
  text: `listenaddr: "localhost:8081"\n${top}authenticator:\n${auth}`,
  env: { HOME },
  home: HOME,
  fileExists: () => exists,
});

test('wavelengthgateway selects the backend; the macaroon path is `~` expanded; no warnings', () => {
  const { config, warnings } = loadConfig(
    base('  wavelengthgateway: "http://localhost:10061/"\n  wavelengthmacaroonpath: ~/.waved/wallet.macaroon\n'),
  );
  assert.deepEqual(warnings, []);
  assert.equal(config.authenticator.backend, 'wavelength');
  assert.deepEqual(config.authenticator.wavelength, { gateway: 'http://localhost:10061', macaroonPath: `${HOME}/.waved/wallet.macaroon` });
  // backend: wavelength says the same.
  const named = loadConfig(base('  backend: wavelength\n  wavelengthgateway: https://wallet.example.com\n  wavelengthmacaroonpath: /m\n'));
  assert.equal(named.config.authenticator.backend, 'wavelength');
});

test('without wavelengthmacaroonpath, or with a missing file, the start is allowed with a warning naming the key', () => {
  const none = checkConfig(base('  wavelengthgateway: http://localhost:10061\n'));
  assert.equal(none.ok, true, JSON.stringify(none.issues));
  const warning = none.warnings.find((w) => w.path === 'authenticator.wavelengthmacaroonpath');
  assert.match(warning?.message ?? '', /no credential.*rpc\.no-macaroons/);
  const missing = checkConfig(base('  wavelengthgateway: http://localhost:10061\n  wavelengthmacaroonpath: /nope.macaroon\n', '', false));
  assert.equal(missing.ok, true);
  assert.deepEqual(
    missing.warnings.map((w) => [w.path, w.kind]),
    [['authenticator.wavelengthmacaroonpath', 'missing-file']],
  );
});

test('refused: a bad gateway URL, backend: wavelength without one, lndhost or passphrase beside it, strictverify, enablesessions', () => {
  for (const [auth, top, path, message] of [
    ['  wavelengthgateway: localhost:10061\n', '', 'authenticator.wavelengthgateway', /http:\/\/ or https:\/\//],
    ['  wavelengthgateway: "http://h:1/?x=1"\n', '', 'authenticator.wavelengthgateway', /without query/],
    ['  backend: wavelength\n', '', 'authenticator.wavelengthgateway', /needs wavelengthgateway/],
    ['  wavelengthgateway: http://h:1\n  lndhost: localhost:10009\n', '', 'authenticator.lndhost', /Wavelength/],
    ['  wavelengthgateway: http://h:1\n  passphrase: a b c\n', '', 'authenticator.passphrase', /Wavelength/],
    ['  wavelengthgateway: http://h:1\n', 'strictverify: true\n', 'strictverify', /reports no settlement/],
    [
      '  wavelengthgateway: http://h:1\n  enablempp: true\n  network: regtest\n  enablesessions: true\n',
      '',
      'authenticator.enablesessions',
      /without an amount, which the Wavelength wallet cannot pay/,
    ],
  ] as const) {
    const report = checkConfig(base(auth, top));
    assert.equal(report.ok, false, auth);
    const issue = report.issues.find((i) => i.path === path);
    assert.ok(issue !== undefined, `${auth}: ${JSON.stringify(report.issues)}`);
    assert.match(issue.message, message);
  }
  // MPP charges are fine: they are verified by the preimage.
  assert.equal(
    checkConfig(base('  wavelengthgateway: http://h:1\n  wavelengthmacaroonpath: /m\n  enablempp: true\n  network: regtest\n')).ok,
    true,
  );
  const noNetwork = checkConfig(base('  wavelengthgateway: http://h:1\n  wavelengthmacaroonpath: /m\n  enablempp: true\n'));
  assert.ok(
    noNetwork.issues.some(
      (i) => i.path === 'authenticator.network' && /the Wavelength wallet needs authenticator\.network/.test(i.message),
    ),
    JSON.stringify(noNetwork.issues),
  );
});

test('another backend named: the Wavelength keys are warned about as ignored', () => {
  const report = checkConfig(base('  backend: dev\n  wavelengthgateway: http://h:1\n  wavelengthmacaroonpath: /m\n'));
  assert.equal(report.ok, true, JSON.stringify(report.issues));
  for (const key of ['wavelengthgateway', 'wavelengthmacaroonpath']) {
    const w = report.warnings.find((x) => x.path === `authenticator.${key}`);
    assert.equal(w?.kind, 'ignored', key);
    assert.match(w?.message ?? '', /backend is dev/);
  }
});
