import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { fromBase64Strict, fromHexStrict, hmac32, sha256 } from '../../src/core/bytes.js';

test('hmac32 equals node:crypto HMAC-SHA256 for any key and message length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.uint8Array({ maxLength: 1200 }), (key, data) => {
      assert.equal(Buffer.from(hmac32(key, data)).toString('hex'), createHmac('sha256', key).update(data).digest('hex'));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (key, data) => {
      assert.equal(Buffer.from(hmac32(key, data)).toString('hex'), createHmac('sha256', key).update(data).digest('hex'));
    }),
    { numRuns: 500 },
  );
});

test('sha256 equals node:crypto createHash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (d) => {
      assert.equal(sha256(d).toString('hex'), createHash('sha256').update(d).digest('hex'));
    }),
  );
});

test('strict base64 and hex decoding', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      const buf = Buffer.from(b);
      for (const text of [buf.toString('base64'), buf.toString('base64url'), buf.toString('base64').replace(/=+$/, '')]) {
        assert.deepEqual(Buffer.from(fromBase64Strict(text)!), buf);
      }
      assert.deepEqual(Buffer.from(fromHexStrict(buf.toString('hex').toUpperCase())!), buf);
    }),
  );
  for (const bad of ['A', 'AB=C', 'AB C', 'AB\nCD', 'ABC===', 'ABC.', 'AAA\u00e9', 'AB='])
    assert.equal(fromBase64Strict(bad), undefined, JSON.stringify(bad));
  for (const bad of ['0', 'zz', '0g', ' 00']) assert.equal(fromHexStrict(bad), undefined, bad);
});
