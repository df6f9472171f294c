/**
 * Reading the binary macaroon formats (V2, and V1 of libmacaroons), with no
 * dependency on Node: the proxy's `Macaroon` and the client, which also runs in
 * browsers, share this one parser.
 */
import { L402Error } from './errors.js';

/** One caveat. First-party caveats have no `verificationId`. */
export interface MacaroonCaveat {
  /** The caveat identifier: for first-party caveats the UTF-8 condition `name=value`. */
  id: Uint8Array;
  /** Verification id of a third-party caveat. */
  verificationId?: Uint8Array;
  /** Location of a third-party caveat's discharger. */
  location?: string;
}

/** Largest data field accepted in any packet; larger fields are rejected, not allocated. */
export const MAX_PACKET_BYTES = 0xffff;
/** Largest serialized macaroon accepted by the parsers. */
export const MAX_MACAROON_BYTES = 1 << 20;

/** @internal Field types of the V2 format, and the signature length. */
export const FIELD_EOS = 0;
export const FIELD_LOCATION = 1;
export const FIELD_IDENTIFIER = 2;
export const FIELD_VID = 4;
export const FIELD_SIGNATURE = 6;
export const SIG_LEN = 32;

/** Makes the result of {@link parseMacaroonBinary} from the parsed fields. */
export type MacaroonBuilder<T> = (location: string, identifier: Uint8Array, caveats: readonly MacaroonCaveat[], signature: Uint8Array) => T;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** @internal Locations are strings; bytes that are not UTF-8 would not survive a round trip. */
export function locationOf(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new L402Error('L402_ERR_MACAROON_MALFORMED', 'malformed macaroon: location is not UTF-8', { status: 400, cause });
  }
}

/** @internal `L402_ERR_MACAROON_MALFORMED`. */
export function malformed(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_MALFORMED', `malformed macaroon: ${message}`, { status: 400 });
}

/** @internal `L402_ERR_MACAROON_TOO_LARGE`. */
export function tooLarge(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_TOO_LARGE', `macaroon too large: ${message}`, { status: 400 });
}

/** @internal `L402_ERR_MACAROON_BAD_ENCODING`. */
export function badEncoding(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_BAD_ENCODING', `macaroon encoding invalid: ${message}`, { status: 400 });
}

/*
 * The V2 parser walks `v2Bytes` with a cursor kept at module level: parsing is
 * synchronous, and plain functions cost less per call than closures.
 */
let v2Bytes: Uint8Array = new Uint8Array(0);
let v2Pos = 0;
let v2Build: MacaroonBuilder<unknown> | undefined;

function v2Uvarint(): number {
  const bytes = v2Bytes;
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    if (v2Pos >= bytes.length) throw malformed('truncated');
    const b = bytes[v2Pos++] as number;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (i > 0 && b === 0) throw malformed('non-minimal varint');
      return result;
    }
    mul *= 128;
  }
  throw tooLarge('varint over 32 bits');
}

function v2Data(): Uint8Array {
  const len = v2Uvarint();
  if (len > MAX_PACKET_BYTES) throw tooLarge(`packet of ${len} bytes`);
  if (v2Pos + len > v2Bytes.length) throw malformed('truncated packet');
  const out = v2Bytes.subarray(v2Pos, v2Pos + len);
  v2Pos += len;
  return out;
}

/**
 * Parses V2 in one pass over `bytes`, which the caller owns: fields are
 * sub-arrays of it, not copies (one allocation per macaroon, not one per field).
 */
function parseV2(bytes: Uint8Array): unknown {
  v2Bytes = bytes;
  v2Pos = 1;
  try {
    return parseV2Sections();
  } finally {
    v2Bytes = EMPTY;
    v2Build = undefined;
  }
}

const EMPTY = new Uint8Array(0);

function parseV2Sections(): unknown {
  // Header section: [location] identifier EOS.
  let t = v2Uvarint();
  let location = '';
  if (t === FIELD_LOCATION) {
    location = locationOf(v2Data());
    t = v2Uvarint();
  }
  if (t !== FIELD_IDENTIFIER) throw malformed('invalid header section');
  const identifier = v2Data();
  if (v2Uvarint() !== FIELD_EOS) throw malformed('invalid header section');
  // Caveat sections: [location] identifier [vid] EOS, until an empty section.
  const caveats: MacaroonCaveat[] = [];
  for (;;) {
    t = v2Uvarint();
    if (t === FIELD_EOS) break;
    let cavLocation: string | undefined;
    if (t === FIELD_LOCATION) {
      cavLocation = locationOf(v2Data());
      t = v2Uvarint();
    }
    if (t !== FIELD_IDENTIFIER) throw malformed('caveat without identifier');
    const id = v2Data();
    t = v2Uvarint();
    if (t === FIELD_EOS) {
      if (cavLocation !== undefined && cavLocation.length > 0) throw malformed('location in a first-party caveat');
      caveats.push({ id });
      continue;
    }
    if (t !== FIELD_VID) throw malformed('invalid field in caveat');
    const cav: MacaroonCaveat = { id, verificationId: v2Data() };
    if (cavLocation !== undefined) cav.location = cavLocation;
    if (v2Uvarint() !== FIELD_EOS) throw malformed('extra fields in caveat');
    caveats.push(cav);
  }
  if (v2Uvarint() !== FIELD_SIGNATURE) throw malformed('expected signature');
  const sig = v2Data();
  if (sig.length !== SIG_LEN) throw malformed(`signature of ${sig.length} bytes`);
  if (v2Pos !== v2Bytes.length) throw malformed(`${v2Bytes.length - v2Pos} trailing bytes`);
  return (v2Build as MacaroonBuilder<unknown>)(location, identifier, caveats, sig);
}

/**
 * Parses a binary macaroon, V2 (first byte 2) or V1 (libmacaroons packets),
 * from bytes that nothing else holds a reference to: fields are sub-arrays of
 * `bytes`, not copies.
 * @param bytes - the serialized macaroon, nothing after it
 * @param build - makes the result from the parsed fields (`Macaroon.fromParts`)
 * @returns what `build` returns
 * @throws L402Error `L402_ERR_MACAROON_MALFORMED` (truncated, trailing bytes, bad structure),
 *   `L402_ERR_MACAROON_TOO_LARGE`, `L402_ERR_MACAROON_UNSUPPORTED_VERSION`
 */
export function parseMacaroonBinary<T>(bytes: Uint8Array, build: MacaroonBuilder<T>): T {
  if (bytes.length === 0) throw malformed('empty');
  if (bytes.length > MAX_MACAROON_BYTES) throw tooLarge(`${bytes.length} bytes`);
  const first = bytes[0] as number;
  if (first === 2) {
    v2Build = build;
    return parseV2(bytes) as T;
  }
  if ((first >= 0x30 && first <= 0x39) || (first >= 0x61 && first <= 0x66)) return parseV1(bytes, build);
  throw new L402Error(
    'L402_ERR_MACAROON_UNSUPPORTED_VERSION',
    `unsupported macaroon version byte 0x${first.toString(16).padStart(2, '0')}`,
    { status: 400 },
  );
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

function parseV1<T>(bytes: Uint8Array, build: MacaroonBuilder<T>): T {
  let pos = 0;
  const next = (): [string, Uint8Array] => {
    if (bytes.length - pos < 6) throw malformed('truncated V1 packet');
    let size = 0;
    for (let k = 0; k < 4; k++) {
      const d = hexDigit(bytes[pos + k] as number);
      if (d < 0) throw malformed('bad V1 packet size');
      size = size * 16 + d;
    }
    if (size < 6) throw malformed('bad V1 packet size');
    if (pos + size > bytes.length) throw malformed('truncated V1 packet');
    const body = bytes.subarray(pos + 4, pos + size);
    pos += size;
    const space = body.indexOf(0x20);
    if (space <= 0) throw malformed('V1 packet without field name');
    if (body[body.length - 1] !== 0x0a) throw malformed('V1 packet without newline');
    return [lenientUtf8.decode(body.subarray(0, space)), body.subarray(space + 1, body.length - 1)];
  };
  const loc = next();
  if (loc[0] !== 'location') throw malformed('V1: expected location');
  const id = next();
  if (id[0] !== 'identifier') throw malformed('V1: expected identifier');
  const caveats: MacaroonCaveat[] = [];
  let cav: MacaroonCaveat | undefined;
  for (;;) {
    const [field, data] = next();
    if (field === 'signature') {
      if (cav !== undefined) caveats.push(cav);
      if (data.length !== SIG_LEN) throw malformed(`signature of ${data.length} bytes`);
      if (pos !== bytes.length) throw malformed(`${bytes.length - pos} trailing bytes`);
      return build(locationOf(loc[1]), id[1], caveats, data);
    }
    if (field === 'cid') {
      if (cav !== undefined) caveats.push(cav);
      cav = { id: data };
    } else if (field === 'vid') {
      if (cav === undefined || cav.verificationId !== undefined) throw malformed('V1: misplaced vid');
      cav.verificationId = data;
    } else if (field === 'cl') {
      if (cav === undefined || cav.location !== undefined) throw malformed('V1: misplaced cl');
      cav.location = locationOf(data);
    } else {
      throw malformed(`V1: unexpected field ${JSON.stringify(field)}`);
    }
  }
}
