/**
 * The client's side of the Payment (MPP) wire format, without any Node module
 * (the client runs in browsers): reading `Payment` challenges from
 * `WWW-Authenticate` values, reading their `request` objects, writing the
 * `Authorization: Payment <token>` credential and reading `Payment-Receipt`.
 * `aperture-ts/mpp` holds the server's codecs (they use `node:crypto` and
 * Node buffers); `test/client/payment-wire.test.ts` checks that both agree.
 */
import { base64Of, bytesOfBase64 } from './encoding.js';

/** The parameters of one Payment challenge, as received. */
export interface ClientPaymentChallenge {
  id: string;
  realm: string;
  method: string;
  intent: string;
  request: string;
  expires?: string;
  digest?: string;
  description?: string;
  opaque?: string;
}

const REQUIRED = ['id', 'realm', 'method', 'intent', 'request'] as const;
const OPTIONAL = ['expires', 'description', 'opaque', 'digest'] as const;
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Every complete Payment challenge of the `WWW-Authenticate` values, in order;
 * parameters of other schemes and incomplete Payment challenges are skipped,
 * a repeated parameter keeps its first value. A value that cannot be
 * tokenised yields what was read before the fault.
 * @param values - the header values
 * @returns the challenges (possibly none)
 * @internal
 */
export function readPaymentChallenges(values: readonly string[]): ClientPaymentChallenge[] {
  const out: ClientPaymentChallenge[] = [];
  for (const value of values) {
    for (const params of scan(value)) {
      const [id, realm, method, intent, request] = REQUIRED.map((name) => params.get(name));
      if (id === undefined || realm === undefined || method === undefined || intent === undefined || request === undefined) continue;
      const challenge: ClientPaymentChallenge = { id, realm, method, intent, request };
      for (const name of OPTIONAL) {
        const v = params.get(name);
        if (v !== undefined && v !== '') challenge[name] = v;
      }
      out.push(challenge);
    }
  }
  return out;
}

function scan(s: string): Array<Map<string, string>> {
  const found: Array<Map<string, string>> = [];
  let current: Map<string, string> | undefined;
  let pos = 0;
  const ows = (): void => {
    while (s[pos] === ' ' || s[pos] === '\t') pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < s.length && TCHAR.test(s[pos] as string)) pos++;
    return s.slice(start, pos);
  };
  for (;;) {
    while (pos < s.length && (s[pos] === ',' || s[pos] === ' ' || s[pos] === '\t')) pos++;
    if (pos >= s.length) return found;
    const name = token();
    if (name === '') return found;
    const after = pos;
    ows();
    if (s[pos] === '=' && current !== undefined) {
      pos++;
      ows();
      let value = '';
      if (s[pos] === '"') {
        pos++;
        while (pos < s.length && s[pos] !== '"') {
          if (s[pos] === '\\' && pos + 1 < s.length) pos++;
          value += s[pos];
          pos++;
        }
        pos++;
      } else {
        // token68-style values (`abc==`) are read up to the next separator.
        const start = pos;
        while (pos < s.length && s[pos] !== ',' && s[pos] !== ' ' && s[pos] !== '\t') pos++;
        value = s.slice(start, pos);
      }
      const key = name.toLowerCase();
      if (!current.has(key)) current.set(key, value);
      continue;
    }
    if (s[pos] === '=') {
      // A parameter before any scheme: skip its value.
      while (pos < s.length && s[pos] !== ',') pos++;
      continue;
    }
    pos = after;
    current = new Map();
    if (name.toLowerCase() === 'payment') found.push(current);
  }
}

/**
 * base64url without padding.
 * @param bytes - the bytes
 * @returns the text
 * @internal
 */
export function base64UrlOf(bytes: Uint8Array): string {
  return base64Of(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The JSON object carried by a base64url parameter, or `undefined` when it is not one.
 * @param encoded - base64url text
 * @returns the object
 * @internal
 */
export function readJsonParam(encoded: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(encoded)) return undefined;
  const bytes = bytesOfBase64(encoded);
  if (bytes === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `Authorization` value answering a challenge: `Payment ` and the
 * base64url of `{challenge, payload}`, the challenge echoed with its members
 * in the order id, realm, method, intent, request, expires, description,
 * opaque, digest.
 * @param challenge - the challenge answered
 * @param payload - the proof of payment
 * @returns the header value
 * @internal
 */
export function paymentAuthorization(challenge: ClientPaymentChallenge, payload: Record<string, string>): string {
  const echoed: Record<string, string> = {};
  for (const name of REQUIRED) echoed[name] = challenge[name];
  for (const name of OPTIONAL) {
    const v = challenge[name];
    if (v !== undefined && v !== '') echoed[name] = v;
  }
  return `Payment ${base64UrlOf(new TextEncoder().encode(JSON.stringify({ challenge: echoed, payload })))}`;
}
