/**
 * The `WWW-Authenticate: Payment …` challenge: its parameters, the header line
 * that carries them, the parser of challenge lists, and the HMAC that binds
 * its `id` to the rest.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeBase64Url } from './base64url.js';
import { malformed } from './mpp-error.js';

/** The auth-scheme name (compared case-insensitively). */
export const PAYMENT_SCHEME = 'Payment';

/** The parameters of one Payment challenge (draft-httpauth-payment §5.1). */
export interface PaymentChallenge {
  /** base64url HMAC-SHA256 of the other parameters (see {@link computeChallengeId}). */
  id: string;
  /** Protection space. */
  realm: string;
  /** Payment method, `lightning`. */
  method: string;
  /** `charge` or `session`. */
  intent: string;
  /** base64url of the JCS request object. */
  request: string;
  /** RFC 3339 expiry. */
  expires?: string;
  /** RFC 9530 digest of the request body. */
  digest?: string;
  /** Human-readable description (not covered by the HMAC). */
  description?: string;
  /** base64url of JCS server correlation data (covered by the HMAC). */
  opaque?: string;
}

const REQUIRED = ['id', 'realm', 'method', 'intent', 'request'] as const;
const OPTIONAL = ['expires', 'digest', 'description', 'opaque'] as const;

/**
 * Renders a value as an RFC 9110 quoted-string: `\` and `"` become
 * quoted-pairs, horizontal tab and every other printable or non-ASCII
 * character is kept, and the control characters the grammar cannot carry are
 * dropped (so a realm cannot split the header).
 * @param value - the value
 * @returns the quoted string, quotes included
 */
export function quoteAuthParam(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (c === 0x09 || (c >= 0x20 && c !== 0x7f)) out += ch;
  }
  return `${out}"`;
}

/**
 * Whether every parameter survives the header unchanged (has no control
 * character other than tab); a challenge that does not would never verify.
 * @param challenge - the parameters
 * @returns the name of the first parameter that would be altered, or `undefined`
 */
export function unquotableParam(challenge: PaymentChallenge): string | undefined {
  for (const name of [...REQUIRED, ...OPTIONAL]) {
    const value = challenge[name];
    // eslint-disable-next-line no-control-regex
    if (value !== undefined && /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return name;
  }
  return undefined;
}

/**
 * The value of a `WWW-Authenticate` line for one challenge: `Payment id="…",
 * realm="…", method="…", intent="…", request="…"` then, when present,
 * `expires`, `digest`, `description`, `opaque`, all quoted.
 * @param challenge - the parameters
 * @returns the header value
 */
export function formatPaymentChallenge(challenge: PaymentChallenge): string {
  const parts: string[] = [];
  for (const name of REQUIRED) parts.push(`${name}=${quoteAuthParam(challenge[name])}`);
  for (const name of OPTIONAL) {
    const value = challenge[name];
    if (value !== undefined && value !== '') parts.push(`${name}=${quoteAuthParam(value)}`);
  }
  return `${PAYMENT_SCHEME} ${parts.join(', ')}`;
}

/**
 * Every complete Payment challenge of one or more `WWW-Authenticate` values,
 * in order. A value may hold several challenges (the Fetch standard joins
 * repeated lines with `, `); scheme and parameter names are case-insensitive;
 * a repeated parameter keeps its first value; other schemes' parameters are
 * ignored; a Payment challenge missing a required parameter is skipped.
 * @param values - one header value or several
 * @returns the challenges, at least one
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when a value cannot be tokenised, or no complete Payment
 *   challenge is left
 */
export function parsePaymentChallenges(values: string | readonly string[]): PaymentChallenge[] {
  const list = typeof values === 'string' ? [values] : values;
  const out: PaymentChallenge[] = [];
  let incomplete = false;
  for (const value of list) {
    for (const params of scanChallenges(value)) {
      const challenge = toChallenge(params);
      if (challenge === undefined) incomplete = true;
      else out.push(challenge);
    }
  }
  if (out.length === 0) {
    throw malformed(incomplete ? 'every Payment challenge lacks a required parameter' : 'no Payment challenge');
  }
  return out;
}

function toChallenge(params: Map<string, string>): PaymentChallenge | undefined {
  const get = (name: string): string | undefined => params.get(name);
  const [id, realm, method, intent, request] = REQUIRED.map(get);
  if (id === undefined || realm === undefined || method === undefined || intent === undefined || request === undefined) {
    return undefined;
  }
  const challenge: PaymentChallenge = { id, realm, method, intent, request };
  for (const name of OPTIONAL) {
    const value = get(name);
    if (value !== undefined && value !== '') challenge[name] = value;
  }
  return challenge;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const isOws = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * Splits a header value into the parameter maps of its Payment challenges.
 * A token followed by `=` is a parameter; any other token opens a challenge.
 */
function scanChallenges(s: string): Array<Map<string, string>> {
  const payment: Array<Map<string, string>> = [];
  let current: Map<string, string> | undefined;
  let pos = 0;
  const readToken = (): string => {
    const start = pos;
    while (pos < s.length && TCHAR.test(s[pos] as string)) pos++;
    return s.slice(start, pos);
  };
  for (;;) {
    while (pos < s.length && (s[pos] === ',' || isOws(s[pos]))) pos++;
    if (pos >= s.length) break;
    const tokenStart = pos;
    const token = readToken();
    if (token === '') throw malformed(`malformed WWW-Authenticate value at offset ${tokenStart}`);
    const afterToken = pos;
    while (pos < s.length && isOws(s[pos])) pos++;
    if (s[pos] === '=') {
      if (current === undefined) throw malformed(`auth-param ${JSON.stringify(token)} before any auth-scheme`);
      pos++;
      while (pos < s.length && isOws(s[pos])) pos++;
      let value: string;
      if (s[pos] === '"') {
        pos++;
        value = '';
        while (pos < s.length && s[pos] !== '"') {
          if (s[pos] === '\\' && pos + 1 < s.length) pos++;
          value += s[pos];
          pos++;
        }
        pos++; // the closing quote (or the end, when it is missing)
      } else {
        value = readToken();
      }
      const name = token.toLowerCase();
      if (!current.has(name)) current.set(name, value);
      continue;
    }
    pos = afterToken;
    current = new Map();
    if (token.toLowerCase() === 'payment') payment.push(current);
  }
  return payment;
}

/**
 * The challenge id: base64url (no padding) of HMAC-SHA256 over
 * `realm|method|intent|request|expires|digest|opaque`, an absent optional
 * slot being the empty string.
 * @param secret - the server's HMAC secret
 * @param challenge - the parameters (`id` and `description` are not covered)
 * @returns the id
 */
export function computeChallengeId(secret: Uint8Array, challenge: Omit<PaymentChallenge, 'id'>): string {
  return encodeBase64Url(challengeMac(secret, challenge));
}

/**
 * Whether `challenge.id` is the HMAC of its parameters, compared in constant time.
 * @param secret - the server's HMAC secret
 * @param challenge - the echoed parameters
 * @returns `true` when authentic
 */
export function verifyChallengeId(secret: Uint8Array, challenge: PaymentChallenge): boolean {
  const expected = Buffer.from(computeChallengeId(secret, challenge), 'utf8');
  const given = Buffer.from(challenge.id, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function challengeMac(secret: Uint8Array, c: Omit<PaymentChallenge, 'id'>): Buffer {
  const input = [c.realm, c.method, c.intent, c.request, c.expires ?? '', c.digest ?? '', c.opaque ?? ''].join('|');
  return createHmac('sha256', secret).update(input, 'utf8').digest();
}
