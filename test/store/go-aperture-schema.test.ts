// The pieces of reading the Go aperture's database that need no database: its
// time texts, its service rows as aperture.yaml entries, and telling its schema
// from other tables of the same names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeGoSchema, goServiceEntry, goTimeText, parseGoTime, GO_MPP_HMAC_KEY_HASH } from '../../src/store/go-aperture-schema.js';

test("reads the times the Go aperture writes to SQLite (Go time.Time.String()) and SQLite's own forms", () => {
  const t = Date.UTC(2025, 5, 1, 12, 0, 0, 123);
  assert.equal(parseGoTime('2025-06-01 12:00:00.123456789 +0000 UTC'), t);
  assert.equal(parseGoTime('2025-06-01 14:00:00.123456789 +0200 CEST'), t);
  assert.equal(parseGoTime('2025-06-01 12:00:00.123 +0000 UTC m=+0.000123'), t);
  assert.equal(parseGoTime('2025-06-01 12:00:00 +0000 UTC'), t - 123);
  assert.equal(parseGoTime('2025-06-01T12:00:00.123Z'), t);
  assert.equal(parseGoTime('2025-06-01 07:00:00.123-05:00'), t);
  assert.equal(parseGoTime('2025-06-01 12:00:00.123'), t);
  assert.equal(parseGoTime(t), t);
  assert.equal(parseGoTime(t / 1000), t);
  for (const bad of ['', 'yesterday', '2025-06-01', null, undefined, {}, Number.NaN]) assert.equal(parseGoTime(bad), null, String(bad));
});

test("writes times as the Go aperture's SQLite driver does, and reads them back", () => {
  assert.equal(goTimeText(Date.UTC(2025, 5, 1, 12, 0, 0, 120)), '2025-06-01 12:00:00.12 +0000 UTC');
  assert.equal(goTimeText(Date.UTC(2025, 5, 1, 12, 0, 0, 0)), '2025-06-01 12:00:00 +0000 UTC');
  for (const ms of [0, 1, 999, 1_700_000_000_123, Date.UTC(2030, 0, 1, 23, 59, 59, 5)]) assert.equal(parseGoTime(goTimeText(ms)), ms);
});

test('a Go services row becomes an aperture.yaml entry over the fields the Go table cannot hold', () => {
  const row = {
    name: 'svc',
    address: 'b:80',
    protocol: 'https',
    host_regexp: '.*',
    path_regexp: '',
    price: '0',
    auth: '',
    auth_scheme: 'l402',
  };
  assert.deepEqual(goServiceEntry(row, undefined), {
    name: 'svc',
    address: 'b:80',
    protocol: 'https',
    hostregexp: '.*',
    authscheme: 'l402',
  });
  const previous = {
    name: 'svc',
    address: 'old:80',
    pathregexp: '^/old',
    price: 9,
    headers: { 'X-K': 'v' },
    ratelimits: [{ requests: 1, per: '1s' }],
  };
  assert.deepEqual(
    goServiceEntry({ ...row, price: 5, auth: 'freebie 3' }, previous),
    {
      name: 'svc',
      address: 'b:80',
      protocol: 'https',
      hostregexp: '.*',
      price: 5,
      auth: 'freebie 3',
      authscheme: 'l402',
      headers: { 'X-K': 'v' },
      ratelimits: [{ requests: 1, per: '1s' }],
    },
    'an empty Go column removes the key (its default applies); other keys stay',
  );
  assert.deepEqual(goServiceEntry(row, 'not an object'), goServiceEntry(row, undefined));
  assert.deepEqual(
    goServiceEntry(row, { name: 'svc', deleted: true }),
    goServiceEntry(row, undefined),
    'a tombstone gives way to a changed Go row',
  );
});

test('the Go schema is recognised by its columns, not by table names alone', () => {
  const cols = (table: string, names: string[]) => names.map((c) => ({ table_name: table, column_name: c }));
  assert.equal(describeGoSchema(cols('secrets', ['id', 'marker'])), undefined, 'a table named secrets of another program');
  const s = describeGoSchema([
    ...cols('secrets', ['id', 'hash', 'secret', 'created_at']),
    ...cols('schema_migrations', ['version', 'dirty']),
    ...cols('services', ['id', 'name', 'address', 'protocol', 'host_regexp', 'path_regexp', 'price', 'auth', 'created_at', 'updated_at']),
  ]);
  assert.deepEqual(s, {
    tables: ['secrets', 'services', 'schema_migrations'],
    version: undefined,
    dirty: undefined,
    secrets: true,
    transactions: false,
    services: true,
    servicesAuthScheme: false,
    sessions: false,
    sessionCredits: false,
  });
  assert.equal(GO_MPP_HMAC_KEY_HASH.length, 64);
});
