// authenticator.backend: cln | lnbits | phoenixd | nwc and their keys (extensions): URL, credential
// (a value with ${ENV}, or a file), CA certificate, the credential paying session refunds;
// validated by --check-config.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { checkConfig, loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const base = (auth: string, env: Record<string, string> = {}, exists = true): LoadConfigOptions => ({
  text: `listenaddr: "localhost:8081"\nauthenticator:\n${auth}`,
  env: { HOME, ...env },
  home: HOME,
  fileExists: () => exists,
});

test('cln: URL, rune from ${ENV}, CA; the rune never prints', () => {
  const { config, warnings } = loadConfig(
    base(
      '  backend: cln\n  clnresturl: "https://127.0.0.1:3010/"\n  clnrune: "${CLN_RUNE}"\n  clncacertpath: ~/.lightning/regtest/ca.pem\n',
      { CLN_RUNE: 'secret-rune' },
    ),
  );
  assert.deepEqual(warnings, []);
  assert.equal(config.authenticator.backend, 'cln');
  const http = config.authenticator.http;
  assert.ok(http !== undefined);
  assert.equal(http.url, 'https://127.0.0.1:3010');
  assert.equal(http.secret?.reveal(), 'secret-rune');
  assert.equal(http.caCertPath, `${HOME}/.lightning/regtest/ca.pem`);
  assert.ok(!JSON.stringify(config).includes('secret-rune'));
  assert.ok(!inspect(config, { depth: 10 }).includes('secret-rune'));
  assert.ok(!`${String(http.secret)}`.includes('secret-rune'));
});

test('lnbits and phoenixd: credentials from files, `~` expanded; a missing file is a warning', () => {
  const lnbits = loadConfig(base('  backend: lnbits\n  lnbitsurl: https://lnbits.example.com\n  lnbitsinvoicekeyfile: ~/lnbits.key\n'));
  assert.equal(lnbits.config.authenticator.http?.secretFile, `${HOME}/lnbits.key`);
  assert.equal(lnbits.config.authenticator.http?.secret, undefined);
  const report = checkConfig(
    base('  backend: phoenixd\n  phoenixdurl: http://127.0.0.1:9740\n  phoenixdpasswordfile: ~/.phoenix/limited\n', {}, false),
  );
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.warnings.map((w) => [w.path, w.kind]),
    [['authenticator.phoenixdpasswordfile', 'missing-file']],
  );
});

test('errors name the key: missing URL or credential, both forms, unset ${ENV}, bad URL, unknown backend', () => {
  for (const [auth, paths] of [
    ['  backend: cln\n  clnrune: x\n', ['authenticator.clnresturl']],
    ['  backend: cln\n  clnresturl: https://h:1\n', ['authenticator.clnrune']],
    ['  backend: lnbits\n  lnbitsurl: https://h\n  lnbitsinvoicekey: a\n  lnbitsinvoicekeyfile: /k\n', ['authenticator.lnbitsinvoicekey']],
    ['  backend: phoenixd\n  phoenixdurl: https://h\n  phoenixdpassword: "${NOPE}"\n', ['authenticator.phoenixdpassword']],
    ['  backend: phoenixd\n  phoenixdurl: ftp://h\n  phoenixdpassword: p\n', ['authenticator.phoenixdurl']],
    ['  backend: eclair\n', ['authenticator.backend']],
  ] as const) {
    assert.throws(
      () => loadConfig(base(auth)),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.deepEqual(
          err.issues.map((i) => i.path),
          paths,
          auth,
        );
        return true;
      },
    );
  }
});

test("another backend's keys are ignored with a warning naming them", () => {
  const report = checkConfig(base('  backend: dev\n  clnrune: x\n  lnbitsurl: https://h\n'));
  assert.equal(report.ok, true);
  assert.deepEqual(report.warnings.map((w) => [w.path, w.kind]).sort(), [
    ['authenticator.clnrune', 'ignored'],
    ['authenticator.lnbitsurl', 'ignored'],
  ]);
  const cln = checkConfig(
    base('  backend: cln\n  clnresturl: http://127.0.0.1:3010\n  clnrune: r\n  clncacertpath: /ca.pem\n  lndhost: localhost:10009\n'),
  );
  assert.deepEqual(cln.warnings.map((w) => [w.path, w.kind]).sort(), [
    ['authenticator.clncacertpath', 'ignored'],
    ['authenticator.lndhost', 'ignored'],
  ]);
});

test('nwc: the connection URI from ${ENV} or a file, checked at load; no URL or CA keys', () => {
  const uri = `nostr+walletconnect://${'c'.repeat(64)}?relay=wss://relay.example.com&secret=${'d'.repeat(64)}`;
  const { config, warnings } = loadConfig(base('  backend: nwc\n  nwcuri: "${NWC_URI}"\n', { NWC_URI: uri }));
  assert.deepEqual(warnings, []);
  assert.equal(config.authenticator.backend, 'nwc');
  assert.equal(config.authenticator.http?.secret?.reveal(), uri);
  assert.ok(!JSON.stringify(config).includes('d'.repeat(64)));
  assert.equal(loadConfig(base('  backend: nwc\n  nwcurifile: ~/nwc.uri\n')).config.authenticator.http?.secretFile, `${HOME}/nwc.uri`);
  assert.throws(
    () => loadConfig(base('  backend: nwc\n  nwcuri: https://not-nwc\n')),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['authenticator.nwcuri'],
      );
      return true;
    },
  );
});

const NWC_URI = (n: string): string =>
  `nostr+walletconnect://0000000000000000000000000000000000000000000000000000000000000001?relay=wss://relay.example.com&secret=${n.repeat(64)}`;

test('enablesessions with cln, phoenixd or nwc needs the paying credential, named; from ${ENV} or a file, never printed', () => {
  for (const [kind, keys, payKey, payFileKey, payValue] of [
    ['cln', '  clnresturl: "https://127.0.0.1:3010/"\n  clnrune: r\n', 'clnpayrune', 'clnpayrunefile', 'pay-rune'],
    [
      'phoenixd',
      '  phoenixdurl: http://127.0.0.1:9740\n  phoenixdpassword: p\n',
      'phoenixdpaypassword',
      'phoenixdpaypasswordfile',
      'full-password',
    ],
    ['nwc', `  nwcuri: "${NWC_URI('2')}"\n`, 'nwcpayuri', 'nwcpayurifile', NWC_URI('3')],
  ] as const) {
    const missing = checkConfig(base(`  backend: ${kind}\n${keys}  enablempp: true\n  network: regtest\n  enablesessions: true\n`));
    assert.equal(missing.ok, false, kind);
    const issue = missing.issues.find((i) => i.path === `authenticator.${payKey}`);
    assert.ok(issue !== undefined, `${kind}: ${JSON.stringify(missing.issues)}`);
    assert.match(issue.message, new RegExp(`${payKey} or ${payFileKey}`));

    const fromEnv = loadConfig(
      base(`  backend: ${kind}\n${keys}  enablempp: true\n  network: regtest\n  enablesessions: true\n  ${payKey}: "\${PAY}"\n`, {
        PAY: payValue,
      }),
    );
    assert.deepEqual(fromEnv.warnings, [], kind);
    assert.equal(fromEnv.config.authenticator.http?.paySecret?.reveal(), payValue, kind);
    assert.ok(!JSON.stringify(fromEnv.config).includes(payValue), `${kind}: never printed`);
    assert.ok(!inspect(fromEnv.config, { depth: 10 }).includes(payValue), `${kind}: never printed`);

    const fromFile = loadConfig(
      base(`  backend: ${kind}\n${keys}  enablempp: true\n  network: regtest\n  enablesessions: true\n  ${payFileKey}: ~/pay\n`),
    );
    assert.equal(fromFile.config.authenticator.http?.paySecretFile, `${HOME}/pay`, kind);

    const both = checkConfig(
      base(
        `  backend: ${kind}\n${keys}  enablempp: true\n  network: regtest\n  enablesessions: true\n  ${payKey}: x\n  ${payFileKey}: ~/pay\n`,
      ),
    );
    assert.ok(
      both.issues.some((i) => i.path === `authenticator.${payKey}` && /not both/.test(i.message)),
      `${kind}: ${JSON.stringify(both.issues)}`,
    );

    const unused = checkConfig(base(`  backend: ${kind}\n${keys}  enablempp: true\n  network: regtest\n  ${payFileKey}: ~/pay\n`));
    assert.equal(unused.ok, true, kind);
    assert.deepEqual(
      unused.warnings.map((w) => [w.path, w.kind]),
      [[`authenticator.${payFileKey}`, 'ignored']],
      kind,
    );
  }
  const badUri = checkConfig(
    base(
      `  backend: nwc\n  nwcuri: "${NWC_URI('2')}"\n  enablempp: true\n  network: regtest\n  enablesessions: true\n  nwcpayuri: "not a uri"\n`,
    ),
  );
  assert.ok(badUri.issues.some((i) => i.path === 'authenticator.nwcpayuri' && /Nostr Wallet Connect URI/.test(i.message)));
  const otherBackend = checkConfig(base(`  backend: cln\n  clnresturl: "https://127.0.0.1:3010/"\n  clnrune: r\n  nwcpayuri: x\n`));
  assert.deepEqual(
    otherBackend.warnings.map((w) => [w.path, w.kind]),
    [['authenticator.nwcpayuri', 'ignored']],
  );
});

test('enablesessions with lnbits is refused by name (LNbits cannot pay the amountless return invoice of a refund); charges alone are fine', () => {
  const keys = '  backend: lnbits\n  lnbitsurl: https://lnbits.example.com\n  lnbitsinvoicekey: k\n  enablempp: true\n  network: regtest\n';
  const sessions = checkConfig(base(`${keys}  enablesessions: true\n`));
  assert.equal(sessions.ok, false);
  const issue = sessions.issues.find((i) => i.path === 'authenticator.enablesessions');
  assert.ok(issue !== undefined, JSON.stringify(sessions.issues));
  assert.match(issue.message, /LNbits cannot pay/);
  const charges = checkConfig(base(keys));
  assert.equal(charges.ok, true, JSON.stringify(charges.issues));
});

test('enablempp with a remote backend needs authenticator.network, which these backends do not report (mainnet is not assumed)', () => {
  for (const keys of [
    '  backend: cln\n  clnresturl: "https://127.0.0.1:3010/"\n  clnrune: r\n',
    '  backend: lnbits\n  lnbitsurl: https://lnbits.example.com\n  lnbitsinvoicekey: k\n',
    '  backend: phoenixd\n  phoenixdurl: http://127.0.0.1:9740\n  phoenixdpassword: p\n',
    `  backend: nwc\n  nwcuri: "${NWC_URI('2')}"\n`,
  ]) {
    const missing = checkConfig(base(`${keys}  enablempp: true\n`));
    assert.equal(missing.ok, false, keys);
    const issue = missing.issues.find((i) => i.path === 'authenticator.network');
    assert.ok(issue !== undefined, `${keys}: ${JSON.stringify(missing.issues)}`);
    assert.match(issue.message, /enablempp with the \w+ backend needs authenticator\.network/);
    assert.equal(checkConfig(base(`${keys}  enablempp: true\n  network: mainnet\n`)).ok, true, keys);
    assert.equal(checkConfig(base(keys)).ok, true, `${keys}: L402 alone needs no network`);
  }
});
