/**
 * The L402 token identifier, version 0: `uint16 version ‖ payment_hash[32] ‖ token_id[32]`,
 * big-endian, 66 bytes.
 */
import { L402Error } from './errors.js';

/** Length of a v0 identifier in bytes. */
export const IDENTIFIER_V0_LENGTH = 66;

/** A decoded token identifier. */
export interface TokenIdentifier {
  /** Identifier version; only 0 exists. */
  version: 0;
  /** sha256 of the invoice preimage, 32 bytes. */
  paymentHash: Uint8Array;
  /** 32 random bytes; their lower-case hex is "the token ID". */
  tokenId: Uint8Array;
}

/**
 * Encodes a v0 identifier.
 * @param id - version, payment hash and token id
 * @returns the 66 bytes
 * @throws L402Error `L402_ERR_TOKEN_BAD_IDENTIFIER` when a field has the wrong length,
 *   `L402_ERR_TOKEN_UNKNOWN_VERSION` when the version is not 0
 */
export function encodeIdentifier(id: TokenIdentifier): Uint8Array {
  if (id.version !== 0)
    throw new L402Error('L402_ERR_TOKEN_UNKNOWN_VERSION', `unknown identifier version ${String(id.version)}`, { status: 400 });
  if (id.paymentHash.length !== 32 || id.tokenId.length !== 32) {
    throw new L402Error('L402_ERR_TOKEN_BAD_IDENTIFIER', 'payment hash and token id must be 32 bytes each', { status: 400 });
  }
  const out = new Uint8Array(IDENTIFIER_V0_LENGTH);
  out.set(id.paymentHash, 2);
  out.set(id.tokenId, 34);
  return out;
}

/**
 * Decodes a v0 identifier.
 * @param bytes - the macaroon identifier
 * @returns its fields (sub-arrays of `bytes`, not copies)
 * @throws L402Error `L402_ERR_TOKEN_UNKNOWN_VERSION` for a version other than 0,
 *   `L402_ERR_TOKEN_BAD_IDENTIFIER` when the length is not 66
 */
export function decodeIdentifier(bytes: Uint8Array): TokenIdentifier {
  if (bytes.length < 2) throw new L402Error('L402_ERR_TOKEN_BAD_IDENTIFIER', `identifier of ${bytes.length} bytes`, { status: 400 });
  const version = ((bytes[0] as number) << 8) | (bytes[1] as number);
  if (version !== 0) throw new L402Error('L402_ERR_TOKEN_UNKNOWN_VERSION', `unknown identifier version ${version}`, { status: 400 });
  if (bytes.length !== IDENTIFIER_V0_LENGTH) {
    throw new L402Error('L402_ERR_TOKEN_BAD_IDENTIFIER', `v0 identifier of ${bytes.length} bytes, expected ${IDENTIFIER_V0_LENGTH}`, {
      status: 400,
    });
  }
  return { version: 0, paymentHash: bytes.subarray(2, 34), tokenId: bytes.subarray(34, 66) };
}

/**
 * A fresh random token id.
 * @returns 32 random bytes
 */
export function newTokenId(): Uint8Array {
  // Web Crypto's generator (Node's own CSPRNG): this module has no Node imports, so that clients in browsers can decode identifiers.
  return globalThis.crypto.getRandomValues(new Uint8Array(32));
}
