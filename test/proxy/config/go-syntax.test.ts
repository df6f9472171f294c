import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkHostPort, parseGoDuration, translateGoRegexp } from '../../../src/proxy/config/index.js';

test('Go durations: the table of time.ParseDuration', () => {
  const ok: [string, number][] = [
    ['0', 0], ['2m', 120_000], ['15s', 15_000], ['20ms', 20], ['1h30m', 5_400_000], ['-1s', -1000], ['+3s', 3000],
    ['1.5h', 5_400_000], ['.5s', 500], ['1.s', 1000], ['1us', 0.001], ['1µs', 0.001], ['1μs', 0.001], ['1ns', 0.000001],
    ['1h2m3s4ms5us6ns', 3_723_004.005006], ['2562047h', 2562047 * 3_600_000],
  ];
  for (const [text, ms] of ok) {
    const r = parseGoDuration(text);
    assert.ok(r.ok, text);
    assert.equal(r.ms, ms, text);
  }
  const exact = parseGoDuration('1h2m3s4ms5us6ns');
  assert.ok(exact.ok && exact.nanoseconds === 3_723_004_005_006n);
  for (const bad of ['', '-', '1', '15', 's', '.s', '1x', '1 s', '1s ', 'ms1', '1..5s', '9999999999h', '1e3s', '0valueOf', '1__proto__', '2constructor', '3toString']) {
    assert.equal(parseGoDuration(bad).ok, false, JSON.stringify(bad));
  }
});

test('Go durations: never throw on any input', () => {
  fc.assert(fc.property(fc.string(), (s) => { parseGoDuration(s); }), { numRuns: 2000 });
});

test('Go regexps: common constructs are translated to the same meaning', () => {
  const cases: [string, string[], string[]][] = [
    ['^/api/.*$', ['/api/x'], ['/apix']],
    ['(?i)^service1\\.com$', ['SERVICE1.com'], ['service1xcom']],
    ['(?s)^a.b$', ['a\nb'], []],
    ['(?m)^b$', ['a\nb'], []],
    ['^/x\\z', ['/x'], ['/x\n']],
    ['\\A/y', ['/y'], ['a/y']],
    ['^(?P<svc>[a-z]+)\\.example$', ['abc.example'], ['1.example']],
    ['^\\Q/a.b*\\E$', ['/a.b*'], ['/aXbb']],
    ['^[[:alpha:]]+[[:digit:]]$', ['abc1'], ['abc']],
    ['^[]a]+$', [']a]'], ['b']],
    ['^[^]a]$', ['b'], [']']],
    ['^\\x{41}\\x41$', ['AA'], ['A']],
    ['^\\101$', ['A'], ['1']],
    ['^\\pL+$', ['héllo'], ['123']],
    ['^a/b$', ['a/b'], ['ab']],
    ['', ['anything'], []],
  ];
  for (const [go, yes, no] of cases) {
    const t = translateGoRegexp(go);
    assert.ok(t.ok, `${go}: ${t.ok ? '' : t.reason}`);
    for (const s of yes) assert.equal(t.regexp.test(s), true, `${go} should match ${JSON.stringify(s)}`);
    for (const s of no) assert.equal(t.regexp.test(s), false, `${go} should not match ${JSON.stringify(s)}`);
    assert.equal(t.regexp.global, false);
  }
});

test('Go regexps: constructs Go rejects or JS cannot express are reported', () => {
  for (const bad of ['(?=a)', 'a(?!b)', '(?<=a)b', '(a)\\1', 'a\\Z', '\\C', 'a(?i)b', '(?i:a)b', '(?U)a+', '[[:^alpha:]]', '[[:nope:]]', '[[:toString:]]', '[[:constructor:]]', '(unclosed', 'x)', '[abc', '\\', '\\q']) {
    const t = translateGoRegexp(bad);
    assert.equal(t.ok, false, bad);
  }
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (s) => { translateGoRegexp(s); }), { numRuns: 3000 });
});

test('addresses are checked offline', () => {
  assert.equal(checkHostPort('127.0.0.1:10009', true), undefined);
  assert.equal(checkHostPort('[::1]:443', true), undefined);
  assert.equal(checkHostPort('lnd.internal:10009', true), undefined);
  assert.equal(checkHostPort(':8081', true), undefined);
  assert.equal(checkHostPort('backend', false), undefined);
  assert.match(checkHostPort('123.456.789:8082', false) ?? '', /not a valid IPv4/);
  assert.match(checkHostPort('host:99999', true) ?? '', /port/);
  assert.match(checkHostPort('host', true) ?? '', /no port/);
  assert.match(checkHostPort('bad_host!:1', true) ?? '', /not a valid host name/);
});
