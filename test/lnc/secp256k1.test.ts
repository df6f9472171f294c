// The BigInt secp256k1 operations against node:crypto's own secp256k1 (public
// keys and ECDH x-coordinates) and the algebra the SPAKE2 mask relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  addPoints,
  BASE_POINT,
  CURVE_ORDER,
  ecdh,
  encodeCompressed,
  isOnCurve,
  multiplyPoint,
  negatePoint,
  parseCompressed,
  publicKeyOf,
  type AffinePoint,
} from '../../src/lnc/secp256k1.js';
import { SPAKE2_N } from '../../src/lnc/noise.js';

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => {
  const k = BigInt(`0x${Buffer.from(b).toString('hex')}`);
  return k > 0n && k < CURVE_ORDER;
});

test('public keys and ECDH agree with node:crypto', () => {
  fc.assert(
    fc.property(secretArb, secretArb, (a, b) => {
      const nodeA = createECDH('secp256k1');
      nodeA.setPrivateKey(a);
      assert.equal(publicKeyOf(a).toString('hex'), nodeA.getPublicKey('hex', 'compressed'));
      const pubB = publicKeyOf(b);
      // node:crypto gives the x-coordinate only; ours hashes the compressed point.
      const shared = multiplyPoint(parseCompressed(pubB), BigInt(`0x${Buffer.from(a).toString('hex')}`)) as AffinePoint;
      assert.equal(encodeCompressed(shared).subarray(1).toString('hex'), nodeA.computeSecret(pubB).toString('hex'));
      assert.deepEqual(ecdh(a, parseCompressed(pubB)), createHash('sha256').update(encodeCompressed(shared)).digest());
      assert.deepEqual(ecdh(a, parseCompressed(pubB)), ecdh(b, parseCompressed(publicKeyOf(a))));
    }),
    { numRuns: 20 },
  );
});

test('compressed encoding round-trips; points off the curve are refused', () => {
  fc.assert(
    fc.property(secretArb, (a) => {
      const pub = publicKeyOf(a);
      const point = parseCompressed(pub);
      assert.ok(isOnCurve(point));
      assert.deepEqual(encodeCompressed(point), pub);
    }),
    { numRuns: 20 },
  );
  assert.throws(() => parseCompressed(Buffer.alloc(33, 4)), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.throws(() => parseCompressed(Buffer.alloc(32, 2)), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.throws(() => parseCompressed(Buffer.concat([Buffer.of(3), Buffer.alloc(32, 0xff)])), { code: 'L402_ERR_LNC_KEY_INVALID' });
  // x = 5 has no y: 5³ + 7 = 132 is not a square modulo p.
  assert.throws(() => parseCompressed(Buffer.concat([Buffer.of(2), Buffer.alloc(31), Buffer.of(5)])), {
    code: 'L402_ERR_LNC_KEY_INVALID',
    message: /not on the curve/,
  });
});

test('the group law: (a+b)G = aG + bG, P + (−P) = ∞, nG = ∞, 2P = P + P', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }), fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }), (a, b) => {
      const sum = multiplyPoint(BASE_POINT, a + b);
      assert.deepEqual(sum, addPoints(multiplyPoint(BASE_POINT, a) as AffinePoint, multiplyPoint(BASE_POINT, b) as AffinePoint));
      const p = multiplyPoint(BASE_POINT, a) as AffinePoint;
      assert.equal(addPoints(p, negatePoint(p)), undefined);
      assert.deepEqual(addPoints(p, p), multiplyPoint(p, 2n));
    }),
    { numRuns: 10 },
  );
  assert.equal(multiplyPoint(BASE_POINT, CURVE_ORDER), undefined);
  assert.equal(multiplyPoint(BASE_POINT, 0n), undefined);
});

test('SPAKE2 N is the try-and-increment point of "Lightning Node Connect" at i = 1, and masking inverts', () => {
  const nums = (i: bigint): Buffer => {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(i);
    return createHash('sha256').update(counter).update('Lightning Node Connect').digest();
  };
  assert.throws(() => parseCompressed(Buffer.concat([Buffer.of(2), nums(0n)])), { code: 'L402_ERR_LNC_KEY_INVALID' });
  assert.deepEqual(parseCompressed(Buffer.concat([Buffer.of(2), nums(1n)])), SPAKE2_N);
  fc.assert(
    fc.property(secretArb, fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }), (e, pw) => {
      const E = parseCompressed(publicKeyOf(e));
      const pwN = multiplyPoint(SPAKE2_N, pw) as AffinePoint;
      const masked = addPoints(E, pwN) as AffinePoint;
      assert.notDeepEqual(masked, E);
      assert.deepEqual(addPoints(masked, negatePoint(pwN)), E);
    }),
    { numRuns: 10 },
  );
});
