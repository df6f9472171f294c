/**
 * The hashmail messages as grpc-gateway's JSON (the WebSocket endpoints):
 * protojson with proto field names, every field written, bytes as standard
 * base64 with padding; read the way protojson reads (`stream_id` or
 * `streamId`, standard or URL-safe base64 with or without padding, `null` for
 * an absent field, unknown fields refused).
 *
 * The frames written are compact (no whitespace, no newline): the Go LNC
 * client finds `{"result":` and `{"error":` with regular expressions that do
 * not cross a newline.
 *
 * @internal Not exported from the package.
 */
import { HashmailError } from './hashmail-core.js';
import type { CipherBox, CipherBoxDesc } from './hashmail-proto.js';

function bad(message: string): HashmailError {
  return new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', message);
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** protojson's bytes: standard or URL-safe base64, padded or not. */
function readBytes(value: unknown, field: string): Uint8Array | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(`${field}: bytes must be a base64 string`);
  const bare = value.replace(/=+$/, '');
  if (!BASE64.test(value) || bare.length % 4 === 1 || value.length - bare.length > 2) throw bad(`${field}: invalid base64`);
  return Buffer.from(bare.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function object(value: unknown, what: string): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** The fields of `o`, each under its proto name or JSON name; anything else is refused. */
function pick(o: Record<string, unknown>, what: string, names: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    const name = names[key];
    if (name === undefined) throw bad(`${what}: unknown field "${key}"`);
    if (name in out) throw bad(`${what}: field "${name}" given twice`);
    out[name] = value;
  }
  return out;
}

function readDesc(value: unknown, what: string): CipherBoxDesc | undefined {
  const o = object(value, what);
  if (o === undefined) return undefined;
  const f = pick(o, what, { stream_id: 'stream_id', streamId: 'stream_id' });
  const id = readBytes(f['stream_id'], `${what}.stream_id`);
  return id === undefined ? {} : { stream_id: id };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw bad('the message is not JSON');
  }
}

/**
 * Reads the request of `/receive`: a `CipherBoxDesc`.
 * @param text - the WebSocket message
 * @returns the descriptor
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST`
 */
export function parseCipherBoxDescJson(text: string): CipherBoxDesc {
  return readDesc(parse(text), 'CipherBoxDesc') ?? {};
}

/**
 * Reads one message of `/send`: a `CipherBox`.
 * @param text - the WebSocket message
 * @returns the box (`msg` empty when absent)
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST`
 */
export function parseCipherBoxJson(text: string): CipherBox {
  const o = object(parse(text), 'CipherBox') ?? {};
  const f = pick(o, 'CipherBox', { desc: 'desc', msg: 'msg' });
  const desc = readDesc(f['desc'], 'CipherBox.desc');
  const msg = readBytes(f['msg'], 'CipherBox.msg') ?? new Uint8Array(0);
  return desc === undefined ? { msg } : { desc, msg };
}

/**
 * Reads a `CipherBoxAuth` (the REST NewCipherBox and DelCipherBox).
 * @param text - the body
 * @returns the request, with `auth` when `lnd_auth` was given
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST`
 */
export function parseCipherBoxAuthJson(text: string): { desc?: CipherBoxDesc; auth?: object } {
  const o = object(parse(text), 'CipherBoxAuth') ?? {};
  const f = pick(o, 'CipherBoxAuth', { desc: 'desc', lnd_auth: 'lnd_auth', lndAuth: 'lnd_auth' });
  const desc = readDesc(f['desc'], 'CipherBoxAuth.desc');
  const auth = object(f['lnd_auth'], 'CipherBoxAuth.lnd_auth');
  if (auth !== undefined) pick(auth, 'LndAuth', {});
  return { ...(desc === undefined ? {} : { desc }), ...(auth === undefined ? {} : { auth }) };
}

/**
 * A `CipherBoxDesc` as protojson writes it.
 * @param streamId - the stream ID
 * @returns `{"stream_id":"<base64>"}`
 */
export function cipherBoxDescJson(streamId: Uint8Array): string {
  return JSON.stringify({ stream_id: Buffer.from(streamId).toString('base64') });
}

/**
 * One item of `/receive`, wrapped as grpc-gateway wraps stream items.
 * @param streamId - the descriptor's stream ID
 * @param msg - the message
 * @returns `{"result":{"desc":{"stream_id":"…"},"msg":"…"}}`
 */
export function receiveResultJson(streamId: Uint8Array, msg: Uint8Array): string {
  return `{"result":{"desc":${cipherBoxDescJson(streamId)},"msg":${JSON.stringify(Buffer.from(msg).toString('base64'))}}}`;
}

/**
 * An error status as grpc-gateway writes it.
 * @param code - the gRPC status code
 * @param message - the text (clients match it)
 * @returns `{"code":2,"message":"…","details":[]}`
 */
export function statusJson(code: number, message: string): string {
  return JSON.stringify({ code, message, details: [] });
}

/**
 * The error item ending a server stream (`/receive`).
 * @param code - the gRPC status code
 * @param message - the text
 * @returns `{"error":{"code":2,"message":"…","details":[]}}`
 */
export function streamErrorJson(code: number, message: string): string {
  return `{"error":${statusJson(code, message)}}`;
}
