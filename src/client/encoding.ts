/**
 * Hex and base64 for the client, on plain `Uint8Array`s with nothing from Node
 * (no `Buffer`): the client also runs in browsers and edge runtimes.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Lower-case hex.
 * @param bytes - the bytes
 * @returns two characters per byte
 */
export function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] as number];
  return out;
}

/**
 * Decodes hex (either case).
 * @param text - an even number of hex digits
 * @returns the bytes, or undefined when it is not hex
 */
export function bytesOfHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Standard base64, padded.
 * @param bytes - the bytes
 * @returns base64 text
 */
export function base64Of(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Decodes base64: the standard or the URL-safe alphabet, padded or not.
 * @param text - base64 text
 * @returns the bytes, or undefined when it is not base64
 */
export function bytesOfBase64(text: string): Uint8Array | undefined {
  const m = /^([A-Za-z0-9+/_-]*)(={0,2})$/.exec(text);
  if (m === null) return undefined;
  const body = m[1] as string;
  if (body.length % 4 === 1 || (m[2] !== '' && (body.length + (m[2] as string).length) % 4 !== 0)) return undefined;
  const standard = body.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(standard.padEnd(standard.length + ((4 - (standard.length % 4)) % 4), '='));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
