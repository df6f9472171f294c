/**
 * The macaroon codec, byte-identical to Go's gopkg.in/macaroon.v2 (the library
 * the reference proxy uses): minting, first-party caveats, the HMAC signature
 * chain, V2 binary encoding, and reading V1 binary and V1/V2 JSON.
 */
import { L402Error } from './errors.js';
import { asBuffer, bytesEqual, fromBase64Strict, fromHexStrict, fromUtf8, hmac32, hmac32Into, toHex, utf8 } from './bytes.js';
import {
  FIELD_EOS,
  FIELD_IDENTIFIER,
  FIELD_LOCATION,
  FIELD_SIGNATURE,
  FIELD_VID,
  MAX_MACAROON_BYTES,
  MAX_PACKET_BYTES,
  SIG_LEN,
  badEncoding,
  malformed,
  parseMacaroonBinary,
  tooLarge,
  type MacaroonCaveat,
} from './macaroon-binary.js';

export { MAX_MACAROON_BYTES, MAX_PACKET_BYTES } from './macaroon-binary.js';
export type { MacaroonCaveat } from './macaroon-binary.js';

const KEY_GENERATOR = utf8('macaroons-key-generator');

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
   * @throws L402Error `L402_ERR_MACAROON_TOO_LARGE` when the identifier or location is over 65,535 bytes (`MAX_PACKET_BYTES`)
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
   * @throws L402Error `L402_ERR_MACAROON_TOO_LARGE` when the caveat is over 65,535 bytes (`MAX_PACKET_BYTES`)
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
    return parseMacaroonBinary(Buffer.from(bytes), Macaroon.fromParts);
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
    return parseMacaroonBinary(bytes, Macaroon.fromParts);
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
    return parseMacaroonBinary(bytes, Macaroon.fromParts);
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
      throw new L402Error('L402_ERR_MACAROON_UNSUPPORTED_VERSION', `unsupported JSON macaroon version ${String(obj['v'])}`, {
        status: 400,
      });
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
  return Macaroon.fromParts(
    optionalString(obj, 'location'),
    checkSize('identifier', utf8(optionalString(obj, 'identifier'))),
    caveats,
    Uint8Array.from(sig),
  );
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
