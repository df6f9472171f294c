// authenticator.passphrase, mailboxaddress and devserver (the reference's LNC keys): a pairing phrase
// without lndhost selects lnd over Lightning Node Connect; --check-config refuses a phrase that is not
// ten known words and a mailbox that is not host:port, accepts enablesessions (refunds are paid over the
// LNC connection), and warns by name about lnd file keys that LNC does not use and about LNC keys without a phrase.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfig, loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const PHRASE = 'abandon ability able about above absent absorb abstract absurd abuse';
const base = (auth: string): LoadConfigOptions => ({
  text: `listenaddr: "localhost:8081"\nauthenticator:\n${auth}`,
  env: { HOME: '/srv/operator' },
  home: '/srv/operator',
  fileExists: () => true,
});
const issues = (auth: string): Map<string, string> =>
  new Map(checkConfig(base(auth)).issues.map((i) => [i.path, i.message] as [string, string]));

test('a pairing phrase without lndhost selects lnd over LNC, with the reference mailbox by default; no warnings', () => {
  const { config, warnings } = loadConfig(base(`  passphrase: ${PHRASE}\n  network: regtest\n`));
  assert.deepEqual(warnings, []);
  assert.equal(config.authenticator.backend, 'lnd');
  assert.equal(config.authenticator.passphrase, PHRASE);
  assert.equal(config.authenticator.lndHost, undefined);
  assert.equal(config.authenticator.mailboxAddress, 'mailbox.terminal.lightning.today:443');
  assert.equal(config.authenticator.devServer, false);
  const dev = loadConfig(base(`  passphrase: ${PHRASE}\n  mailboxaddress: localhost:8443\n  devserver: true\n`));
  assert.equal(dev.config.authenticator.mailboxAddress, 'localhost:8443');
  assert.equal(dev.config.authenticator.devServer, true);
});

test('refused: a phrase of unknown words or the wrong count, a mailbox without a port; enablesessions is accepted', () => {
  assert.match(issues('  passphrase: words\n').get('authenticator.passphrase') ?? '', /not an LNC pairing phrase/);
  assert.match(issues(`  passphrase: ${PHRASE.replace('able', 'xyzzy')}\n`).get('authenticator.passphrase') ?? '', /xyzzy|word/);
  assert.ok(issues(`  passphrase: ${PHRASE}\n  mailboxaddress: mailbox.example\n`).has('authenticator.mailboxaddress'));
  assert.deepEqual([...issues(`  passphrase: ${PHRASE}\n  enablempp: true\n  enablesessions: true\n`).keys()], []);
});

test('warned by name: lnd file keys beside a phrase, LNC keys without one', () => {
  const lnc = checkConfig(base(`  passphrase: ${PHRASE}\n  tlspath: /t\n  macdir: /m\n`));
  assert.equal(lnc.ok, true);
  assert.deepEqual(lnc.warnings.map((w) => `${w.kind} ${w.path}`).sort(), [
    'ignored authenticator.macdir',
    'ignored authenticator.tlspath',
  ]);
  const none = checkConfig(base('  backend: dev\n  mailboxaddress: localhost:1\n  devserver: true\n'));
  assert.deepEqual(none.warnings.map((w) => `${w.kind} ${w.path}`).sort(), [
    'ignored authenticator.devserver',
    'ignored authenticator.mailboxaddress',
  ]);
});
