/**
 * The `WWW-Authenticate` challenge: formatting on the server, tolerant parsing
 * on the client.
 */
import type { HeaderList } from './types.js';

/**
 * Which challenge form to emit: `reference` (what the reference proxy sends and
 * deployed clients parse: an LSAT line, then an L402 line, each with
 * `macaroon="…", invoice="…"`) or `spec` (`L402 version="0", token="…", invoice="…"`).
 */
export type ChallengeForm = 'reference' | 'spec';

/** One L402/LSAT challenge found by {@link parseChallenges}. */
export interface ParsedChallenge {
  /** The scheme, canonical case. */
  scheme: 'L402' | 'LSAT';
  /** The macaroon as sent (base64), from `macaroon=` or `token=`. */
  macaroon: string;
  /** The BOLT11 invoice. */
  invoice: string;
  /** The `version` parameter, when present. */
  version?: string;
  /**
   * The `error` parameter, when present: why the server refused the credential
   * the request carried (`expired`, `revoked`, `wrong_resource`…, see
   * `REFUSAL_REASONS`). Absent on the answer to a request without one.
   */
  error?: string;
}

/** A quoted-string of RFC 9110: `\` and `"` escaped, control characters dropped. */
function quoted(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, '').replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Formats the challenge header lines.
 *
 * With `error`, each line ends in `, error="<error>"` after the parameters
 * deployed clients read, which keep their order and quoting: the reference's
 * clients match `(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"` and are not
 * disturbed by a parameter after `invoice`.
 * @param macaroonBase64 - the macaroon, standard padded base64
 * @param invoice - the BOLT11 invoice
 * @param form - `reference` (default) or `spec`
 * @param error - why the request's credential was refused (a `RefusalReason`), if it carried one
 * @returns `WWW-Authenticate` name/value pairs, in order
 * @example
 * ```ts
 * formatChallenge(mac, 'lnbc…');
 * // [['WWW-Authenticate', 'LSAT macaroon="…", invoice="lnbc…"'],
 * //  ['WWW-Authenticate', 'L402 macaroon="…", invoice="lnbc…"']]
 * ```
 */
export function formatChallenge(macaroonBase64: string, invoice: string, form: ChallengeForm = 'reference', error?: string): HeaderList {
  const tail = error === undefined ? '' : `, error=${quoted(error)}`;
  if (form === 'spec') return [['WWW-Authenticate', `L402 version="0", token="${macaroonBase64}", invoice="${invoice}"${tail}`]];
  const params = `macaroon="${macaroonBase64}", invoice="${invoice}"${tail}`;
  return [
    ['WWW-Authenticate', `LSAT ${params}`],
    ['WWW-Authenticate', `L402 ${params}`],
  ];
}

function isTokenChar(c: number): boolean {
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

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** A tolerant RFC 9110 challenge-list scanner over one header value. */
class Scanner {
  i = 0;
  constructor(readonly s: string) {}

  ws(): void {
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
  }

  token(): string {
    const start = this.i;
    while (this.i < this.s.length && isTokenChar(this.s.charCodeAt(this.i))) this.i++;
    return this.s.slice(start, this.i);
  }

  /** A quoted-string (backslash escapes) or a token68/token value up to `,` or whitespace. */
  value(): string {
    const s = this.s;
    if (s.charCodeAt(this.i) === 0x22) {
      this.i++;
      let out = '';
      while (this.i < s.length) {
        const c = s.charCodeAt(this.i);
        if (c === 0x22) {
          this.i++;
          return out;
        }
        if (c === 0x5c && this.i + 1 < s.length) this.i++;
        out += s[this.i];
        this.i++;
      }
      return out;
    }
    const start = this.i;
    while (this.i < s.length && s.charCodeAt(this.i) !== 0x2c && !isWs(s.charCodeAt(this.i))) this.i++;
    return s.slice(start, this.i);
  }

  /** Whether an auth-param (`name =`) starts here; does not move. */
  paramAhead(): boolean {
    const save = this.i;
    this.ws();
    const name = this.token();
    this.ws();
    const ok = name.length > 0 && this.s.charCodeAt(this.i) === 0x3d && this.s.charCodeAt(this.i + 1) !== 0x3d;
    this.i = save;
    return ok;
  }
}

function parseOne(value: string, out: ParsedChallenge[]): void {
  const sc = new Scanner(value);
  const n = value.length;
  while (sc.i < n) {
    sc.ws();
    if (value.charCodeAt(sc.i) === 0x2c) {
      sc.i++;
      continue;
    }
    const scheme = sc.token();
    if (scheme.length === 0) {
      // Not a challenge: skip to the next comma.
      while (sc.i < n && value.charCodeAt(sc.i) !== 0x2c) sc.i++;
      continue;
    }
    const params = new Map<string, string>();
    sc.ws();
    if (!sc.paramAhead()) {
      // token68 or nothing: consume it.
      if (sc.i < n && value.charCodeAt(sc.i) !== 0x2c) sc.value();
    } else {
      for (;;) {
        sc.ws();
        const name = sc.token().toLowerCase();
        sc.ws();
        sc.i++; // '='
        sc.ws();
        const v = sc.value();
        if (!params.has(name)) params.set(name, v);
        sc.ws();
        // Skip anything unexpected up to the next comma.
        while (sc.i < n && value.charCodeAt(sc.i) !== 0x2c) sc.i++;
        if (sc.i >= n) break;
        sc.i++; // ','
        if (!sc.paramAhead()) break;
      }
    }
    const lower = scheme.toLowerCase();
    if (lower !== 'l402' && lower !== 'lsat') continue;
    const macaroon = params.get('macaroon') ?? params.get('token');
    const invoice = params.get('invoice');
    if (macaroon === undefined || macaroon.length === 0 || invoice === undefined || invoice.length === 0) continue;
    const parsed: ParsedChallenge = { scheme: lower === 'l402' ? 'L402' : 'LSAT', macaroon, invoice };
    const version = params.get('version');
    if (version !== undefined) parsed.version = version;
    const error = params.get('error');
    if (error !== undefined && error.length > 0) parsed.error = error;
    out.push(parsed);
  }
}

/**
 * Finds the L402/LSAT challenges in `WWW-Authenticate` values. Tolerant: several
 * challenges in one value (as `fetch` joins them with `, `), any parameter order,
 * quoted or bare values, scheme and parameter names in any case; other schemes
 * (Payment, Bearer…) and incomplete challenges are skipped. Never throws.
 *
 * @param values - one header value or several
 * @returns the challenges in order (L402 and LSAT alike)
 */
export function parseChallenges(values: string | readonly string[]): ParsedChallenge[] {
  const out: ParsedChallenge[] = [];
  const list = typeof values === 'string' ? [values] : values;
  for (const v of list) {
    if (typeof v !== 'string') continue;
    try {
      parseOne(v, out);
    } catch {
      // The scanner only indexes strings; this guard keeps the promise for exotic inputs.
    }
  }
  return out;
}
