import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFreebieCounter } from '../../src/ratelimit/memory-freebie-counter.js';
import { freebieCounterConformance } from './freebie-counter.conformance.js';

freebieCounterConformance('memory', { skip: false, make: async (options) => new MemoryFreebieCounter(options) });

test('memory freebies: the bound forgets the least recently used network, which starts over', () => {
  const c = new MemoryFreebieCounter({ limit: 1, maxNetworks: 2 });
  assert.equal(c.tryUse('10.0.1.1'), true);
  assert.equal(c.tryUse('10.0.2.1'), true);
  assert.equal(c.tryUse('10.0.3.1'), true); // evicts 10.0.1.0/24
  assert.equal(c.stats().evictions, 1);
  assert.equal(c.tryUse('10.0.3.1'), false);
  assert.equal(c.tryUse('10.0.1.1'), true);
});
