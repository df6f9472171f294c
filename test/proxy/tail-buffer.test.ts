// TailBuffer keeps exactly the last N bytes of what streamed by, whatever the chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TailBuffer } from '../../src/proxy/forward/tail-buffer.js';

test('the last bytes, oldest first, for any chunking and capacity', () => {
  for (const capacity of [1, 7, 64, 1000]) {
    for (const sizes of [[0], [3], [5, 5, 5], [1, 63, 2, 200], [1000, 1, 999], [4096]]) {
      const tail = new TailBuffer(capacity);
      const chunks = sizes.map((n) => randomBytes(n));
      for (const chunk of chunks) tail.write(chunk);
      const all = Buffer.concat(chunks);
      assert.deepEqual(Buffer.from(tail.bytes()), all.subarray(Math.max(0, all.length - capacity)), `${capacity} ${sizes.join(',')}`);
    }
  }
});

test('bytes() is a copy; capacity 0 keeps nothing', () => {
  const tail = new TailBuffer(4);
  tail.write(Buffer.from('abcdef'));
  const first = tail.bytes();
  tail.write(Buffer.from('gh'));
  assert.equal(Buffer.from(first).toString(), 'cdef');
  assert.equal(Buffer.from(tail.bytes()).toString(), 'efgh');
  const none = new TailBuffer(0);
  none.write(Buffer.from('x'));
  assert.equal(none.bytes().length, 0);
});
