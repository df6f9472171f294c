// Go regular expressions: the string-operation fast path against the RE2 engine, and linear time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { compileGoRegexp } from '../../src/core/go-regexp.js';

/** Characters inputs are made of: the literals below, the newline `.` must not cross, case, and non-ASCII. */
const INPUT_CHARS = ['a', 'b', 'A', 'B', 'k', 's', '/', '.', '-', '\n', '\r', 'é', '\u212a', '\u017f', '😀', '\ud800', '\u0000'];

/** Patterns of the fast-path subset: literals, escapes, `.`, optional parts, groups of alternatives, one `.*`, anchors, (?i)/(?s). */
const atom: fc.Arbitrary<string> = fc.letrec<{ atom: string; seq: string }>((tie) => ({
  atom: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'k', 's', 'A', '/', '-', '\\.', '\\/', '\\-', '\\*', '.') },
    { weight: 2, arbitrary: fc.tuple(tie('atom'), fc.constantFrom('?', '??')).map(([a, q]) => `${a}${q}`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('(', '(?:', '(?P<n>', '(?<m>'), fc.array(tie('seq'), { minLength: 1, maxLength: 3 }), fc.boolean())
        .map(([open, alts, optional]) => `${open}${alts.join('|')})${optional ? '?' : ''}`),
    },
  ),
  seq: fc.array(tie('atom'), { maxLength: 3 }).map((a) => a.join('')),
})).atom;

const subsetPattern = fc
  .record({
    flags: fc.constantFrom('', '(?i)', '(?s)', '(?is)'),
    start: fc.constantFrom('', '^', '\\A'),
    head: fc.array(atom, { maxLength: 4 }),
    star: fc.constantFrom('', '.*', '.*?'),
    tail: fc.array(atom, { maxLength: 3 }),
    end: fc.constantFrom('', '$', '\\z'),
  })
  .map((p) => `${p.flags}${p.start}${p.head.join('')}${p.star}${p.star === '' ? '' : p.tail.join('')}${p.end}`);

/** Inputs: random text, and strings of the pattern's own literals (so that matches are common). */
function inputsFor(pattern: string): fc.Arbitrary<string> {
  const literals = pattern
    .replace(/\(\?[a-zA-Z]*[:)]|\(\?P?<\w+>|[\\^$()|?*]/g, ' ')
    .split(' ')
    .filter((s) => s !== '');
  return fc.oneof(
    fc.array(fc.constantFrom(...INPUT_CHARS), { maxLength: 12 }).map((a) => a.join('')),
    fc.array(fc.constantFrom(...INPUT_CHARS, ...(literals.length === 0 ? ['a'] : literals)), { maxLength: 8 }).map((a) => a.join('')),
  );
}

test('fast path and RE2 agree on every input, for every pattern of the subset', () => {
  let compiled = 0;
  let fast = 0;
  fc.assert(
    fc.property(
      subsetPattern.chain((p) => fc.tuple(fc.constant(p), fc.array(inputsFor(p), { minLength: 1, maxLength: 20 }))),
      ([pattern, inputs]) => {
        let re2: RE2JS;
        try {
          re2 = RE2JS.compile(pattern);
        } catch {
          return; // e.g. nested repetition `a??`: Go refuses it, nothing to compare
        }
        const go = compileGoRegexp(pattern);
        compiled++;
        if (go.fastPath) fast++; // only expansions beyond the bound fall back
        for (const s of inputs) assert.equal(go.test(s), re2.test(s), `${JSON.stringify(pattern)} on ${JSON.stringify(s)}`);
      },
    ),
    { numRuns: 3000 },
  );
  assert.ok(fast > compiled * 0.8, `only ${fast} of ${compiled} patterns of the subset took the fast path`);
});

test('any expression that compiles: GoRegexp answers as RE2, fast path or not', () => {
  const chars = ['a', 'b', '.', '*', '+', '?', '|', '(', ')', '[', ']', '^', '$', '\\', '{', '}', '1', ',', ':', '\n', 'é'];
  const pattern = fc.array(fc.constantFrom(...chars), { maxLength: 10 }).map((a) => a.join(''));
  fc.assert(
    fc.property(
      pattern,
      fc.array(
        fc.array(fc.constantFrom(...INPUT_CHARS), { maxLength: 10 }).map((a) => a.join('')),
        { maxLength: 10 },
      ),
      (p, inputs) => {
        let re2: RE2JS;
        try {
          re2 = RE2JS.compile(p);
        } catch {
          assert.throws(() => compileGoRegexp(p), { code: 'L402_ERR_REGEXP_INVALID' });
          return;
        }
        const go = compileGoRegexp(p);
        for (const s of inputs) assert.equal(go.test(s), re2.test(s), `${JSON.stringify(p)} on ${JSON.stringify(s)}`);
      },
    ),
    { numRuns: 3000 },
  );
});

test('the patterns routing tables are made of take the fast path', () => {
  for (const p of [
    '^/api/.*$',
    '^/api/v1/quote$',
    '^(www\\.)?example\\.com$',
    '.*',
    '',
    '^/free',
    '^api\\.',
    '^service1.com$',
    '(?i)^api\\.example\\.com$',
    '^/static/.*\\.png$',
    '^/v1/(quote|price)$',
    '^/bench\\.Echo/',
  ]) {
    assert.equal(compileGoRegexp(p).fastPath, true, p);
  }
  for (const p of ['^/(a+)+$', '^(h|h)*$', '[a-z]+', '(?m)^a$', 'a{2}']) assert.equal(compileGoRegexp(p).fastPath, false, p);
});

test('catastrophic backtracking patterns run in linear time (this never finishes with a backtracking engine)', () => {
  // Each input is 100,000 characters; a backtracking engine takes 2^n or n^k steps on them.
  const n = 100_000;
  const cases: [string, string, boolean][] = [
    ['^/(a+)+$', `/${'a'.repeat(n)}!`, false],
    ['^(h|h)*$', `${'h'.repeat(n)}x`, false],
    ['(a|aa)*b', 'a'.repeat(n), false],
    ['^(a*)*$', `${'a'.repeat(n)}b`, false],
    ['.*a.*a.*a.*b', 'a'.repeat(n), false],
    ['a.*b', 'a'.repeat(n), false],
    ['^/(a+)+$', `/${'a'.repeat(n)}`, true],
  ];
  for (const [pattern, input, expected] of cases) assert.equal(compileGoRegexp(pattern).test(input), expected, pattern);
});
