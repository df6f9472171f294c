/**
 * The messages of the `hashmailrpc.HashMail` service on the wire: protobuf
 * binary for gRPC, written and read here (five small messages; no protobuf
 * library). Field numbers and names are those of the reference's
 * `hashmailrpc` package, restated in {@link HASHMAIL_PROTO}.
 *
 * Reading follows protobuf's rules: fields in any order, the last of a
 * repeated scalar wins, unknown fields skipped; a message that does not parse
 * is an error answer (gRPC 13, as grpc-go answers a request it cannot
 * unmarshal), never an exception past the front end.
 *
 * @internal Not exported from the package.
 */
import { HASHMAIL_GRPC_CODE, HashmailError } from './hashmail-core.js';

/**
 * The service in proto form (package `hashmailrpc`), for reference and for the
 * tests' gRPC client; the codec below is written from it.
 */
export const HASHMAIL_PROTO = `syntax = "proto3";
package hashmailrpc;

service HashMail {
  rpc NewCipherBox (CipherBoxAuth) returns (CipherInitResp);
  rpc DelCipherBox (CipherBoxAuth) returns (DelCipherBoxResp);
  rpc SendStream (stream CipherBox) returns (CipherBoxDesc);
  rpc RecvStream (CipherBoxDesc) returns (stream CipherBox);
}

message LndAuth {}
message CipherBoxAuth {
  CipherBoxDesc desc = 1;
  oneof auth { LndAuth lnd_auth = 2; }
}
message DelCipherBoxResp {}
message CipherChallenge {}
message CipherError {}
message CipherSuccess { CipherBoxDesc desc = 1; }
message CipherInitResp {
  oneof resp {
    CipherSuccess success = 1;
    CipherChallenge challenge = 2;
    CipherError error = 3;
  }
}
message CipherBoxDesc { bytes stream_id = 1; }
message CipherBox {
  CipherBoxDesc desc = 1;
  bytes msg = 2;
}
`;

/** The gRPC service name and its path prefix. */
export const HASHMAIL_SERVICE = 'hashmailrpc.HashMail';
/** `/hashmailrpc.HashMail/`: the prefix of the service's gRPC paths. */
export const HASHMAIL_GRPC_PREFIX = `/${HASHMAIL_SERVICE}/`;

/** A decoded `CipherBoxDesc`: `stream_id` absent when it was not sent. */
export interface CipherBoxDesc {
  stream_id?: Uint8Array;
}

/** A decoded `CipherBoxAuth`: `auth` present when `lnd_auth` was sent. */
export interface CipherBoxAuth {
  desc?: CipherBoxDesc;
  auth?: { lnd_auth: Record<string, never> };
}

/** A decoded `CipherBox`. */
export interface CipherBox {
  desc?: CipherBoxDesc;
  msg: Uint8Array;
}

function malformed(what: string): HashmailError {
  return new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', `grpc: error unmarshalling request: ${what}`, HASHMAIL_GRPC_CODE.INTERNAL);
}

/** Reads the fields of one message: number, wire type, and the bytes of a length-delimited one. */
function* fields(bytes: Uint8Array, what: string): Generator<{ field: number; wire: number; value: Uint8Array | undefined }> {
  let at = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (at >= bytes.length) throw malformed(`truncated varint in ${what}`);
      const b = bytes[at++] as number;
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw malformed(`overlong varint in ${what}`);
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw malformed(`field number 0 in ${what}`);
    switch (wire) {
      case 0:
        varint();
        yield { field, wire, value: undefined };
        break;
      case 1:
      case 5: {
        const size = wire === 1 ? 8 : 4;
        if (at + size > bytes.length) throw malformed(`truncated fixed field in ${what}`);
        at += size;
        yield { field, wire, value: undefined };
        break;
      }
      case 2: {
        const length = varint();
        if (length > bytes.length - at) throw malformed(`truncated field ${field} in ${what}`);
        const value = bytes.subarray(at, at + length);
        at += length;
        yield { field, wire, value };
        break;
      }
      default:
        throw malformed(`wire type ${wire} in ${what}`);
    }
  }
}

function expectBytes(value: Uint8Array | undefined, field: string): Uint8Array {
  if (value === undefined) throw malformed(`${field} is not length-delimited`);
  return value;
}

/**
 * Decodes a `CipherBoxDesc`.
 * @param bytes - the message
 * @returns the descriptor
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST` (gRPC 13) for bytes that are not one
 */
export function decodeCipherBoxDesc(bytes: Uint8Array): CipherBoxDesc {
  const desc: CipherBoxDesc = {};
  for (const f of fields(bytes, 'CipherBoxDesc')) {
    if (f.field === 1) desc.stream_id = expectBytes(f.value, 'stream_id');
  }
  return desc;
}

/**
 * Decodes a `CipherBoxAuth` (NewCipherBox, DelCipherBox).
 * @param bytes - the message
 * @returns the request
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST` (gRPC 13) for bytes that are not one
 */
export function decodeCipherBoxAuth(bytes: Uint8Array): CipherBoxAuth {
  const auth: CipherBoxAuth = {};
  for (const f of fields(bytes, 'CipherBoxAuth')) {
    if (f.field === 1) auth.desc = mergeDesc(auth.desc, expectBytes(f.value, 'desc'));
    else if (f.field === 2) {
      // LndAuth has no fields; its contents are read only to be checked.
      for (const _ of fields(expectBytes(f.value, 'lnd_auth'), 'LndAuth'));
      auth.auth = { lnd_auth: {} };
    }
  }
  return auth;
}

/**
 * Decodes a `CipherBox` (each message of SendStream).
 * @param bytes - the message
 * @returns the box (`msg` empty when absent)
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST` (gRPC 13) for bytes that are not one
 */
export function decodeCipherBox(bytes: Uint8Array): CipherBox {
  const box: CipherBox = { msg: new Uint8Array(0) };
  for (const f of fields(bytes, 'CipherBox')) {
    if (f.field === 1) box.desc = mergeDesc(box.desc, expectBytes(f.value, 'desc'));
    else if (f.field === 2) box.msg = expectBytes(f.value, 'msg');
  }
  return box;
}

/** A message field seen twice is merged, as protobuf does. */
function mergeDesc(previous: CipherBoxDesc | undefined, bytes: Uint8Array): CipherBoxDesc {
  const next = decodeCipherBoxDesc(bytes);
  return next.stream_id === undefined && previous !== undefined ? previous : { ...previous, ...next };
}

function lengthDelimited(field: number, value: Uint8Array): Buffer {
  const head: number[] = [(field << 3) | 2];
  let n = value.length;
  while (n >= 0x80) {
    head.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), value]);
}

/**
 * Encodes a `CipherBoxDesc`.
 * @param streamId - the stream ID
 * @returns the message
 */
export function encodeCipherBoxDesc(streamId: Uint8Array): Buffer {
  return streamId.length === 0 ? Buffer.alloc(0) : lengthDelimited(1, streamId);
}

/**
 * Encodes a `CipherBox`.
 * @param streamId - the descriptor's stream ID
 * @param msg - the message
 * @returns the box
 */
export function encodeCipherBox(streamId: Uint8Array, msg: Uint8Array): Buffer {
  return Buffer.concat([lengthDelimited(1, encodeCipherBoxDesc(streamId)), msg.length === 0 ? Buffer.alloc(0) : lengthDelimited(2, msg)]);
}

/**
 * Encodes a `CipherBoxAuth` with `lnd_auth` (what a node side sends to create or delete a stream).
 * @param streamId - the stream ID
 * @returns the request
 */
export function encodeCipherBoxAuth(streamId: Uint8Array): Buffer {
  return Buffer.concat([lengthDelimited(1, encodeCipherBoxDesc(streamId)), lengthDelimited(2, new Uint8Array(0))]);
}

/** `CipherInitResp{success: {}}`: the `success` field present and empty (bytes `0a 00`), as clients check. */
export const CIPHER_INIT_SUCCESS = Buffer.from([0x0a, 0x00]);
