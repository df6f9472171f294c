import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { L402Error } from '../../src/core/errors.js';
import { rateLimitedDecision } from '../../src/ratelimit/rate-limited-decision.js';
import { ipRateLimitKey, RateLimiter, retryAfterSeconds, tokenRateLimitKey } from '../../src/ratelimit/rate-limiter.js';
import type { RateLimitStore } from '../../src/ratelimit/rate-limit-store.js';
import { MemoryRateLimitStore } from '../../src/ratelimit/memory-rate-limit-store.js';
import { TestClock } from '../fixtures/test-clock.js';

const readme = [
  { requests: 100, per: '1s', burst: 100 },
  { pathregexp: '^/api/v1/expensive.*$', requests: 5, per: '1m', burst: 5 },
];

describe('RateLimiter', () => {
  test('the reference example: expensive paths must satisfy both rules, others only the global one', () => {
    const clock = new TestClock();
    const limiter = new RateLimiter({ service: 'svc', rules: readme, clock });
    for (let i = 0; i < 5; i++) assert.equal((limiter.check('k', '/api/v1/expensive/x') as { allowed: boolean }).allowed, true);
    const denied = limiter.check('k', '/api/v1/expensive/x?q=1');
    assert.deepEqual({ ...denied }, { allowed: false, retryAfterMs: 12_000 });
    // The global bucket was charged only for the five allowed requests: 95 left.
    let cheap = 0;
    for (let i = 0; i < 200; i++) if ((limiter.check('k', '/api/v1/cheap') as { allowed: boolean }).allowed) cheap++;
    assert.equal(cheap, 95);
    assert.deepEqual(limiter.stats(), { allowed: 100, denied: 106, evictions: 0, storeErrors: 0 });
  });

  test('the query string is not part of the matched path', () => {
    const limiter = new RateLimiter({ service: 's', rules: [{ pathregexp: 'x$', requests: 1, per: 60_000 }], clock: new TestClock() });
    limiter.check('k', '/x?a=b');
    assert.equal((limiter.check('k', '/x?a=b') as { allowed: boolean }).allowed, false);
    assert.equal((limiter.check('k', '/y?x') as { allowed: boolean }).allowed, true, 'no rule matches /y');
  });

  test('a path no rule matches is allowed without touching the store', () => {
    let calls = 0;
    const store: RateLimitStore = {
      evictions: 0,
      take: () => {
        calls++;
        return { allowed: false, retryAfterMs: 1 };
      },
      close: async () => {},
    };
    const limiter = new RateLimiter({ service: 's', rules: [{ pathregexp: '^/paid', requests: 1, per: 1 }], store });
    assert.equal((limiter.check('k', '/free') as { allowed: boolean }).allowed, true);
    assert.equal(calls, 0);
    assert.equal((limiter.check('k', '/paid') as { allowed: boolean }).allowed, false);
    assert.equal(calls, 1);
  });

  test('maxClients bounds the default memory store and evictions are counted', () => {
    const limiter = new RateLimiter({ service: 's', rules: [{ requests: 1, per: 60_000 }], maxClients: 3, clock: new TestClock() });
    for (let i = 0; i < 10; i++) limiter.check(`c${i}`, '/');
    assert.equal(limiter.stats().evictions, 7);
  });

  test('a store that throws synchronously, or a logger that throws, never escapes check()', () => {
    const store: RateLimitStore = {
      evictions: 0,
      take: () => {
        throw new Error('boom');
      },
      close: async () => {},
    };
    const seen: L402Error[] = [];
    const limiter = new RateLimiter({
      service: 's',
      rules: [{ requests: 1, per: 1 }],
      store,
      onError: (e) => {
        seen.push(e);
        throw new Error('logger down');
      },
    });
    const r = limiter.check('k', '/');
    assert.deepEqual({ ...r }, { allowed: true, retryAfterMs: 0, storeError: true });
    assert.equal(seen[0]?.code, 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE');
    assert.match(seen[0]?.message ?? '', /boom/);
  });

  test('with a fallback store, a failing store under onStoreError allow limits by the fallback instead of letting everything through', async () => {
    const down: RateLimitStore = {
      evictions: 0,
      take: () => Promise.reject(new L402Error('L402_ERR_RATELIMIT_STORE_UNAVAILABLE', 'redis down')),
      close: async () => {},
    };
    const clock = new TestClock();
    const rules = [{ requests: 1, per: 60_000, burst: 2 }];
    const local = new RateLimiter({ service: 's', rules, store: down, fallbackStore: new MemoryRateLimitStore(), clock });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push({ ...(await local.check('net-a', '/')) });
    assert.deepEqual(answers, [
      { allowed: true, retryAfterMs: 0, storeError: true },
      { allowed: true, retryAfterMs: 0, storeError: true },
      { allowed: false, retryAfterMs: 60_000 },
    ]);
    assert.equal(
      rateLimitedDecision(answers[2] as { retryAfterMs: number }).status,
      429,
      "over the local limit: the client's fault, not the store's",
    );
    assert.deepEqual(
      { ...(await local.check('net-b', '/')) },
      { allowed: true, retryAfterMs: 0, storeError: true },
      'per client, as the shared store',
    );
    assert.equal(local.stats().storeErrors, 4);
    // Without a fallback, `allow` lets every request through; `deny` ignores the fallback.
    const open = new RateLimiter({ service: 's', rules, store: down, clock });
    for (let i = 0; i < 3; i++) assert.equal((await open.check('net-a', '/')).allowed, true);
    const strict = new RateLimiter({
      service: 's',
      rules,
      store: down,
      fallbackStore: new MemoryRateLimitStore(),
      onStoreError: 'deny',
      clock,
    });
    assert.deepEqual({ ...(await strict.check('net-a', '/')) }, { allowed: false, retryAfterMs: 1000, storeError: true });
  });

  test('invalid rules throw a ConfigError with the configured path', () => {
    assert.throws(
      () => new RateLimiter({ service: 's', rules: [{ requests: 1, per: 0 }], configPath: 'services[3].ratelimits' }),
      (e: unknown) => {
        assert.ok(e instanceof L402Error);
        assert.equal(e.code, 'L402_ERR_CONFIG_INVALID');
        assert.match(e.message, /services\[3\]\.ratelimits\[0\]\.per/);
        return true;
      },
    );
  });

  test('keys: token:<id> for authenticated clients, the masked network otherwise', () => {
    assert.equal(tokenRateLimitKey('ab12'), 'token:ab12');
    assert.equal(ipRateLimitKey('203.0.113.77'), '203.0.113.0/24');
    assert.equal(ipRateLimitKey('2001:db8:aa:bb::1'), '2001:db8:aa::/48');
  });

  test('Retry-After is whole seconds, rounded up, at least 1', () => {
    assert.deepEqual([1, 999, 1000, 1001, 12_000, 0].map(retryAfterSeconds), [1, 1, 1, 2, 12, 1]);
    const d = rateLimitedDecision({ retryAfterMs: 1500 });
    assert.equal(d.status, 429);
    assert.equal(d.body, 'rate limit exceeded\n');
    assert.equal(d.code, 'L402_ERR_RATELIMIT_EXCEEDED');
    assert.deepEqual(
      d.headers.find(([n]) => n === 'Retry-After'),
      ['Retry-After', '2'],
    );
    const down = rateLimitedDecision({ retryAfterMs: 1000, storeError: true });
    assert.deepEqual(
      [down.status, down.code, down.body],
      [503, 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE', 'service unavailable (L402_ERR_RATELIMIT_STORE_UNAVAILABLE)\n'],
    );
  });
});
