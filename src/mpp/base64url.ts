/**
 * base64url (RFC 4648 §5) as the Payment scheme uses it: emitted without
 * padding; decoded strictly, so that one payload has exactly one spelling
 * (Node's own decoder skips foreign characters and ignores non-zero trailing
 * bits, which would let two different strings stand for one credential).
 */
import { malformed } from './mpp-error.js';

const URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * Encodes bytes as base64url without padding.
 * @param bytes - the bytes
 * @returns the unpadded base64url text
 */
export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes base64url strictly: URL alphabet only (no `+`, `/`, whitespace or
 * line breaks), padding optional but, when present, at most two `=` bringing
 * the length to a multiple of four, and the bits a final partial character
 * cannot carry must be zero.
 * @param text - base64url text, padded or not
 * @returns the bytes
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when the text breaks any of those rules
 */
export function decodeBase64Url(text: string): Buffer {
  if (typeof text !== 'string') throw malformed('base64url input is not a string');
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  const padding = text.length - end;
  if (padding > 2) throw malformed(`base64url input has ${padding} padding characters, at most 2 are allowed`);
  if (padding > 0 && text.length % 4 !== 0) {
    throw malformed(`padded base64url input has length ${text.length}, not a multiple of 4`);
  }
  const body = padding === 0 ? text : text.slice(0, end);
  if (!URL_ALPHABET.test(body)) throw malformed('base64url input has a character outside the URL-safe alphabet');
  if (body.length % 4 === 1) throw malformed('base64url input has a dangling final character');
  const bytes = Buffer.from(body, 'base64url');
  // Re-encoding gives back the input only when the unused trailing bits were zero.
  if (bytes.toString('base64url') !== body) throw malformed('base64url input has non-zero trailing bits');
  return bytes;
}
