import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { L402Error } from '../../../src/core/errors.js';
import { checkHostPort, compileGoRegexp, parseGoDuration } from '../../../src/proxy/config/index.js';

test('Go durations: the table of time.ParseDuration', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['2m', 120_000],
    ['15s', 15_000],
    ['20ms', 20],
    ['1h30m', 5_400_000],
    ['-1s', -1000],
    ['+3s', 3000],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1000],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['1ns', 0.000001],
    ['1h2m3s4ms5us6ns', 3_723_004.005006],
    ['2562047h', 2562047 * 3_600_000],
  ];
  for (const [text, ms] of ok) {
    const r = parseGoDuration(text);
    assert.ok(r.ok, text);
    assert.equal(r.ms, ms, text);
  }
  const exact = parseGoDuration('1h2m3s4ms5us6ns');
  assert.ok(exact.ok && exact.nanoseconds === 3_723_004_005_006n);
  for (const bad of [
    '',
    '-',
    '1',
    '15',
    's',
    '.s',
    '1x',
    '1 s',
    '1s ',
    'ms1',
    '1..5s',
    '9999999999h',
    '1e3s',
    '0valueOf',
    '1__proto__',
    '2constructor',
    '3toString',
  ]) {
    assert.equal(parseGoDuration(bad).ok, false, JSON.stringify(bad));
  }
});

test('Go durations: never throw on any input', () => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      parseGoDuration(s);
    }),
    { numRuns: 2000 },
  );
});

test('Go regexps: common constructs keep their Go meaning', () => {
  const cases: [string, string[], string[]][] = [
    ['^/api/.*$', ['/api/x'], ['/apix']],
    ['(?i)^service1\\.com$', ['SERVICE1.com'], ['service1xcom']],
    ['(?s)^a.b$', ['a\nb'], []],
    ['(?m)^b$', ['a\nb'], []],
    ['^/x\\z', ['/x'], ['/x\n']],
    ['^/x$', ['/x'], ['/x\n']],
    ['\\A/y', ['/y'], ['a/y']],
    ['^(?P<svc>[a-z]+)\\.example$', ['abc.example'], ['1.example']],
    ['^(?<svc>[a-z]+)\\.example$', ['abc.example'], ['1.example']],
    ['^\\Q/a.b*\\E$', ['/a.b*'], ['/aXbb']],
    ['^[[:alpha:]]+[[:digit:]]$', ['abc1'], ['abc']],
    ['^[[:^alpha:]]$', ['1'], ['a']],
    ['^[]a]+$', [']a]'], ['b']],
    ['^[^]a]$', ['b'], [']']],
    ['^\\x{41}\\x41$', ['AA'], ['A']],
    ['^\\101$', ['A'], ['1']],
    ['^\\pL+$', ['héllo'], ['123']],
    ['^a/b$', ['a/b'], ['ab']],
    // Go's \s is [\t\n\f\r ]: no vertical tab, no Unicode spaces (JavaScript's \s has both).
    ['^\\s$', [' ', '\t'], ['\v', '\u00a0']],
    // Go's (?i) folds Unicode: K (Kelvin sign) and ſ (long s) match k and s.
    ['(?i)^ks$', ['KS', '\u212a\u017f'], ['kx']],
    // Flag groups anywhere, and ungreedy mode, as Go has them.
    ['a(?i)b', ['aB'], ['AB']],
    ['^(?i:a)b$', ['Ab'], ['AB']],
    ['(?U)^a+$', ['aaa'], ['b']],
    // An unescaped dot is any character but \n, and `.` is one code point.
    ['^service1.com$', ['service1.com', 'service1xcom'], ['service1\ncom']],
    ['^.$', ['😀', 'é'], ['ab', '\n']],
    ['', ['anything', ''], []],
  ];
  for (const [go, yes, no] of cases) {
    const re = compileGoRegexp(go);
    assert.equal(re.source, go);
    for (const s of yes) assert.equal(re.test(s), true, `${go} should match ${JSON.stringify(s)}`);
    for (const s of no) assert.equal(re.test(s), false, `${go} should not match ${JSON.stringify(s)}`);
    for (const s of yes) assert.equal(re.test(s), true, `${go}: test() keeps no state between calls`);
  }
});

test("Go regexps: what Go refuses is refused with a code and the parser's reason", () => {
  const refused: [string, RegExp][] = [
    ['(?=a)', /Perl syntax/],
    ['a(?!b)', /Perl syntax/],
    ['(?<=a)b', /named capture/],
    ['(a)\\1', /escape/],
    ['a\\Z', /escape/],
    ['\\C', /escape/],
    ['[[:nope:]]', /class range/],
    ['[[:toString:]]', /class range/],
    ['[[:constructor:]]', /class range/],
    ['(unclosed', /missing closing \)/],
    ['x)', /unexpected \)/],
    ['[abc', /missing closing \]/],
    ['\\', /trailing backslash/],
    ['\\q', /escape/],
    ['a**', /nested repetition/],
    ['a{1001}', /invalid repeat count/],
    ['a{2,1001}', /invalid repeat count/],
    ['(?:a{100}){11}', /invalid repeat count/],
    ['x{2,1}', /invalid repeat count/],
    [`${'('.repeat(1001)}a${')'.repeat(1001)}`, /nests too deeply/],
  ];
  for (const [bad, reason] of refused) {
    assert.throws(
      () => compileGoRegexp(bad),
      (e: unknown) => {
        assert.ok(e instanceof L402Error, bad);
        assert.equal(e.code, 'L402_ERR_REGEXP_INVALID', bad);
        assert.match(e.message, reason, bad);
        return true;
      },
    );
  }
  assert.equal(compileGoRegexp('a{1000}').test('a'.repeat(1000)), true, 'a repeat count of 1000 is allowed, as in Go');
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (s) => {
      try {
        compileGoRegexp(s);
      } catch (e) {
        assert.ok(e instanceof L402Error && e.code === 'L402_ERR_REGEXP_INVALID', `${JSON.stringify(s)}: ${String(e)}`);
      }
    }),
    { numRuns: 3000 },
  );
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
