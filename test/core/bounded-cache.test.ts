import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedCache } from '../../src/core/bounded-cache.js';

test('BoundedCache evicts the least recently used entry; peek leaves recency alone, get and touch refresh it', () => {
  const cache = new BoundedCache<string, number>(2);
  cache.set('a', 1);
  cache.set('b', 2);
  assert.equal(cache.peek('a'), 1);
  cache.set('c', 3); // a was only peeked: it is the oldest
  assert.equal(cache.peek('a'), undefined);
  assert.equal(cache.get('b'), 2);
  cache.set('d', 4); // b was read: c goes
  assert.deepEqual([cache.peek('b'), cache.peek('c'), cache.peek('d')], [2, undefined, 4]);
  cache.touch('b');
  cache.set('e', 5);
  assert.deepEqual([cache.peek('b'), cache.peek('d'), cache.peek('e')], [2, undefined, 5]);
  assert.equal(cache.size, 2);
});

test('BoundedCache.updateAll replaces or removes values and keeps the recency order', () => {
  const cache = new BoundedCache<number, string>(3);
  cache.set(1, 'one');
  cache.set(2, 'two');
  cache.set(3, 'three');
  cache.updateAll((v) => (v === 'two' ? undefined : v === 'one' ? 'ONE' : v));
  assert.deepEqual([cache.peek(1), cache.peek(2), cache.peek(3), cache.size], ['ONE', undefined, 'three', 2]);
  cache.set(4, 'four');
  cache.set(5, 'five'); // 1 is still the oldest: updating it did not refresh it
  assert.deepEqual([cache.peek(1), cache.peek(3), cache.peek(4), cache.peek(5)], [undefined, 'three', 'four', 'five']);
  assert.equal(
    cache.deleteWhere((v) => v.startsWith('f')),
    2,
  );
  assert.equal(cache.size, 1);
  cache.clear();
  assert.equal(cache.size, 0);
});
