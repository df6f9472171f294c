import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/proxy/router.js';

const svc = (name: string, hostRegexp: string | RegExp, pathRegexp?: string) => ({
  name,
  hostRegexp,
  address: '127.0.0.1:1',
  ...(pathRegexp === undefined ? {} : { pathRegexp }),
});

test('first match wins: host (with port) then optional path, unanchored like Go', () => {
  const r = new Router([svc('a', '^api\\.test:8443$', '^/v1/'), svc('b', 'api\\.test'), svc('c', '.*')]);
  assert.equal(r.match('api.test:8443', '/v1/x')?.name, 'a');
  assert.equal(r.match('api.test:8443', '/v2/x')?.name, 'b');
  assert.equal(r.match('api.test', '/v1/x')?.name, 'b', 'the host includes the port');
  assert.equal(r.match('other', '/')?.name, 'c');
  assert.equal(new Router([svc('a', 'x')]).match('y', '/'), undefined);
});

test('a global RegExp does not alternate between match and miss', () => {
  const r = new Router([svc('g', /api/g)]);
  for (let i = 0; i < 4; i++) assert.equal(r.match('api', '/')?.name, 'g');
});

test('replace swaps atomically; a bad table is refused with a code and the old one stays', () => {
  const first = svc('one', '.*');
  const r = new Router([first]);
  const matched = r.match('h', '/');
  r.replace([svc('two', '.*')]);
  assert.equal(matched, first, 'a matched service object is not changed by a replace');
  assert.equal(r.match('h', '/')?.name, 'two');
  assert.throws(
    () => r.replace([svc('bad', '(')]),
    (e: unknown) => (e as { code?: string }).code === 'L402_ERR_PROXY_BAD_REGEXP',
  );
  assert.equal(r.match('h', '/')?.name, 'two');
  assert.deepEqual(
    r.services().map((s) => s.name),
    ['two'],
  );
});

test("string expressions are Go syntax, matched in linear time; Go's limits are refused with a code", () => {
  const r = new Router([svc('ci', '(?i)^API\\.test$'), svc('evil', '^(h|h)*$', '^/(a+)+$'), svc('rest', '.*')]);
  assert.equal(r.match('api.TEST', '/')?.name, 'ci', '(?i) is a Go flag group (a JavaScript RegExp refuses it)');
  // 2^40 steps for a backtracking engine: routing would block the process for hours.
  assert.equal(r.match(`${'h'.repeat(40)}x`, '/')?.name, 'rest');
  assert.equal(r.match('hhh', `/${'a'.repeat(40)}!`)?.name, 'rest');
  assert.equal(r.match('hhh', `/${'a'.repeat(40)}`)?.name, 'evil');
  for (const bad of ['a{1001}', '(?=x)', '\\Z']) {
    assert.throws(
      () => new Router([svc('bad', '.*', bad)]),
      (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'L402_ERR_PROXY_BAD_REGEXP');
        assert.match((e as Error).message, /service bad: invalid pathRegexp/);
        return true;
      },
    );
  }
});
