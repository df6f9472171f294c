/**
 * The two small codecs under the Noise stream of Lightning Node Connect:
 *
 * - gbn packets (go-back-N reliability over the hashmail streams): SYN(N),
 *   SYNACK, FIN, ACK(seq), NACK(seq), and DATA(seq, final chunk, ping, payload);
 *   one packet per mailbox message.
 * - MsgData, the byte-stream frame carried by DATA payloads: version 0, a 4-byte
 *   big-endian length, the bytes.
 *
 * @internal Not exported from the package.
 */
import { L402Error } from '../core/errors.js';

/** A gbn packet. */
export type GbnPacket =
  | { readonly type: 'SYN'; readonly n: number }
  | { readonly type: 'SYNACK' }
  | { readonly type: 'FIN' }
  | { readonly type: 'ACK'; readonly seq: number }
  | { readonly type: 'NACK'; readonly seq: number }
  | { readonly type: 'DATA'; readonly seq: number; readonly finalChunk: boolean; readonly isPing: boolean; readonly payload: Buffer };

const TYPE = { SYN: 0x01, DATA: 0x02, ACK: 0x03, NACK: 0x04, FIN: 0x05, SYNACK: 0x06 } as const;

function byte(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new L402Error('L402_ERR_LNC_PACKET_MALFORMED', `a gbn ${what} is a byte (0-255), not ${String(value)}`);
  }
  return value;
}

/**
 * Encodes a gbn packet.
 * @param packet - the packet
 * @returns its bytes
 * @throws L402Error `L402_ERR_LNC_PACKET_MALFORMED` when a sequence number or N is not a byte
 */
export function encodeGbnPacket(packet: GbnPacket): Buffer {
  switch (packet.type) {
    case 'SYN':
      return Buffer.of(TYPE.SYN, byte(packet.n, 'window size'));
    case 'SYNACK':
      return Buffer.of(TYPE.SYNACK);
    case 'FIN':
      return Buffer.of(TYPE.FIN);
    case 'ACK':
      return Buffer.of(TYPE.ACK, byte(packet.seq, 'sequence number'));
    case 'NACK':
      return Buffer.of(TYPE.NACK, byte(packet.seq, 'sequence number'));
    case 'DATA':
      return Buffer.concat([
        Buffer.of(TYPE.DATA, byte(packet.seq, 'sequence number'), packet.finalChunk ? 1 : 0, packet.isPing ? 1 : 0),
        packet.payload,
      ]);
  }
}

/**
 * Decodes a gbn packet. Unlike the reference, a DATA packet shorter than its
 * 4-byte header is refused instead of read past its end.
 * @param bytes - one mailbox message
 * @returns the packet (a DATA payload is a copy)
 * @throws L402Error `L402_ERR_LNC_PACKET_MALFORMED` for an empty, short or unknown packet
 */
export function decodeGbnPacket(bytes: Uint8Array): GbnPacket {
  const need = (n: number, what: string): void => {
    if (bytes.length < n)
      throw new L402Error('L402_ERR_LNC_PACKET_MALFORMED', `a gbn ${what} packet has at least ${n} bytes, not ${bytes.length}`);
  };
  need(1, 'packet');
  switch (bytes[0]) {
    case TYPE.SYN:
      need(2, 'SYN');
      return { type: 'SYN', n: bytes[1] as number };
    case TYPE.SYNACK:
      return { type: 'SYNACK' };
    case TYPE.FIN:
      return { type: 'FIN' };
    case TYPE.ACK:
      need(2, 'ACK');
      return { type: 'ACK', seq: bytes[1] as number };
    case TYPE.NACK:
      need(2, 'NACK');
      return { type: 'NACK', seq: bytes[1] as number };
    case TYPE.DATA:
      need(4, 'DATA');
      return {
        type: 'DATA',
        seq: bytes[1] as number,
        finalChunk: bytes[2] === 1,
        isPing: bytes[3] === 1,
        payload: Buffer.from(bytes.subarray(4)),
      };
    default:
      throw new L402Error('L402_ERR_LNC_PACKET_MALFORMED', `unknown gbn packet type ${String(bytes[0])}`);
  }
}

/** The MsgData protocol version. */
export const MSG_DATA_VERSION = 0;
const MSG_DATA_HEADER = 5;

/**
 * Frames bytes as one MsgData.
 * @param payload - the bytes (one Noise act, or transport bytes)
 * @returns version 0, the big-endian u32 length, the bytes
 */
export function encodeMsgData(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(MSG_DATA_HEADER);
  header[0] = MSG_DATA_VERSION;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/**
 * Reads one MsgData. Bytes after the announced length are ignored, as the reference does.
 * @param bytes - a reassembled gbn message
 * @returns the version and a copy of the payload
 * @throws L402Error `L402_ERR_LNC_PACKET_MALFORMED` when the bytes are shorter than the header or the announced length
 */
export function decodeMsgData(bytes: Uint8Array): { version: number; payload: Buffer } {
  if (bytes.length < MSG_DATA_HEADER) {
    throw new L402Error('L402_ERR_LNC_PACKET_MALFORMED', `a MsgData has at least ${MSG_DATA_HEADER} bytes, not ${bytes.length}`);
  }
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(1);
  if (bytes.length < MSG_DATA_HEADER + length) {
    throw new L402Error(
      'L402_ERR_LNC_PACKET_MALFORMED',
      `a MsgData announces ${length} bytes but carries ${bytes.length - MSG_DATA_HEADER}`,
    );
  }
  return { version: bytes[0] as number, payload: Buffer.from(bytes.subarray(MSG_DATA_HEADER, MSG_DATA_HEADER + length)) };
}
