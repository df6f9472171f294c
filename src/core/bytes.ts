/**
 * Byte helpers shared by the core codecs: strict hex and base64 decoding (Node's
 * own decoders silently skip bad characters, which a parser of untrusted headers
 * must not do), hex encoding and a constant-time comparison.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

/**
 * Characters of either base64 alphabet (standard and URL-safe), then only `=`.
 * A compiled regular expression checks a 250-character macaroon in about half
 * the time of a charCodeAt loop.
 */
const B64_TEXT = /^[A-Za-z0-9+/_-]*=*$/;

/**
 * Views a byte array as a Buffer without copying.
 * @param bytes - the bytes
 * @returns a Buffer over the same memory
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Lower-case hex of some bytes.
 * @param bytes - the bytes
 * @returns lower-case hex, two characters per byte
 */
export function toHex(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('hex');
}

/**
 * Strict hex decoding: even length, `0-9a-fA-F` only.
 * @param text - hex text
 * @returns the bytes, or `undefined` when `text` is not hex
 */
export function fromHexStrict(text: string): Uint8Array | undefined {
  const n = text.length;
  if ((n & 1) !== 0) return undefined;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || HEX_VALUE[c] === -1) return undefined;
  }
  return Buffer.from(text, 'hex');
}

/**
 * Whether `text` is exactly `length` hex characters.
 * @param text - candidate
 * @param length - required number of characters
 * @returns `true` when it is
 */
export function isHex(text: string, length: number): boolean {
  if (text.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || HEX_VALUE[c] === -1) return false;
  }
  return true;
}

/**
 * Strict base64 decoding of either alphabet (standard `+/` or URL-safe `-_`),
 * padded or not. Padding, when present, must be complete and only at the end.
 * @param text - base64 text
 * @returns the bytes, or `undefined` when `text` is not base64
 */
export function fromBase64Strict(text: string): Uint8Array | undefined {
  let n = text.length;
  let pad = 0;
  while (n > 0 && text.charCodeAt(n - 1) === 61 /* = */) {
    n--;
    pad++;
  }
  if (pad > 2) return undefined;
  if (pad > 0 && text.length % 4 !== 0) return undefined;
  if (n % 4 === 1) return undefined;
  if (!B64_TEXT.test(text)) return undefined;
  return Buffer.from(pad === 0 ? text : text.slice(0, n), 'base64');
}

/**
 * Copies a 32-character latin1 digest string into `out` at `offset`.
 *
 * Why latin1 (`'binary'` is its alias): on Node 20 `crypto.hash(…, 'buffer')`
 * spends about 0.4 µs making the result Buffer, more than hashing a short
 * message costs; a latin1 string (one character per byte, exact) plus this loop
 * costs a fraction of that.
 */
function putDigest(digest: string, out: Uint8Array, offset: number): void {
  for (let i = 0; i < 32; i++) out[offset + i] = digest.charCodeAt(i);
}

/**
 * SHA-256 of some bytes as a 32-character latin1 string (one character per
 * byte): the cheapest form of a digest on Node 20, and usable as a Map key.
 * @param bytes - input
 * @returns the digest, 32 characters with codes 0–255
 */
export function sha256Latin1(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'binary');
}

/**
 * Writes SHA-256 of `bytes` into `out` at `offset` (32 bytes), allocating nothing.
 * @param bytes - input
 * @param out - destination, at least `offset + 32` bytes
 * @param offset - where the digest starts in `out`
 */
export function sha256Into(bytes: Uint8Array, out: Uint8Array, offset: number): void {
  putDigest(hash('sha256', bytes, 'binary'), out, offset);
}

/**
 * Bytes from a latin1 digest string, as made by {@link sha256Latin1}.
 * @param digest - 32 characters with codes 0–255
 * @returns a fresh 32-byte Buffer
 */
export function digestBytes(digest: string): Buffer {
  const out = Buffer.alloc(32);
  putDigest(digest, out, 0);
  return out;
}

/**
 * SHA-256 of some bytes.
 * @param bytes - input
 * @returns the 32-byte digest
 */
export function sha256(bytes: Uint8Array): Buffer {
  // The one-shot form skips the Hash object: about a third cheaper per call.
  return digestBytes(hash('sha256', bytes, 'binary'));
}

/**
 * HMAC-SHA256.
 * @param key - the key
 * @param data - the message
 * @returns the 32-byte tag
 */
export function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

const HMAC_MAX_DATA = 1024;
/** ipad-masked key (bytes 0–32), the fixed rest of the ipad block (32–64), then the message. */
const HMAC_INNER = Buffer.alloc(64 + HMAC_MAX_DATA, 0x36);
/** opad-masked key (0–32), the fixed rest of the opad block (32–64), then the inner digest. */
const HMAC_OUTER = Buffer.alloc(96, 0x5c);
/** Views of HMAC_INNER by message length, made once each: a subarray per call costs an allocation. */
const HMAC_INNER_VIEWS: Array<Uint8Array | undefined> = [];

/**
 * HMAC-SHA256 written into `out` at `offset`, allocating nothing: two one-shot
 * hashes over preallocated pads. Bytes 32–64 of each pad are constant for the
 * usual 32-byte keys and are only rewritten (and restored) for other key
 * lengths. `out` may be `key` itself (the key is read into the pads before
 * anything is written). Keys over 64 bytes and messages over 1024 bytes go
 * through {@link hmac}, with the same result.
 * @param key - the key, normally 32 bytes
 * @param data - the message
 * @param out - destination, at least `offset + 32` bytes
 * @param offset - where the tag starts in `out`
 */
export function hmac32Into(key: Uint8Array, data: Uint8Array, out: Uint8Array, offset: number): void {
  const len = data.length;
  const keyLen = key.length;
  if (keyLen > 64 || len > HMAC_MAX_DATA) {
    out.set(hmac(key, data), offset);
    return;
  }
  const inner = HMAC_INNER;
  const outer = HMAC_OUTER;
  if (keyLen === 32) {
    for (let i = 0; i < 32; i++) {
      const k = key[i] as number;
      inner[i] = k ^ 0x36;
      outer[i] = k ^ 0x5c;
    }
  } else {
    for (let i = 0; i < 64; i++) {
      const k = i < keyLen ? (key[i] as number) : 0;
      inner[i] = k ^ 0x36;
      outer[i] = k ^ 0x5c;
    }
  }
  inner.set(data, 64);
  let view = HMAC_INNER_VIEWS[len];
  if (view === undefined) {
    view = inner.subarray(0, 64 + len);
    HMAC_INNER_VIEWS[len] = view;
  }
  putDigest(hash('sha256', view, 'binary'), outer, 64);
  putDigest(hash('sha256', outer, 'binary'), out, offset);
  if (keyLen !== 32) {
    inner.fill(0x36, 32, 64);
    outer.fill(0x5c, 32, 64);
  }
}

/**
 * HMAC-SHA256 built from two one-shot hashes over preallocated buffers. Same
 * result as {@link hmac}; on Node 20 it avoids the per-call setup of an Hmac
 * object, which dominates for the short messages of a macaroon signature chain.
 * Falls back to {@link hmac} for keys over 64 bytes and messages over 1024 bytes.
 * @param key - the key, normally 32 bytes
 * @param data - the message
 * @returns the 32-byte tag
 */
export function hmac32(key: Uint8Array, data: Uint8Array): Buffer {
  if (key.length > 64 || data.length > HMAC_MAX_DATA) return hmac(key, data);
  const out = Buffer.alloc(32);
  hmac32Into(key, data, out, 0);
  return out;
}

/**
 * Constant-time equality of two byte arrays (lengths are not secret).
 * @param a - first
 * @param b - second
 * @returns `true` when equal
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const encoder = new TextEncoder();

/**
 * UTF-8 encoding.
 * @param text - a string
 * @returns its UTF-8 bytes
 */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * UTF-8 decoding (invalid sequences become U+FFFD).
 * @param bytes - UTF-8 bytes
 * @returns the string
 */
export function fromUtf8(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('utf8');
}
