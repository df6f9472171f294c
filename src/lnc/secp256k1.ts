/**
 * The few secp256k1 operations Lightning Node Connect needs and node:crypto does
 * not offer: adding points (the SPAKE2 mask), multiplying an arbitrary point by a
 * scalar, negating, and the 33-byte compressed encoding. Written from the curve's
 * public definition (SEC 2: y² = x³ + 7 over the prime field p, base point G of
 * order n) with BigInt in Jacobian coordinates. It is not constant-time and not a
 * hot path: a handshake does about six multiplications.
 *
 * @internal Not exported from the package.
 */
import { createHash } from 'node:crypto';
import { L402Error } from '../core/errors.js';

/** The field prime. */
const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
/** The order of the base point. */
export const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const GX = 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n;
const GY = 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n;

function mod(a: bigint, m: bigint = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function powMod(base: bigint, exponent: bigint, m: bigint = P): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

function invert(a: bigint): bigint {
  return powMod(a, P - 2n);
}

/** A point of the curve in affine coordinates; `undefined` stands for the point at infinity. */
export interface AffinePoint {
  readonly x: bigint;
  readonly y: bigint;
}

/** Jacobian coordinates: (X, Y, Z) is (X/Z², Y/Z³); Z = 0 is infinity. */
interface Jacobian {
  x: bigint;
  y: bigint;
  z: bigint;
}

const INFINITY: Jacobian = { x: 0n, y: 1n, z: 0n };

function toJacobian(p: AffinePoint): Jacobian {
  return { x: p.x, y: p.y, z: 1n };
}

function toAffine(p: Jacobian): AffinePoint | undefined {
  if (p.z === 0n) return undefined;
  const zInv = invert(p.z);
  const zInv2 = (zInv * zInv) % P;
  return { x: (p.x * zInv2) % P, y: (p.y * zInv2 * zInv) % P };
}

function double(p: Jacobian): Jacobian {
  if (p.z === 0n || p.y === 0n) return INFINITY;
  const a = (p.x * p.x) % P;
  const b = (p.y * p.y) % P;
  const c = (b * b) % P;
  const d = mod(2n * (mod((p.x + b) * (p.x + b)) - a - c));
  const e = (3n * a) % P;
  const f = (e * e) % P;
  const x = mod(f - 2n * d);
  const y = mod(e * (d - x) - 8n * c);
  const z = mod(2n * p.y * p.z);
  return { x, y, z };
}

function addJacobian(p: Jacobian, q: Jacobian): Jacobian {
  if (p.z === 0n) return q;
  if (q.z === 0n) return p;
  const z1z1 = (p.z * p.z) % P;
  const z2z2 = (q.z * q.z) % P;
  const u1 = (p.x * z2z2) % P;
  const u2 = (q.x * z1z1) % P;
  const s1 = (p.y * q.z * z2z2) % P;
  const s2 = (q.y * p.z * z1z1) % P;
  if (u1 === u2) return s1 === s2 ? double(p) : INFINITY;
  const h = mod(u2 - u1);
  const r = mod(s2 - s1);
  const h2 = (h * h) % P;
  const h3 = (h2 * h) % P;
  const u1h2 = (u1 * h2) % P;
  const x = mod(r * r - h3 - 2n * u1h2);
  const y = mod(r * (u1h2 - x) - s1 * h3);
  const z = (h * p.z * q.z) % P;
  return { x, y, z };
}

/** The base point G. */
export const BASE_POINT: AffinePoint = Object.freeze({ x: GX, y: GY });

/**
 * Whether (x, y) satisfies y² = x³ + 7 with both coordinates in the field.
 * @param p - the point
 * @returns true when the point is on the curve
 */
export function isOnCurve(p: AffinePoint): boolean {
  if (p.x < 0n || p.x >= P || p.y < 0n || p.y >= P) return false;
  return mod(p.y * p.y - (p.x * p.x * p.x + 7n)) === 0n;
}

/**
 * The sum of two points.
 * @param a - a point
 * @param b - a point
 * @returns a + b, or `undefined` for the point at infinity
 */
export function addPoints(a: AffinePoint, b: AffinePoint): AffinePoint | undefined {
  return toAffine(addJacobian(toJacobian(a), toJacobian(b)));
}

/**
 * The negation of a point (same x, y replaced by p − y).
 * @param a - a point
 * @returns −a
 */
export function negatePoint(a: AffinePoint): AffinePoint {
  return { x: a.x, y: mod(-a.y) };
}

/**
 * A point multiplied by a scalar (double-and-add; not constant-time).
 * @param a - a point
 * @param k - the scalar, taken modulo the curve order
 * @returns k·a, or `undefined` for the point at infinity (k ≡ 0)
 */
export function multiplyPoint(a: AffinePoint, k: bigint): AffinePoint | undefined {
  let scalar = mod(k, CURVE_ORDER);
  let result = INFINITY;
  let addend = toJacobian(a);
  while (scalar > 0n) {
    if (scalar & 1n) result = addJacobian(result, addend);
    addend = double(addend);
    scalar >>= 1n;
  }
  return toAffine(result);
}

/**
 * Reads a big-endian unsigned integer.
 * @param bytes - the bytes, most significant first
 * @returns their value
 */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}

function bigIntTo32(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

/**
 * The 33-byte compressed encoding of a point: 02 (even y) or 03 (odd y), then x.
 * @param a - a point
 * @returns the encoding
 */
export function encodeCompressed(a: AffinePoint): Buffer {
  return Buffer.concat([Buffer.of(a.y & 1n ? 0x03 : 0x02), bigIntTo32(a.x)]);
}

/**
 * Parses a 33-byte compressed point.
 * @param bytes - 02 or 03, then the 32-byte x coordinate
 * @returns the point
 * @throws L402Error `L402_ERR_LNC_KEY_INVALID` when the bytes are not a compressed point of the curve
 */
export function parseCompressed(bytes: Uint8Array): AffinePoint {
  const prefix = bytes[0];
  if (bytes.length !== 33 || (prefix !== 0x02 && prefix !== 0x03)) {
    throw new L402Error('L402_ERR_LNC_KEY_INVALID', `not a compressed secp256k1 point: ${bytes.length} bytes starting ${String(prefix)}`);
  }
  const x = bytesToBigInt(bytes.subarray(1));
  if (x >= P) throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'not a secp256k1 point: x is not below the field prime');
  const ySquared = mod(x * x * x + 7n);
  // p ≡ 3 (mod 4), so a square root is y²^((p+1)/4) when one exists.
  let y = powMod(ySquared, (P + 1n) / 4n);
  if ((y * y) % P !== ySquared) throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'not a secp256k1 point: x is not on the curve');
  if ((y & 1n) !== BigInt(prefix & 1)) y = mod(-y);
  return { x, y };
}

/**
 * Reads a 32-byte secret key and checks that it is a valid scalar (1 ≤ k < n).
 * @param secret - 32 bytes, big-endian
 * @returns the scalar
 * @throws L402Error `L402_ERR_LNC_KEY_INVALID` when it is not
 */
export function secretScalar(secret: Uint8Array): bigint {
  if (secret.length !== 32) throw new L402Error('L402_ERR_LNC_KEY_INVALID', `a secp256k1 secret key has 32 bytes, not ${secret.length}`);
  const k = bytesToBigInt(secret);
  if (k === 0n || k >= CURVE_ORDER)
    throw new L402Error('L402_ERR_LNC_KEY_INVALID', 'a secp256k1 secret key must be between 1 and the curve order');
  return k;
}

/**
 * The compressed public key of a secret key.
 * @param secret - 32 bytes, big-endian
 * @returns the 33-byte compressed point secret·G
 * @throws L402Error `L402_ERR_LNC_KEY_INVALID` for an invalid secret
 */
export function publicKeyOf(secret: Uint8Array): Buffer {
  // secret is in [1, n), so the product is never infinity.
  return encodeCompressed(multiplyPoint(BASE_POINT, secretScalar(secret)) as AffinePoint);
}

/**
 * lnd's ECDH: SHA-256 of the compressed encoding of secret·point.
 * @param secret - 32 bytes, big-endian
 * @param point - the other side's point
 * @returns the 32-byte shared secret
 * @throws L402Error `L402_ERR_LNC_KEY_INVALID` for an invalid secret
 */
export function ecdh(secret: Uint8Array, point: AffinePoint): Buffer {
  const shared = multiplyPoint(point, secretScalar(secret)) as AffinePoint;
  return createHash('sha256').update(encodeCompressed(shared)).digest();
}
