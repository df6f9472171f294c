/**
 * The session ID of a Lightning Node Connect connection and the two hashmail
 * stream IDs derived from it.
 *
 * Before pairing (no remote static key) the SID is SHA-512 of the raw pairing
 * entropy and the handshake is XX; once both sides know each other's static key
 * it is SHA-512(HMAC-SHA256(key = ECDH(local, remote), "mailbox")) and the
 * handshake is KK. Both sides compute the same SID. The stream the node side
 * writes (and the client reads) is the SID; the other direction is the SID with
 * the lowest bit of its last byte flipped.
 *
 * @internal Not exported from the package.
 */
import { createHash, createHmac } from 'node:crypto';
import { ecdh, parseCompressed } from './secp256k1.js';

/** Bytes of a session ID and of a hashmail stream ID. */
export const SESSION_ID_BYTES = 64;

/** What the SID is derived from. */
export interface SessionIdInput {
  /** The 14-byte pairing entropy. */
  entropy: Uint8Array;
  /** Our 32-byte static secret key (needed once the remote key is known). */
  localSecret?: Uint8Array | undefined;
  /** The peer's 33-byte compressed static public key, once paired. */
  remoteStatic?: Uint8Array | undefined;
}

/**
 * The session ID.
 * @param input - the entropy, and after pairing the local secret and remote key
 * @returns 64 bytes
 * @throws L402Error `L402_ERR_LNC_KEY_INVALID` when a remote key is given with a missing or invalid local secret or is not a curve point
 */
export function sessionId(input: SessionIdInput): Buffer {
  if (input.remoteStatic === undefined) return createHash('sha512').update(input.entropy).digest();
  const shared = ecdh(input.localSecret ?? new Uint8Array(0), parseCompressed(input.remoteStatic));
  const key = createHmac('sha256', shared).update('mailbox').digest();
  return createHash('sha512').update(key).digest();
}

/** The two simplex hashmail streams of a session, from the client's side. */
export interface SessionStreams {
  /** The stream the client reads and the node side writes: the SID itself. */
  clientReceive: Buffer;
  /** The stream the client writes and the node side reads: the SID with bit 0 of byte 63 flipped. */
  clientSend: Buffer;
}

/**
 * The stream IDs of a session.
 * @param sid - the 64-byte session ID
 * @returns both stream IDs (fresh copies)
 */
export function sessionStreams(sid: Uint8Array): SessionStreams {
  const clientReceive = Buffer.from(sid);
  const clientSend = Buffer.from(sid);
  clientSend[SESSION_ID_BYTES - 1] = (clientSend[SESSION_ID_BYTES - 1] as number) ^ 0x01;
  return { clientReceive, clientSend };
}
