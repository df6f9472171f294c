/**
 * The macaroon codec, byte-identical to Go's gopkg.in/macaroon.v2 (the library
 * the reference proxy uses): minting, first-party caveats, the HMAC signature
 * chain, V2 binary encoding, and reading V1 binary and V1/V2 JSON.
 */
import { L402Error } from './errors.js';
import { asBuffer, bytesEqual, fromBase64Strict, fromHexStrict, fromUtf8, hmac32, hmac32Into, toHex, utf8 } from './bytes.js';

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

const KEY_GENERATOR = utf8('macaroons-key-generator');
const FIELD_EOS = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VID = 4;
const FIELD_SIGNATURE = 6;
const SIG_LEN = 32;

/**
 * Derives the signing key from a root key, as go-macaroon does:
 * `HMAC-SHA256(key="macaroons-key-generator", msg=rootKey)`.
 * @param rootKey - the root key
 * @returns the 32-byte derived key
 */
export function deriveMacaroonKey(rootKey: Uint8Array): Buffer {
  return hmac32(KEY_GENERATOR, rootKey);
}

/**
 * Computes the signature chain of an identifier and caveats from a derived key.
 * @param derivedKey - the output of {@link deriveMacaroonKey}
 * @param identifier - the macaroon identifier
 * @param caveats - the caveats in order
 * @returns the final 32-byte signature
 */
export function signatureChain(derivedKey: Uint8Array, identifier: Uint8Array, caveats: readonly MacaroonCaveat[]): Buffer {
  return caveatChain(hmac32(derivedKey, identifier), caveats);
}

/**
 * The first link of the signature chain: `HMAC(derivedKey, identifier)`.
 * @param derivedKey - the output of {@link deriveMacaroonKey}
 * @param identifier - the macaroon identifier
 * @returns the 32-byte signature of a macaroon without caveats
 */
export function hmacStart(derivedKey: Uint8Array, identifier: Uint8Array): Buffer {
  return hmac32(derivedKey, identifier);
}

/** The two inner tags of a third-party caveat, `HMAC(sig, vid) ‖ HMAC(sig, cid)`. */
const THIRD_PARTY_SCRATCH = Buffer.alloc(64);

/**
 * Continues a signature chain over caveats in place, allocating nothing.
 * @param sig - 32 bytes: the signature so far on entry, the final signature on return
 * @param caveats - the caveats in order
 */
export function caveatChainInto(sig: Uint8Array, caveats: readonly MacaroonCaveat[]): void {
  for (let i = 0; i < caveats.length; i++) {
    const cav = caveats[i] as MacaroonCaveat;
    if (cav.verificationId === undefined) {
      hmac32Into(sig, cav.id, sig, 0);
    } else {
      hmac32Into(sig, cav.verificationId, THIRD_PARTY_SCRATCH, 0);
      hmac32Into(sig, cav.id, THIRD_PARTY_SCRATCH, 32);
      hmac32Into(sig, THIRD_PARTY_SCRATCH, sig, 0);
    }
  }
}

/**
 * Continues a signature chain over caveats.
 * @param start - the signature so far (after the identifier)
 * @param caveats - the caveats in order
 * @returns the final 32-byte signature
 */
export function caveatChain(start: Uint8Array, caveats: readonly MacaroonCaveat[]): Buffer {
  const sig = Buffer.from(start);
  caveatChainInto(sig, caveats);
  return sig;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Locations are strings; bytes that are not UTF-8 would not survive a round trip. */
function locationOf(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new L402Error('L402_ERR_MACAROON_MALFORMED', 'malformed macaroon: location is not UTF-8', { status: 400, cause });
  }
}

function malformed(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_MALFORMED', `malformed macaroon: ${message}`, { status: 400 });
}

function tooLarge(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_TOO_LARGE', `macaroon too large: ${message}`, { status: 400 });
}

function badEncoding(message: string): L402Error {
  return new L402Error('L402_ERR_MACAROON_BAD_ENCODING', `macaroon encoding invalid: ${message}`, { status: 400 });
}

/**
 * An immutable macaroon. Adding a caveat returns a new one.
 *
 * @example
 * ```ts
 * const mac = Macaroon.mint(rootKey, identifier).withFirstPartyCaveat('services=api:0');
 * mac.verifySignature(rootKey); // true
 * const header = mac.toBase64();
 * ```
 */
export class Macaroon {
  /** Location hint, `lsat` for L402 tokens; empty when absent. */
  readonly location: string;
  /** The identifier (for L402 tokens the 66-byte v0 identifier). */
  readonly identifier: Uint8Array;
  /** Every caveat, in order. */
  readonly caveats: readonly MacaroonCaveat[];
  /** The final 32-byte signature. */
  readonly signature: Uint8Array;
  private firstParty: string[] | undefined;

  private constructor(location: string, identifier: Uint8Array, caveats: readonly MacaroonCaveat[], signature: Uint8Array) {
    this.location = location;
    this.identifier = identifier;
    this.caveats = caveats;
    this.signature = signature;
  }

  /**
   * Creates a macaroon with no caveats.
   * @param rootKey - secret root key (for L402 tokens, 32 random bytes)
   * @param identifier - public identifier
   * @param location - location hint, default `lsat`; empty means none
   * @returns the new macaroon
   * @throws L402Error `L402_ERR_MACAROON_TOO_LARGE` when the identifier or location is over {@link MAX_PACKET_BYTES}
   */
  static mint(rootKey: Uint8Array, identifier: Uint8Array, location = 'lsat'): Macaroon {
    if (identifier.length > MAX_PACKET_BYTES) throw tooLarge('identifier');
    if (Buffer.byteLength(location) > MAX_PACKET_BYTES) throw tooLarge('location');
    const id = Uint8Array.from(identifier);
    return new Macaroon(location, id, [], hmac32(deriveMacaroonKey(rootKey), id));
  }

  /**
   * Adds a first-party caveat.
   * @param condition - the caveat, usually `name=value`, as a string (UTF-8) or bytes
   * @returns a new macaroon with the caveat appended and the signature updated
   * @throws L402Error `L402_ERR_MACAROON_TOO_LARGE` when the caveat is over {@link MAX_PACKET_BYTES}
   */
  withFirstPartyCaveat(condition: string | Uint8Array): Macaroon {
    const id = typeof condition === 'string' ? utf8(condition) : Uint8Array.from(condition);
    if (id.length > MAX_PACKET_BYTES) throw tooLarge('caveat');
    return new Macaroon(this.location, this.identifier, [...this.caveats, { id }], hmac32(this.signature, id));
  }

  /**
   * The first-party caveats as UTF-8 strings, in order (third-party caveats omitted).
   * @returns the caveat conditions
   */
  firstPartyCaveats(): string[] {
    if (this.firstParty === undefined) {
      const out: string[] = [];
      for (const cav of this.caveats) if (cav.verificationId === undefined) out.push(fromUtf8(cav.id));
      this.firstParty = out;
    }
    return this.firstParty.slice();
  }

  /**
   * Whether any caveat is third-party (needs a discharge macaroon).
   * @returns `true` when one is
   */
  hasThirdPartyCaveats(): boolean {
    for (const cav of this.caveats) if (cav.verificationId !== undefined) return true;
    return false;
  }

  /**
   * Checks the signature chain against a root key, comparing in constant time.
   * Caveats are not checked: that is the verifier's job.
   * @param rootKey - the root key the macaroon was minted with
   * @returns `true` when the signature matches
   */
  verifySignature(rootKey: Uint8Array): boolean {
    return bytesEqual(signatureChain(deriveMacaroonKey(rootKey), this.identifier, this.caveats), this.signature);
  }

  /**
   * The V2 binary encoding, identical to go-macaroon's `MarshalBinary`.
   * @returns the bytes
   */
  toBinary(): Uint8Array {
    const parts: Uint8Array[] = [Uint8Array.of(2)];
    const loc = this.location.length > 0 ? utf8(this.location) : undefined;
    if (loc !== undefined) pushPacket(parts, FIELD_LOCATION, loc);
    pushPacket(parts, FIELD_IDENTIFIER, this.identifier);
    parts.push(Uint8Array.of(FIELD_EOS));
    for (const cav of this.caveats) {
      if (cav.location !== undefined && cav.location.length > 0) pushPacket(parts, FIELD_LOCATION, utf8(cav.location));
      pushPacket(parts, FIELD_IDENTIFIER, cav.id);
      if (cav.verificationId !== undefined && cav.verificationId.length > 0) pushPacket(parts, FIELD_VID, cav.verificationId);
      parts.push(Uint8Array.of(FIELD_EOS));
    }
    parts.push(Uint8Array.of(FIELD_EOS));
    pushPacket(parts, FIELD_SIGNATURE, this.signature);
    return Buffer.concat(parts);
  }

  /**
   * Standard base64 of the V2 binary, padded: the form the challenge header carries.
   * @returns base64 text
   */
  toBase64(): string {
    return asBuffer(this.toBinary()).toString('base64');
  }

  /**
   * Lower-case hex of the V2 binary: the form of the `Macaroon` header.
   * @returns hex text
   */
  toHex(): string {
    return toHex(this.toBinary());
  }

  /**
   * Parses a binary macaroon, V2 (first byte 2) or V1 (libmacaroons packets).
   * @param bytes - the serialized macaroon, nothing after it
   * @returns the macaroon
   * @throws L402Error `L402_ERR_MACAROON_MALFORMED` (truncated, trailing bytes, bad structure),
   *   `L402_ERR_MACAROON_TOO_LARGE`, `L402_ERR_MACAROON_UNSUPPORTED_VERSION`
   */
  static fromBinary(bytes: Uint8Array): Macaroon {
    if (bytes.length > MAX_MACAROON_BYTES) throw tooLarge(`${bytes.length} bytes`);
    // Copy once so that the macaroon's fields cannot change under it.
    return parseOwned(Buffer.from(bytes));
  }

  /**
   * Parses a base64 macaroon: standard or URL-safe alphabet, padded or not.
   * @param text - base64 text
   * @returns the macaroon
   * @throws L402Error `L402_ERR_MACAROON_BAD_ENCODING` and the codes of {@link Macaroon.fromBinary}
   */
  static fromBase64(text: string): Macaroon {
    if (text.length > (MAX_MACAROON_BYTES / 3) * 4 + 4) throw tooLarge(`${text.length} characters`);
    const bytes = fromBase64Strict(text);
    if (bytes === undefined) throw badEncoding('not base64');
    return parseOwned(bytes);
  }

  /**
   * Parses a hex macaroon (either case).
   * @param text - hex text
   * @returns the macaroon
   * @throws L402Error `L402_ERR_MACAROON_BAD_ENCODING` and the codes of {@link Macaroon.fromBinary}
   */
  static fromHex(text: string): Macaroon {
    if (text.length > MAX_MACAROON_BYTES * 2) throw tooLarge(`${text.length} characters`);
    const bytes = fromHexStrict(text);
    if (bytes === undefined) throw badEncoding('not hex');
    return parseOwned(bytes);
  }

  /**
   * Parses the JSON forms: V1 (libmacaroons: `identifier`, `signature` hex,
   * `caveats[{cid, vid, cl}]`) and V2 (`v: 2`, `i`/`i64`/`iH`, `s`/`s64`/`sH`, `c[…]`).
   * @param json - JSON text or an already-parsed object
   * @returns the macaroon
   * @throws L402Error `L402_ERR_MACAROON_BAD_ENCODING`, `L402_ERR_MACAROON_MALFORMED`,
   *   `L402_ERR_MACAROON_UNSUPPORTED_VERSION`, `L402_ERR_MACAROON_TOO_LARGE`
   */
  static fromJSON(json: string | object): Macaroon {
    let value: unknown = json;
    if (typeof json === 'string') {
      if (json.length > MAX_MACAROON_BYTES * 2) throw tooLarge(`${json.length} characters`);
      try {
        value = JSON.parse(json);
      } catch (cause) {
        throw new L402Error('L402_ERR_MACAROON_BAD_ENCODING', 'macaroon encoding invalid: not JSON', { status: 400, cause });
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badEncoding('JSON macaroon must be an object');
    const obj = value as Record<string, unknown>;
    if ('identifier' in obj || 'signature' in obj) return parseJSONV1(obj);
    if (obj['v'] !== undefined && obj['v'] !== 2) {
      throw new L402Error('L402_ERR_MACAROON_UNSUPPORTED_VERSION', `unsupported JSON macaroon version ${String(obj['v'])}`, { status: 400 });
    }
    return parseJSONV2(obj);
  }

  /** @internal Builds a macaroon from parsed parts; used by the parsers. */
  static fromParts(location: string, identifier: Uint8Array, caveats: readonly MacaroonCaveat[], signature: Uint8Array): Macaroon {
    return new Macaroon(location, identifier, caveats, signature);
  }
}

function uvarintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function pushPacket(parts: Uint8Array[], fieldType: number, data: Uint8Array): void {
  const header = new Uint8Array(1 + uvarintLength(data.length));
  header[0] = fieldType;
  let n = data.length;
  let i = 1;
  while (n >= 0x80) {
    header[i++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  header[i] = n;
  parts.push(header, data);
}

/*
 * The V2 parser walks `v2Bytes` with a cursor kept at module level: parsing is
 * synchronous, and plain functions cost less per call than closures.
 */
let v2Bytes: Uint8Array = new Uint8Array(0);
let v2Pos = 0;

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
function parseV2(bytes: Uint8Array): Macaroon {
  v2Bytes = bytes;
  v2Pos = 1;
  try {
    return parseV2Sections();
  } finally {
    v2Bytes = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);

function parseV2Sections(): Macaroon {
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
  return Macaroon.fromParts(location, identifier, caveats, sig);
}

/** Parses bytes that nothing else holds a reference to. */
function parseOwned(bytes: Uint8Array): Macaroon {
  if (bytes.length === 0) throw malformed('empty');
  if (bytes.length > MAX_MACAROON_BYTES) throw tooLarge(`${bytes.length} bytes`);
  const first = bytes[0] as number;
  if (first === 2) return parseV2(bytes);
  if ((first >= 0x30 && first <= 0x39) || (first >= 0x61 && first <= 0x66)) return parseV1(bytes);
  throw new L402Error('L402_ERR_MACAROON_UNSUPPORTED_VERSION', `unsupported macaroon version byte 0x${first.toString(16).padStart(2, '0')}`, { status: 400 });
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

function parseV1(bytes: Uint8Array): Macaroon {
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
    return [fromUtf8(body.subarray(0, space)), body.subarray(space + 1, body.length - 1)];
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
      return Macaroon.fromParts(locationOf(loc[1]), id[1], caveats, data);
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

function optionalString(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badEncoding(`JSON field ${key} must be a string`);
  return v;
}

function anyBase64(text: string, what: string): Uint8Array {
  const bytes = fromBase64Strict(text);
  if (bytes === undefined) throw badEncoding(`${what} is not base64`);
  return Uint8Array.from(bytes);
}

function jsonBinary(obj: Record<string, unknown>, key: string, what: string): Uint8Array {
  const s = optionalString(obj, key);
  const h = optionalString(obj, `${key}H`);
  const b = optionalString(obj, `${key}64`);
  if ((s !== '' ? 1 : 0) + (h !== '' ? 1 : 0) + (b !== '' ? 1 : 0) > 1) throw malformed(`ambiguous encoding of ${what}`);
  if (s !== '') return utf8(s);
  if (h !== '') {
    const bytes = fromHexStrict(h);
    if (bytes === undefined) throw badEncoding(`${what} is not hex`);
    return Uint8Array.from(bytes);
  }
  if (b !== '') return anyBase64(b, what);
  return new Uint8Array(0);
}

function caveatList(obj: Record<string, unknown>, key: string): Array<Record<string, unknown>> {
  const list = obj[key];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw badEncoding(`JSON field ${key} must be an array`);
  return list.map((c) => {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw badEncoding('JSON caveat must be an object');
    return c as Record<string, unknown>;
  });
}

function checkSize(what: string, bytes: Uint8Array): Uint8Array {
  if (bytes.length > MAX_PACKET_BYTES) throw tooLarge(what);
  return bytes;
}

function parseJSONV1(obj: Record<string, unknown>): Macaroon {
  const sig = fromHexStrict(optionalString(obj, 'signature'));
  if (sig === undefined || sig.length !== SIG_LEN) throw malformed('V1 JSON signature must be 64 hex characters');
  const caveats = caveatList(obj, 'caveats').map((c): MacaroonCaveat => {
    const cav: MacaroonCaveat = { id: checkSize('caveat', utf8(optionalString(c, 'cid'))) };
    const vid = optionalString(c, 'vid');
    if (vid !== '') cav.verificationId = checkSize('verification id', anyBase64(vid, 'vid'));
    const cl = optionalString(c, 'cl');
    if (cl !== '') cav.location = cl;
    return cav;
  });
  return Macaroon.fromParts(optionalString(obj, 'location'), checkSize('identifier', utf8(optionalString(obj, 'identifier'))), caveats, Uint8Array.from(sig));
}

function parseJSONV2(obj: Record<string, unknown>): Macaroon {
  const sig = jsonBinary(obj, 's', 'signature');
  if (sig.length !== SIG_LEN) throw malformed(`signature of ${sig.length} bytes`);
  const caveats = caveatList(obj, 'c').map((c): MacaroonCaveat => {
    const cav: MacaroonCaveat = { id: checkSize('caveat', jsonBinary(c, 'i', 'caveat id')) };
    const vid = jsonBinary(c, 'v', 'verification id');
    const loc = optionalString(c, 'l');
    if (vid.length > 0) {
      cav.verificationId = checkSize('verification id', vid);
      if (loc !== '') cav.location = loc;
    } else if (loc !== '') {
      throw malformed('location in a first-party caveat');
    }
    return cav;
  });
  return Macaroon.fromParts(optionalString(obj, 'l'), checkSize('identifier', jsonBinary(obj, 'i', 'identifier')), caveats, sig);
}
