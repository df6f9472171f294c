import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/errors.js';
import { compileRateLimitRules, parseDurationMs, validateRateLimitRules } from '../../src/ratelimit/rate-limit-rules.js';

describe('rate limit rules', () => {
  test('the reference README example compiles, durations in Go form or ms', () => {
    const rules = compileRateLimitRules([
      { requests: 100, per: '1s', burst: 100 },
      { pathregexp: '^/api/v1/expensive.*$', requests: 5, per: '1m', burst: 5 },
      { requests: 2, per: 1500 },
    ]);
    assert.deepEqual(
      rules.map((r) => [r.index, r.requests, r.per, r.burst, r.pattern?.source]),
      [
        [0, 100, 1000, 100, undefined],
        [1, 5, 60_000, 5, '^/api/v1/expensive.*$'],
        [2, 2, 1500, 2, undefined],
      ],
    );
    assert.deepEqual(compileRateLimitRules(undefined), []);
  });

  test('every problem is reported with its path', () => {
    const issues = validateRateLimitRules(
      [
        { requests: 0, per: '1s' },
        { requests: 5, per: -1, burst: 0 },
        { requests: 5, per: '1 fortnight' },
        { pathregexp: '(', requests: 1, per: 1 },
        'oops',
      ],
      'services[0].ratelimits',
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      [
        'services[0].ratelimits[0].requests',
        'services[0].ratelimits[1].per',
        'services[0].ratelimits[1].burst',
        'services[0].ratelimits[2].per',
        'services[0].ratelimits[3].pathregexp',
        'services[0].ratelimits[4]',
      ],
    );
    assert.deepEqual(
      validateRateLimitRules({}, 'x').map((i) => i.path),
      ['x'],
    );
    assert.throws(
      () => compileRateLimitRules([{ requests: 1 }], 'services[2].ratelimits'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(
          e.issues.map((i) => i.path),
          ['services[2].ratelimits[0].per'],
        );
        return true;
      },
    );
  });

  test('Go durations', () => {
    assert.equal(parseDurationMs('1h30m'), 5_400_000);
    assert.equal(parseDurationMs('1.5s'), 1500);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('2000us'), 2);
    for (const bad of ['', 's', '1', '1d', '1s x', '-1s']) assert.equal(parseDurationMs(bad), undefined, bad);
  });

  test('rule ids change with the parameters, so edited rules get fresh buckets', () => {
    const [a] = compileRateLimitRules([{ requests: 1, per: 1000 }]);
    const [b] = compileRateLimitRules([{ requests: 2, per: 1000 }]);
    assert.notEqual(a?.id, b?.id);
  });
});
