import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../src/core/errors.js';
import { TokenBucket } from '../../src/ratelimit/token-bucket.js';
import { TestClock } from '../fixtures/test-clock.js';

const params = fc.record({
  requests: fc.integer({ min: 1, max: 1000 }),
  per: fc.integer({ min: 1, max: 3_600_000 }),
  burst: fc.integer({ min: 1, max: 500 }),
});

describe('TokenBucket', () => {
  test('starts full with burst defaulting to requests', () => {
    const clock = new TestClock();
    const b = new TokenBucket({ requests: 5, per: 60_000, clock });
    assert.equal(b.burst, 5);
    assert.equal(b.tokens(), 5);
    for (let i = 0; i < 5; i++) assert.equal(b.take().allowed, true);
    const r = b.take();
    assert.equal(r.allowed, false);
    assert.equal(r.retryAfterMs, 12_000);
  });

  test('take(n) takes all n or none', () => {
    const clock = new TestClock();
    const b = new TokenBucket({ requests: 10, per: 1000, burst: 10, clock });
    assert.equal(b.take(7).allowed, true);
    const r = b.take(4);
    assert.deepEqual({ ...r }, { allowed: false, retryAfterMs: 100 });
    assert.equal(b.tokens(), 3);
    assert.equal(b.take(11).retryAfterMs, Infinity, 'more than the capacity can never be taken');
  });

  test('rejects bad parameters with every issue and bad counts with a code', () => {
    assert.throws(
      () => new TokenBucket({ requests: 0, per: -1, burst: 0.5 }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(
          e.issues.map((i) => i.path),
          ['requests', 'per', 'burst'],
        );
        return true;
      },
    );
    const b = new TokenBucket({ requests: 1, per: 1 });
    for (const n of [0, -1, NaN, Infinity]) assert.throws(() => b.take(n), { code: 'L402_ERR_RATELIMIT_INVALID_ARGUMENT' });
  });

  test('property: never more than burst allowed in zero time', () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 1, max: 2000 }), (p, attempts) => {
        const b = new TokenBucket({ ...p, clock: new TestClock() });
        let allowed = 0;
        for (let i = 0; i < attempts; i++) if (b.take().allowed) allowed++;
        assert.equal(allowed, Math.min(attempts, p.burst));
      }),
    );
  });

  test('property: over any schedule, allowed ≤ burst + elapsed × requests / per', () => {
    fc.assert(
      fc.property(params, fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 200 }), (p, gaps) => {
        const clock = new TestClock();
        const b = new TokenBucket({ ...p, clock });
        const start = clock.now();
        let allowed = 0;
        for (const gap of gaps) {
          clock.advance(gap);
          if (b.take().allowed) allowed++;
          assert.ok(allowed <= p.burst + Math.floor(((clock.now() - start) * p.requests) / p.per));
          const t = b.tokens();
          assert.ok(t >= 0 && t <= p.burst, `tokens ${t}`);
        }
      }),
    );
  });

  test('property: a denial is exact — one ms early still denied, on time allowed', () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 0, max: 100_000 }), (p, gap) => {
        const clock = new TestClock();
        const b = new TokenBucket({ ...p, clock });
        while (b.take().allowed) {
          /* drain */
        }
        clock.advance(gap);
        const r = b.take();
        if (r.allowed) return;
        assert.ok(r.retryAfterMs >= 1);
        clock.advance(r.retryAfterMs - 1);
        if (r.retryAfterMs > 1) assert.equal(b.take().allowed, false);
        clock.advance(1);
        assert.equal(b.take().allowed, true);
      }),
    );
  });
});
