/**
 * What the client reads from a challenge's macaroon: its bytes (stored and sent
 * back), its identifier (payment hash and token ID) and its first-party
 * caveats (shown to hooks). It shares the core's binary parser, which has no
 * Node dependency, and decodes base64 without `Buffer`, so that the client
 * runs in browsers and edge runtimes. The client never checks a signature: it
 * holds no root key.
 */
import { L402Error } from '../core/errors.js';
import { MAX_MACAROON_BYTES, parseMacaroonBinary } from '../core/macaroon-binary.js';
import { bytesOfBase64 } from './encoding.js';

/** A macaroon as the client keeps it. */
export interface ClientMacaroon {
  /** The serialized macaroon, as the server sent it. */
  binary: Uint8Array;
  /** The identifier. */
  identifier: Uint8Array;
  /** First-party caveats as UTF-8 strings, in order. */
  firstPartyCaveats: string[];
}

const utf8 = new TextDecoder();

/**
 * Reads a base64 macaroon (standard or URL-safe alphabet, padded or not).
 * @param text - base64 text from a challenge
 * @returns its bytes, identifier and first-party caveats
 * @throws L402Error `L402_ERR_MACAROON_BAD_ENCODING`, `L402_ERR_MACAROON_TOO_LARGE` and the
 *   parser's `L402_ERR_MACAROON_MALFORMED`, `L402_ERR_MACAROON_UNSUPPORTED_VERSION`
 */
export function readMacaroon(text: string): ClientMacaroon {
  if (text.length > (MAX_MACAROON_BYTES / 3) * 4 + 4) {
    throw new L402Error('L402_ERR_MACAROON_TOO_LARGE', `macaroon too large: ${text.length} characters`, { status: 400 });
  }
  const binary = bytesOfBase64(text);
  if (binary === undefined) throw new L402Error('L402_ERR_MACAROON_BAD_ENCODING', 'macaroon encoding invalid: not base64', { status: 400 });
  return parseMacaroonBinary(binary, (_location, identifier, caveats) => ({
    binary,
    identifier,
    firstPartyCaveats: caveats.filter((c) => c.verificationId === undefined).map((c) => utf8.decode(c.id)),
  }));
}
