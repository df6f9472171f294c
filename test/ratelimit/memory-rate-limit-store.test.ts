import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateLimitStore } from '../../src/ratelimit/memory-rate-limit-store.js';
import { compileRateLimitRules } from '../../src/ratelimit/rate-limit-rules.js';
import { rateLimitStoreConformance } from './rate-limit-store.conformance.js';

rateLimitStoreConformance('memory', { make: async () => new MemoryRateLimitStore(), skip: false, runs: 200 });

test('memory store: the LRU bound drops the least recently used client, which comes back full', () => {
  const store = new MemoryRateLimitStore({ maxClients: 2 });
  const r = compileRateLimitRules([{ requests: 1, per: 60_000 }]);
  assert.equal(store.take('s', 'a', r, 0).allowed, true);
  assert.equal(store.take('s', 'b', r, 0).allowed, true);
  assert.equal(store.take('s', 'a', r, 0).allowed, false); // a is now the most recent
  assert.equal(store.evictions, 0);
  assert.equal(store.take('s', 'c', r, 0).allowed, true); // evicts b
  assert.equal(store.evictions, 1);
  assert.equal(store.take('s', 'a', r, 0).allowed, false, 'a was kept');
  assert.equal(store.take('s', 'b', r, 0).allowed, true, 'b was forgotten, so it is full again');
});

test('memory store: the bound is per scope', () => {
  const store = new MemoryRateLimitStore({ maxClients: 1 });
  const r = compileRateLimitRules([{ requests: 1, per: 60_000 }]);
  store.take('one', 'a', r, 0);
  store.take('two', 'a', r, 0);
  assert.equal(store.evictions, 0);
  assert.equal(store.take('one', 'a', r, 0).allowed, false);
});
