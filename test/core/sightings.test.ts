import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fingerprintTail, Sightings } from '../../src/core/sightings.js';

test('Sightings: a key counts as seen again within one to two generations of distinct keys, then is forgotten', () => {
  const s = new Sightings(3);
  assert.equal(s.sight(1), false);
  assert.equal(s.sight(1), true);
  for (const k of [2, 3]) assert.equal(s.sight(k), false);
  // young is full (1, 2, 3): the next new key starts a generation; 1 is still remembered in the old one.
  assert.equal(s.sight(4), false);
  assert.equal(s.sight(1), true);
  for (const k of [5, 6, 7, 8]) s.sight(k);
  assert.equal(s.sight(2), false, 'two generations later, forgotten');
  s.clear();
  assert.equal(s.sight(8), false);
});

test('fingerprintTail: small non-negative integers from the end of a string', () => {
  const a = fingerprintTail('L402 abc:' + 'ab'.repeat(32));
  assert.ok(Number.isInteger(a) && a >= 0 && a < 2 ** 30);
  assert.equal(fingerprintTail('x'.repeat(100) + '0123456789ab'), fingerprintTail('y' + '0123456789ab'));
  assert.notEqual(fingerprintTail('0123456789ab'), fingerprintTail('0123456789ac'));
  assert.equal(fingerprintTail(''), 0);
});
