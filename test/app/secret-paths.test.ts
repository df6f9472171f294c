// The start-up check of secret file modes covers the credential files of a remote backend: the
// selling credential and the one that pays session refunds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secretPaths } from '../../src/app/secret-file-modes.js';
import { loadConfig } from '../../src/proxy/config/index.js';

test('secretPaths lists the credential file and the paying credential file of a remote backend', () => {
  const { config } = loadConfig({
    text: 'listenaddr: "localhost:8081"\ninsecure: true\ndbbackend: postgres\npostgres:\n  host: db\n  dbname: aperture\nauthenticator:\n  backend: cln\n  clnresturl: https://127.0.0.1:3010\n  clnrunefile: /srv/keys/rune\n  enablempp: true\n  network: regtest\n  enablesessions: true\n  clnpayrunefile: /srv/keys/pay-rune\n',
    env: { HOME: '/srv' },
    home: '/srv',
    fileExists: () => true,
  });
  assert.deepEqual(secretPaths(config, true), { files: ['/srv/keys/rune', '/srv/keys/pay-rune'], directories: [] });
});
