/**
 * The `Authorization: Payment <token>` credential: base64url of a JSON object
 * `{challenge, source?, payload}` echoing the challenge it answers.
 */
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { malformed } from './mpp-error.js';
import { PAYMENT_SCHEME, type PaymentChallenge } from './payment-challenge.js';

/** Largest decoded credential accepted, bytes. */
export const MAX_CREDENTIAL_BYTES = 64 * 1024;
/** Largest token accepted, characters: the padded base64url length of {@link MAX_CREDENTIAL_BYTES}. */
export const MAX_CREDENTIAL_TOKEN_LENGTH = Math.floor((MAX_CREDENTIAL_BYTES + 2) / 3) * 4;

/** A decoded Payment credential. */
export interface PaymentCredential {
  /** The challenge echoed unchanged. */
  challenge: PaymentChallenge;
  /** Payer identifier (a DID), when given. */
  source?: string;
  /** The method- and intent-specific proof of payment, a JSON object. */
  payload: Record<string, unknown>;
}

const CHALLENGE_FIELDS = ['id', 'realm', 'method', 'intent', 'request'] as const;
const OPTIONAL_FIELDS = ['expires', 'description', 'opaque', 'digest'] as const;

/**
 * Whether a header value uses the Payment scheme (case-insensitive), whatever its token.
 * @param value - an `Authorization` value
 * @returns `true` for `Payment …`
 */
export function isPaymentAuthorization(value: string): boolean {
  const space = value.indexOf(' ');
  return (space === -1 ? value : value.slice(0, space)).toLowerCase() === 'payment';
}

/**
 * Parses an `Authorization: Payment <token>` value strictly.
 * @param value - the header value
 * @returns the credential
 * @throws L402Error `L402_ERR_MPP_MALFORMED` for another scheme, an empty token, a token over
 *   {@link MAX_CREDENTIAL_TOKEN_LENGTH} characters, a token that is not strict base64url, JSON that is not an
 *   object, a missing or non-string `challenge.id`/`realm`/`method`/`intent`/`request`, a non-string optional
 *   field, or a `payload` that is not an object
 */
export function parsePaymentCredential(value: string): PaymentCredential {
  if (typeof value !== 'string') throw malformed('no Authorization header');
  const space = value.indexOf(' ');
  if (space === -1 || value.slice(0, space).toLowerCase() !== 'payment') {
    throw malformed(`authorization header does not use the ${PAYMENT_SCHEME} scheme`);
  }
  const token = value.slice(space + 1).trim();
  if (token === '') throw malformed('empty credential token');
  if (token.length > MAX_CREDENTIAL_TOKEN_LENGTH) {
    throw malformed(`credential too large (${token.length} characters, at most ${MAX_CREDENTIAL_TOKEN_LENGTH})`);
  }
  const bytes = decodeBase64Url(token);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw malformed('credential is not UTF-8 JSON', cause);
  }
  if (!isObject(parsed)) throw malformed('credential is not a JSON object');
  const echoed = parsed['challenge'];
  if (!isObject(echoed)) throw malformed('credential missing challenge');
  const challenge = {} as PaymentChallenge;
  for (const name of CHALLENGE_FIELDS) {
    const field = echoed[name];
    if (typeof field !== 'string' || field === '') throw malformed(`credential missing challenge.${name}`);
    challenge[name] = field;
  }
  for (const name of OPTIONAL_FIELDS) {
    const field = echoed[name];
    if (field === undefined || field === '') continue;
    if (typeof field !== 'string') throw malformed(`credential challenge.${name} is not a string`);
    challenge[name] = field;
  }
  const payload = parsed['payload'];
  if (!isObject(payload)) throw malformed('credential missing payload');
  const credential: PaymentCredential = { challenge, payload };
  const source = parsed['source'];
  if (source !== undefined && source !== '') {
    if (typeof source !== 'string') throw malformed('credential source is not a string');
    credential.source = source;
  }
  return credential;
}

/**
 * Encodes a credential as the token of `Authorization: Payment <token>`
 * (members in the order challenge, source, payload; the challenge's in the
 * order id, realm, method, intent, request, expires, description, opaque, digest).
 * @param credential - the credential
 * @returns the base64url token (without the scheme)
 */
export function encodePaymentCredential(credential: PaymentCredential): string {
  const c = credential.challenge;
  const challenge: Record<string, string> = { id: c.id, realm: c.realm, method: c.method, intent: c.intent, request: c.request };
  for (const name of OPTIONAL_FIELDS) {
    const field = c[name];
    if (field !== undefined && field !== '') challenge[name] = field;
  }
  const body: Record<string, unknown> = { challenge };
  if (credential.source !== undefined && credential.source !== '') body['source'] = credential.source;
  body['payload'] = credential.payload;
  return encodeBase64Url(Buffer.from(JSON.stringify(body), 'utf8'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
