/**
 * Reads an L402 credential from a request, in every form of PROTOCOL §2:
 *
 * - `Authorization: L402 <mac>[,<mac>…]:<preimage>` and the same with `LSAT`;
 *   scheme in any case, one or more spaces, preimage 64 hex in either case,
 *   macaroons in standard or URL-safe base64, padded or not;
 * - `Macaroon: <hex>` and `Grpc-Metadata-Macaroon: <hex>`, where the macaroon
 *   carries a `preimage=<hex>` caveat.
 *
 * Several `Authorization` values (Go clients send an LSAT and an L402 line; a
 * server that joins duplicate headers gives `LSAT …, L402 …`) are accepted when
 * they carry the same macaroons and preimage, and rejected when they differ.
 */
import { L402Error } from './errors.js';
import { bytesEqual, fromHexStrict, isHex } from './bytes.js';
import { Macaroon } from './macaroon.js';
import { PREIMAGE_CONDITION } from './caveats.js';
import type { RequestView } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/** A credential as presented, not yet verified. */
export interface L402Credential {
  /**
   * The macaroons: the first is the token; any others were sent after it
   * (discharge macaroons in general macaroon use). L402 tokens have no
   * third-party caveats, so the verifier checks only the first.
   */
  macaroons: Macaroon[];
  /** The 32-byte preimage. */
  preimage: Uint8Array;
  /** The header form it came in. */
  scheme: 'L402' | 'LSAT' | 'Macaroon';
}

/** Outcome of {@link readCredential}. */
export type CredentialResult =
  { kind: 'none' } | { kind: 'credential'; credential: L402Credential } | { kind: 'invalid'; code: L402ErrorCode; reason: string };

/** Most macaroons accepted in one `Authorization` credential. */
export const MAX_MACAROONS_PER_CREDENTIAL = 8;

const NONE: CredentialResult = { kind: 'none' };

function invalid(code: L402ErrorCode, reason: string): CredentialResult {
  return { kind: 'invalid', code, reason };
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Case-insensitive test for `l402` / `lsat` at `text[start, end)`; returns the canonical name. */
function schemeAt(text: string, start: number, end: number): 'L402' | 'LSAT' | undefined {
  if (end - start !== 4) return undefined;
  const a = text.charCodeAt(start) | 0x20;
  const b = text.charCodeAt(start + 1) | 0x20;
  const c = text.charCodeAt(start + 2);
  const d = text.charCodeAt(start + 3);
  if (a !== 0x6c /* l */) return undefined;
  if (b === 0x73 /* s */ && (c | 0x20) === 0x61 /* a */ && (d | 0x20) === 0x74 /* t */) return 'LSAT';
  if (c === 0x30 /* 0 */ && d === 0x32 /* 2 */ && text.charCodeAt(start + 1) === 0x34 /* 4 */) return 'L402';
  return undefined;
}

/** One `<scheme> <rest>` piece of an Authorization value that uses L402 or LSAT. */
interface Piece {
  scheme: 'L402' | 'LSAT';
  rest: string;
}

/**
 * Where the credential that starts at `from` ends in an Authorization value: at
 * the first comma followed by OWS, a token and a space (the next credential's
 * scheme), else at the end. The commas between macaroons and between a
 * scheme's auth-params (`, realm="x"`) stay inside their credential.
 */
function credentialEnd(value: string, from: number): number {
  const n = value.length;
  // indexOf runs natively; a charCodeAt loop over a 300-character macaroon costs more.
  for (let j = value.indexOf(',', from); j !== -1; j = value.indexOf(',', j + 1)) {
    let k = j + 1;
    while (k < n && isSpace(value.charCodeAt(k))) k++;
    const tokenStart = k;
    while (k < n && isTokenChar(value.charCodeAt(k))) k++;
    if (k > tokenStart && k < n && isSpace(value.charCodeAt(k))) return j;
  }
  return n;
}

/** Skips the spaces and commas before a credential. */
function credentialStart(value: string, from: number): number {
  let i = from;
  while (i < value.length && (isSpace(value.charCodeAt(i)) || value.charCodeAt(i) === 44)) i++;
  return i;
}

/** Where the scheme that starts at `from` ends. */
function schemeEnd(value: string, from: number): number {
  let i = from;
  while (i < value.length && !isSpace(value.charCodeAt(i)) && value.charCodeAt(i) !== 44) i++;
  return i;
}

/**
 * Splits an Authorization value into L402/LSAT credentials (see
 * {@link credentialEnd} for where one ends). Other schemes are dropped.
 */
function pieces(value: string, out: Piece[]): void {
  const n = value.length;
  for (let i = credentialStart(value, 0); i < n; i = credentialStart(value, i)) {
    const schemeStop = schemeEnd(value, i);
    const scheme = schemeAt(value, i, schemeStop);
    const end = credentialEnd(value, schemeStop);
    if (scheme !== undefined) out.push({ scheme, rest: value.slice(schemeStop, end).trim() });
    i = end;
  }
}

/**
 * An `Authorization` value without its L402 and LSAT credentials, split
 * exactly as {@link readCredential} splits it, so that nothing it would read
 * as a credential is left: `Bearer x, L402 <mac>:<preimage>` becomes
 * `Bearer x`. What proxies do with a client's value when they did not verify
 * its credential.
 *
 * @param value - one `Authorization` field value
 * @returns `value` itself when it has no L402/LSAT credential, the other
 *   credentials joined by `, ` when it has, `undefined` when nothing else is left
 */
export function withoutL402Credentials(value: string): string | undefined {
  const n = value.length;
  let kept: string | undefined;
  let found = false;
  for (let i = credentialStart(value, 0); i < n; i = credentialStart(value, i)) {
    const schemeStop = schemeEnd(value, i);
    const end = credentialEnd(value, schemeStop);
    if (schemeAt(value, i, schemeStop) !== undefined) found = true;
    else {
      // Only the spaces and tabs before the comma go: String#trim would also take a
      // leading U+00A0, and `\u00a0L402 …` would become a credential once rejoined.
      let stop = end;
      while (stop > i && isSpace(value.charCodeAt(stop - 1))) stop--;
      const other = value.slice(i, stop);
      kept = kept === undefined ? other : `${kept}, ${other}`;
    }
    i = end;
  }
  return found ? kept : value;
}

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

function codeOf(err: unknown): L402ErrorCode {
  return err instanceof L402Error ? err.code : 'L402_ERR_TOKEN_MALFORMED';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Parses `<mac>[,<mac>…]:<preimage>` (the part after the scheme). */
function parseRest(rest: string, scheme: 'L402' | 'LSAT'): CredentialResult {
  if (rest.length === 0) return invalid('L402_ERR_TOKEN_MALFORMED', `${scheme} credential is empty`);
  const colon = rest.lastIndexOf(':');
  if (colon === -1) return invalid('L402_ERR_TOKEN_MALFORMED', `${scheme} credential has no ':<preimage>'`);
  const preimageHex = rest.slice(colon + 1).trim();
  if (!isHex(preimageHex, 64)) return invalid('L402_ERR_TOKEN_MALFORMED', 'preimage must be 64 hex characters');
  const macText = rest.slice(0, colon);
  const macaroons: Macaroon[] = [];
  let start = 0;
  for (;;) {
    let end = macText.indexOf(',', start);
    if (end === -1) end = macText.length;
    const one = macText.slice(start, end).trim();
    if (one.length === 0) return invalid('L402_ERR_TOKEN_MALFORMED', 'empty macaroon in credential');
    if (macaroons.length === MAX_MACAROONS_PER_CREDENTIAL) {
      return invalid('L402_ERR_TOKEN_MALFORMED', `more than ${MAX_MACAROONS_PER_CREDENTIAL} macaroons in one credential`);
    }
    try {
      macaroons.push(Macaroon.fromBase64(one));
    } catch (err) {
      return invalid(codeOf(err), messageOf(err));
    }
    if (end === macText.length) break;
    start = end + 1;
  }
  return { kind: 'credential', credential: { macaroons, preimage: Buffer.from(preimageHex, 'hex'), scheme } };
}

function sameCredential(a: L402Credential, b: L402Credential): boolean {
  if (a.macaroons.length !== b.macaroons.length || !bytesEqual(a.preimage, b.preimage)) return false;
  for (let i = 0; i < a.macaroons.length; i++) {
    if (!bytesEqual((a.macaroons[i] as Macaroon).toBinary(), (b.macaroons[i] as Macaroon).toBinary())) return false;
  }
  return true;
}

function fromAuthorization(values: readonly string[]): CredentialResult {
  const found: Piece[] = [];
  for (const v of values) pieces(v, found);
  const first = found[0];
  if (first === undefined) return NONE;
  const result = parseRest(first.rest, first.scheme);
  if (result.kind !== 'credential') return result;
  for (let i = 1; i < found.length; i++) {
    const other = found[i] as Piece;
    if (other.rest === first.rest) continue;
    const parsed = parseRest(other.rest, other.scheme);
    if (parsed.kind !== 'credential') return parsed;
    if (!sameCredential(result.credential, parsed.credential)) {
      return invalid('L402_ERR_TOKEN_CONFLICTING', 'several different L402 credentials in one request');
    }
  }
  return result;
}

function fromMacaroonHeaders(values: readonly string[]): CredentialResult {
  const text = (values[0] as string).trim();
  for (let i = 1; i < values.length; i++) {
    if ((values[i] as string).trim() !== text)
      return invalid('L402_ERR_TOKEN_CONFLICTING', 'several different macaroon headers in one request');
  }
  let mac: Macaroon;
  try {
    mac = Macaroon.fromHex(text);
  } catch (err) {
    return invalid(codeOf(err), messageOf(err));
  }
  let preimage: Uint8Array | undefined;
  for (const c of mac.firstPartyCaveats()) {
    if (c.length !== PREIMAGE_CONDITION.length + 65 || !c.startsWith(`${PREIMAGE_CONDITION}=`)) continue;
    const bytes = fromHexStrict(c.slice(PREIMAGE_CONDITION.length + 1));
    if (bytes === undefined) continue;
    if (preimage !== undefined && !bytesEqual(preimage, bytes))
      return invalid('L402_ERR_TOKEN_MALFORMED', 'two different preimage caveats');
    preimage = bytes;
  }
  if (preimage === undefined) return invalid('L402_ERR_TOKEN_MALFORMED', 'macaroon header without a preimage= caveat');
  return { kind: 'credential', credential: { macaroons: [mac], preimage, scheme: 'Macaroon' } };
}

/**
 * Reads the L402 credential of a request. `Authorization` (L402/LSAT) wins over
 * the `Macaroon` headers; `Authorization` values of other schemes are ignored.
 * Never throws.
 *
 * @param request - the request view
 * @returns `none` when there is no L402 credential, the parsed credential, or
 *   `invalid` with a code: `L402_ERR_TOKEN_MALFORMED`, `L402_ERR_TOKEN_CONFLICTING`,
 *   or an `L402_ERR_MACAROON_…` code of the macaroon parser
 */
export function readCredential(request: RequestView): CredentialResult {
  try {
    const auth = request.headerValues('authorization');
    if (auth.length > 0) {
      const result = fromAuthorization(auth);
      if (result.kind !== 'none') return result;
    }
    const mac = request.headerValues('macaroon');
    const grpc = request.headerValues('grpc-metadata-macaroon');
    if (mac.length === 0 && grpc.length === 0) return NONE;
    return fromMacaroonHeaders(grpc.length === 0 ? mac : mac.length === 0 ? grpc : [...mac, ...grpc]);
  } catch (err) {
    // A misbehaving RequestView; the codecs above return results rather than throw.
    return invalid(codeOf(err), messageOf(err));
  }
}

/**
 * Formats an `Authorization` header value.
 * @param macaroonBase64 - the macaroon (or several, comma-separated) in base64
 * @param preimageHex - the 32-byte preimage as hex
 * @param scheme - `L402` (default) or `LSAT`
 * @returns e.g. `L402 AgEEbHNhdA…:0123…`
 * @throws L402Error `L402_ERR_TOKEN_MALFORMED` when the preimage is not 64 hex characters
 */
export function formatAuthorization(macaroonBase64: string, preimageHex: string, scheme: 'L402' | 'LSAT' = 'L402'): string {
  if (!isHex(preimageHex, 64)) throw new L402Error('L402_ERR_TOKEN_MALFORMED', 'preimage must be 64 hex characters');
  return `${scheme} ${macaroonBase64}:${preimageHex.toLowerCase()}`;
}
