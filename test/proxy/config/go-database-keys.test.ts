// Which SQLite file the Go aperture opens with a configuration
// (`sqlite.referenceDbFile`): `databasefilename` when set, else aperture.db in
// its data directory, whatever `basedir` and `dbfile` (only its flag's name)
// say. --check-config and the start-up look there for its database.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, type LoadConfigOptions } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const base = (text: string, extra: Partial<LoadConfigOptions> = {}): LoadConfigOptions => ({
  env: { HOME },
  home: HOME,
  fileExists: () => true,
  text,
  ...extra,
});
const minimal = 'listenaddr: "localhost:8081"\nauthenticator:\n  backend: dev\n';

test('with databasefilename, both programs open that file', () => {
  const { config } = loadConfig(base(`${minimal}sqlite:\n  databasefilename: /srv/aperture/aperture.db\n`));
  assert.equal(config.sqlite.dbFile, '/srv/aperture/aperture.db');
  assert.equal(config.sqlite.referenceDbFile, '/srv/aperture/aperture.db');
});

test(
  "without it, the Go aperture opens its data directory's aperture.db whatever dbfile and basedir say",
  { skip: process.platform === 'win32' || process.platform === 'darwin' ? 'the data directory shown is the Linux one' : false },
  () => {
    const withDbFile = loadConfig(base(`${minimal}basedir: /srv/ap\nsqlite:\n  dbfile: /srv/ap/mine.db\n`)).config;
    assert.equal(withDbFile.sqlite.dbFile, '/srv/ap/mine.db');
    assert.equal(withDbFile.sqlite.referenceDbFile, `${HOME}/.aperture/aperture.db`);
    const defaults = loadConfig(base(`${minimal}basedir: /srv/ap\n`)).config;
    assert.equal(defaults.sqlite.dbFile, '/srv/ap/aperture.db', 'aperture-ts follows basedir');
    assert.equal(defaults.sqlite.referenceDbFile, `${HOME}/.aperture/aperture.db`);
  },
);
