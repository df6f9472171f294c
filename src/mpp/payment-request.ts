/**
 * The `request` objects of Lightning Payment challenges: built as JCS and
 * base64url, read back strictly from an echoed challenge.
 */
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { canonicalize } from './jcs.js';
import { malformed } from './mpp-error.js';

/** The request of a `charge` challenge (draft-lightning-charge §7). */
export interface ChargeRequest {
  /** Satoshis, decimal. */
  amount: string;
  /** `sat`. */
  currency: 'sat';
  /** What is paid for. */
  description?: string;
  /** Lightning details. */
  methodDetails: {
    /** BOLT11 invoice. */
    invoice: string;
    /** Network of the invoice. */
    network: string;
    /** Payment hash of the invoice, lower-case hex. */
    paymentHash: string;
  };
}

/** The request of a `session` challenge (draft-lightning-session §7). */
export interface SessionRequest {
  /** Satoshis per unit (per request), decimal. */
  amount: string;
  /** `sat`. */
  currency: 'sat';
  /** Satoshis of the deposit invoice, decimal. */
  depositAmount: string;
  /** BOLT11 invoice paying the deposit (open) or a top-up. */
  depositInvoice: string;
  /** Idle timeout of open sessions, seconds, decimal. */
  idleTimeout: string;
  /** Payment hash of the deposit invoice, lower-case hex. */
  paymentHash: string;
}

/**
 * base64url of the JCS text of an object.
 * @param value - a JSON object
 * @returns the encoded text
 */
export function encodeJcsParam(value: object): string {
  return encodeBase64Url(Buffer.from(canonicalize(value), 'utf8'));
}

/**
 * The JSON object a base64url parameter carries.
 * @param encoded - base64url text
 * @param what - its name, for the message
 * @returns the object
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when it is not base64url of a UTF-8 JSON object
 */
export function decodeJcsParam(encoded: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(decodeBase64Url(encoded)));
  } catch (cause) {
    throw malformed(`challenge ${what} is not base64url JSON`, cause);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed(`challenge ${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

const HASH = /^[0-9a-f]{64}$/;
const SATS = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Reads the request of an echoed charge challenge.
 * @param encoded - the `request` parameter
 * @returns the amount and payment hash
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when a field is missing or malformed
 */
export function readChargeRequest(encoded: string): { amountSats: number; paymentHash: string } {
  const request = decodeJcsParam(encoded, 'request');
  const details = request['methodDetails'];
  const paymentHash = typeof details === 'object' && details !== null ? (details as Record<string, unknown>)['paymentHash'] : undefined;
  return {
    amountSats: sats(request['amount'], 'amount'),
    paymentHash: hash(paymentHash, 'methodDetails.paymentHash'),
    ...currency(request),
  };
}

/**
 * Reads the request of an echoed session challenge.
 * @param encoded - the `request` parameter
 * @returns the unit price, deposit amount and deposit payment hash
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when a field is missing or malformed
 */
export function readSessionRequest(encoded: string): { amountSats: number; depositSats: number; paymentHash: string } {
  const request = decodeJcsParam(encoded, 'request');
  currency(request);
  return {
    amountSats: sats(request['amount'], 'amount'),
    depositSats: sats(request['depositAmount'], 'depositAmount'),
    paymentHash: hash(request['paymentHash'], 'paymentHash'),
  };
}

function sats(value: unknown, name: string): number {
  if (typeof value !== 'string' || !SATS.test(value) || !Number.isSafeInteger(Number(value))) {
    throw malformed(`challenge request ${name} is not a decimal number of satoshis`);
  }
  return Number(value);
}

function hash(value: unknown, name: string): string {
  if (typeof value !== 'string' || !HASH.test(value)) throw malformed(`challenge request ${name} is not 64 lower-case hex characters`);
  return value;
}

function currency(request: Record<string, unknown>): Record<string, never> {
  if (request['currency'] !== 'sat') throw malformed('challenge request currency is not "sat"');
  return {};
}
