// One suite for every RateLimitStore: memory and Redis must give the same
// answers to the same requests at the same (fake) times.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRateLimitRules, type CompiledRateLimitRule } from '../../src/ratelimit/rate-limit-rules.js';
import type { RateLimitStore } from '../../src/ratelimit/rate-limit-store.js';
import { TokenBucket } from '../../src/ratelimit/token-bucket.js';
import { TestClock } from '../fixtures/test-clock.js';

export interface StoreFactory {
  /** A store with no state shared with any other store the factory made. */
  make(): Promise<RateLimitStore>;
  /** Skip reason, or false to run. */
  skip: string | false;
  /** Property-test runs (fewer for a networked store). */
  runs: number;
}

function rules(raw: unknown): CompiledRateLimitRule[] {
  return compileRateLimitRules(raw);
}

export function rateLimitStoreConformance(name: string, factory: StoreFactory): void {
  describe(`RateLimitStore conformance: ${name}`, { skip: factory.skip }, () => {
    const stores: RateLimitStore[] = [];
    const make = async () => {
      const s = await factory.make();
      stores.push(s);
      return s;
    };
    after(async () => {
      for (const s of stores) await s.close();
    });

    test('a fresh bucket allows burst requests at once, then denies with the time to the next token', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 5, per: 1000, burst: 3 }]);
      for (let i = 0; i < 3; i++) assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, true, `request ${i}`);
      const denied = await store.take('svc', 'c', r, clock.now());
      assert.deepEqual({ ...denied }, { allowed: false, retryAfterMs: 200 });
    });

    test('tokens refill continuously at requests/per', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 2, per: 1000 }]);
      await store.take('svc', 'c', r, clock.now());
      await store.take('svc', 'c', r, clock.now());
      clock.advance(250);
      const half = await store.take('svc', 'c', r, clock.now());
      assert.equal(half.allowed, false);
      assert.equal(half.retryAfterMs, 250);
      clock.advance(250);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, true);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, false);
    });

    test('a long idle period refills no more than burst', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 10, per: 1000, burst: 4 }]);
      await store.take('svc', 'c', r, clock.now());
      clock.advance(3_600_000);
      let allowed = 0;
      for (let i = 0; i < 10; i++) if ((await store.take('svc', 'c', r, clock.now())).allowed) allowed++;
      assert.equal(allowed, 4);
    });

    test('when one matching rule denies, no bucket is charged', async () => {
      const store = await make();
      const clock = new TestClock();
      const both = rules([
        { requests: 3, per: 1000 },
        { pathregexp: '^/x', requests: 1, per: 60_000 },
      ]);
      const global = [both[0] as CompiledRateLimitRule];
      assert.equal((await store.take('svc', 'c', both, clock.now())).allowed, true); // global 2 left, strict 0
      for (let i = 0; i < 5; i++) {
        const r = await store.take('svc', 'c', both, clock.now());
        assert.equal(r.allowed, false);
      }
      // The five denials charged nothing: the global bucket still holds 2.
      assert.equal((await store.take('svc', 'c', global, clock.now())).allowed, true);
      assert.equal((await store.take('svc', 'c', global, clock.now())).allowed, true);
      assert.equal((await store.take('svc', 'c', global, clock.now())).allowed, false);
    });

    test('retryAfterMs is the longest wait among the denying rules', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([
        { requests: 1, per: 1000 },
        { requests: 1, per: 60_000 },
      ]);
      await store.take('svc', 'c', r, clock.now());
      clock.advance(400);
      const denied = await store.take('svc', 'c', r, clock.now());
      assert.equal(denied.allowed, false);
      assert.equal(denied.retryAfterMs, 59_600);
      clock.advance(59_600);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, true);
    });

    test('clients and scopes have separate buckets', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 1, per: 1000 }]);
      assert.equal((await store.take('svc', 'a', r, clock.now())).allowed, true);
      assert.equal((await store.take('svc', 'a', r, clock.now())).allowed, false);
      assert.equal((await store.take('svc', 'b', r, clock.now())).allowed, true);
      assert.equal((await store.take('other', 'a', r, clock.now())).allowed, true);
    });

    test('a clock that steps back adds no tokens', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 1, per: 1000 }]);
      await store.take('svc', 'c', r, clock.now());
      clock.advance(-10_000);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, false);
      clock.advance(10_000 + 999);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, false);
      clock.advance(1);
      assert.equal((await store.take('svc', 'c', r, clock.now())).allowed, true);
    });

    test('concurrent requests never get more than burst', async () => {
      const store = await make();
      const clock = new TestClock();
      const r = rules([{ requests: 7, per: 60_000 }]);
      const results = await Promise.all(Array.from({ length: 40 }, () => store.take('svc', 'race', r, clock.now())));
      assert.equal(results.filter((x) => x.allowed).length, 7);
    });

    test('answers exactly like TokenBucket for any sequence of requests and pauses', async () => {
      const params = fc.record({
        requests: fc.integer({ min: 1, max: 50 }),
        per: fc.integer({ min: 1, max: 120_000 }),
        burst: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
      });
      const steps = fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 40 });
      let run = 0;
      const store = await make();
      await fc.assert(
        fc.asyncProperty(params, steps, async (p, gaps) => {
          const clock = new TestClock();
          const raw = p.burst === undefined ? { requests: p.requests, per: p.per } : { requests: p.requests, per: p.per, burst: p.burst };
          const r = rules([raw]);
          const model = new TokenBucket({ ...raw, clock });
          const client = `model-${run++}`;
          for (const gap of gaps) {
            clock.advance(gap);
            const got = await store.take('svc', client, r, clock.now());
            const want = model.take();
            assert.deepEqual({ allowed: got.allowed, retryAfterMs: got.retryAfterMs }, { ...want });
          }
        }),
        { numRuns: factory.runs },
      );
    });
  });
}
