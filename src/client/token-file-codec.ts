/**
 * The reference client's token file format (PROTOCOL §7), big-endian:
 *
 *     uint32 mac_len | V2 macaroon | payment_hash[32] | preimage[32] (zeros = pending)
 *     | amount_paid msat uint64 | routing_fee msat uint64 | created int64 UnixNano
 */
import { L402Error } from '../core/errors.js';
import type { StoredToken } from './token-store.js';

/** Bytes after the macaroon: hash, preimage, two uint64 and an int64. */
const TAIL = 32 + 32 + 8 + 8 + 8;
/** Largest macaroon accepted from a file; guards against reading garbage as a length. */
const MAX_MACAROON = 1 << 20;
const ZERO_PREIMAGE = '0'.repeat(64);
const UINT64_MAX = (1n << 64n) - 1n;

function invalid(message: string): L402Error {
  return new L402Error('L402_ERR_CLIENT_TOKEN_FILE_INVALID', `token file: ${message}`);
}

/**
 * Serialises a token in the reference format.
 * @param token - the token; a pending one is written with a zero preimage
 * @returns the file contents
 * @throws L402Error `L402_ERR_CLIENT_TOKEN_FILE_INVALID` when a field is out of range
 */
export function encodeTokenFile(token: StoredToken): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(token.paymentHash)) throw invalid('payment hash must be 64 lower-case hex characters');
  const preimage = token.preimage ?? ZERO_PREIMAGE;
  if (!/^[0-9a-f]{64}$/.test(preimage)) throw invalid('preimage must be 64 lower-case hex characters');
  if (token.macaroon.length === 0 || token.macaroon.length > MAX_MACAROON) throw invalid('macaroon length out of range');
  for (const [name, value] of [
    ['amount', token.amountPaidMsat],
    ['routing fee', token.routingFeeMsat],
  ] as const) {
    if (value < 0n || value > UINT64_MAX) throw invalid(`${name} out of uint64 range`);
  }
  const out = Buffer.alloc(4 + token.macaroon.length + TAIL);
  let at = out.writeUInt32BE(token.macaroon.length, 0);
  out.set(token.macaroon, at);
  at += token.macaroon.length;
  at += out.write(token.paymentHash, at, 'hex');
  at += out.write(preimage, at, 'hex');
  at = out.writeBigUInt64BE(token.amountPaidMsat, at);
  at = out.writeBigUInt64BE(token.routingFeeMsat, at);
  out.writeBigInt64BE(BigInt.asIntN(64, token.createdNs), at);
  return out;
}

/**
 * Parses a token file. Trailing bytes are rejected: a file is one token.
 * @param bytes - the file contents
 * @returns the token; `preimage` is `undefined` when the file holds a zero preimage (pending)
 * @throws L402Error `L402_ERR_CLIENT_TOKEN_FILE_INVALID` when the bytes are not a token file
 */
export function decodeTokenFile(bytes: Uint8Array): StoredToken {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 4) throw invalid('too short');
  const macLen = buf.readUInt32BE(0);
  if (macLen === 0 || macLen > MAX_MACAROON) throw invalid(`macaroon length ${macLen} out of range`);
  if (buf.length !== 4 + macLen + TAIL) throw invalid(`expected ${4 + macLen + TAIL} bytes, found ${buf.length}`);
  let at = 4;
  const macaroon = new Uint8Array(buf.subarray(at, at + macLen));
  at += macLen;
  const paymentHash = buf.toString('hex', at, at + 32);
  at += 32;
  const preimage = buf.toString('hex', at, at + 32);
  at += 32;
  const amountPaidMsat = buf.readBigUInt64BE(at);
  const routingFeeMsat = buf.readBigUInt64BE(at + 8);
  const createdNs = buf.readBigInt64BE(at + 16);
  return {
    macaroon,
    paymentHash,
    preimage: preimage === ZERO_PREIMAGE ? undefined : preimage,
    amountPaidMsat,
    routingFeeMsat,
    createdNs,
  };
}
