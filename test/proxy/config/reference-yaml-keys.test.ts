// Keys as the reference's YAML loader reads them: each field name in lower case.
// Its sample-conf writes `sqlite.dbfile` and `postgres.maxconnections` (the
// command-line names), which that loader ignores; a file that works with the
// reference says `databasefilename` and `maxopenconnections`. Found by running
// the reference (test/regtest/): with `dbfile` it opened ~/.aperture/aperture.db.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfig, formatConfigReport } from '../../../src/proxy/config/index.js';

const HOME = '/srv/operator';
const check = (text: string) =>
  checkConfig({
    text: `listenaddr: "localhost:8081"\nauthenticator:\n  backend: dev\n${text}`,
    env: { HOME },
    home: HOME,
    fileExists: () => true,
  });

test('sqlite.databasefilename names the database file, as for the reference', () => {
  const report = check('sqlite:\n  databasefilename: /srv/aperture/aperture.db\n');
  assert.equal(report.ok, true, formatConfigReport(report));
  assert.equal(report.config?.sqlite.dbFile, '/srv/aperture/aperture.db');
  assert.deepEqual(report.warnings, []);
});

test('sqlite.dbfile still works, and both keys agreeing is fine', () => {
  assert.equal(check('sqlite:\n  dbfile: /srv/a.db\n').config?.sqlite.dbFile, '/srv/a.db');
  const both = check('sqlite:\n  dbfile: /srv/a.db\n  databasefilename: /srv/a.db\n');
  assert.equal(both.ok, true, formatConfigReport(both));
  assert.equal(both.config?.sqlite.dbFile, '/srv/a.db');
});

test('dbfile and databasefilename naming different files is refused', () => {
  const report = check('sqlite:\n  dbfile: /srv/a.db\n  databasefilename: /srv/b.db\n');
  assert.equal(report.ok, false);
  assert.match(formatConfigReport(report), /sqlite\.databasefilename.*mean the same/);
});

test('postgres.maxopenconnections is postgres.maxconnections', () => {
  const report = check('dbbackend: postgres\npostgres:\n  dbname: aperture\n  maxopenconnections: 7\n');
  assert.equal(report.ok, true, formatConfigReport(report));
  assert.equal(report.config?.postgres.maxConnections, 7);
});
