/**
 * The `Payment-Receipt` header: base64url of a JSON object attesting a
 * verified payment. Never carries a preimage.
 */
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { malformed, invalidArgument } from './mpp-error.js';

/** The receipt header's name. */
export const PAYMENT_RECEIPT_HEADER = 'Payment-Receipt';

/** A charge receipt (draft-httpauth-payment §5.3). */
export interface ChargeReceipt {
  /** Always `success`. */
  status: 'success';
  /** `lightning`. */
  method: string;
  /** RFC 3339 time of verification. */
  timestamp: string;
  /** The payment hash, lower-case hex. */
  reference: string;
  /** The challenge answered, when known. */
  challengeId?: string;
}

/** How a session refund went: paid, failed (kept for retry), or nothing to pay. */
export type ReceiptRefundStatus = 'succeeded' | 'failed' | 'skipped' | 'abandoned';

/** A session receipt (draft-lightning-session §15). */
export interface SessionReceipt {
  /** `lightning`. */
  method: string;
  /** The session id. */
  reference: string;
  /** Always `success`. */
  status: 'success';
  /** RFC 3339 time. */
  timestamp: string;
  /** Satoshis refunded on close; left out when zero. A bigint carries values past 2^53 exactly. */
  refundSats?: number | bigint;
  /** Outcome of the refund on close. */
  refundStatus?: ReceiptRefundStatus;
}

/**
 * Encodes a charge receipt: members in the order status, method, timestamp,
 * reference, challengeId (left out when empty).
 * @param receipt - the receipt
 * @returns the header value
 */
export function encodeChargeReceipt(receipt: ChargeReceipt): string {
  let json = `{"status":${str(receipt.status)},"method":${str(receipt.method)},"timestamp":${str(receipt.timestamp)},"reference":${str(receipt.reference)}`;
  if (receipt.challengeId !== undefined && receipt.challengeId !== '') json += `,"challengeId":${str(receipt.challengeId)}`;
  return encode(`${json}}`);
}

/**
 * Encodes a session receipt: members in the order method, reference, status,
 * timestamp, refundSats (left out when zero), refundStatus (when set).
 * @param receipt - the receipt
 * @returns the header value
 * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` when `refundSats` is not a non-negative integer
 */
export function encodeSessionReceipt(receipt: SessionReceipt): string {
  let json = `{"method":${str(receipt.method)},"reference":${str(receipt.reference)},"status":${str(receipt.status)},"timestamp":${str(receipt.timestamp)}`;
  const refund = receipt.refundSats;
  if (refund !== undefined) {
    if (!(typeof refund === 'bigint' ? refund >= 0n : Number.isSafeInteger(refund) && refund >= 0)) {
      throw invalidArgument('refundSats must be a non-negative integer');
    }
    if (BigInt(refund) !== 0n) json += `,"refundSats":${BigInt(refund).toString()}`;
  }
  if (receipt.refundStatus !== undefined) json += `,"refundStatus":${str(receipt.refundStatus)}`;
  return encode(`${json}}`);
}

/**
 * The JSON text of a receipt header, unparsed, so that a caller may read large
 * integers exactly.
 * @param value - the header value
 * @returns the JSON text
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when the value is not strict base64url of a UTF-8 JSON object
 */
export function decodeReceiptJson(value: string): string {
  const text = decodeUtf8(decodeBase64Url(value));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw malformed('receipt is not JSON', cause);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('receipt is not a JSON object');
  return text;
}

/**
 * Decodes a receipt header into its members.
 * @param value - the header value
 * @returns the members (numbers past 2^53 lose precision: use {@link decodeReceiptJson} for those)
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when it does not decode, or `status` is not `success`
 */
export function decodePaymentReceipt(value: string): Record<string, unknown> {
  const parsed = JSON.parse(decodeReceiptJson(value)) as Record<string, unknown>;
  if (parsed['status'] !== 'success') throw malformed('receipt status is not "success"');
  return parsed;
}

const str = (value: string): string => JSON.stringify(value);
const encode = (json: string): string => encodeBase64Url(Buffer.from(json, 'utf8'));

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw malformed('receipt is not UTF-8', cause);
  }
}

/** The SSE event a streaming response sends when the session balance runs out (draft-lightning-session §13.1). */
export interface NeedTopUpEvent {
  /** The session id. */
  sessionId: string;
  /** Satoshis spent so far. */
  balanceSpent: number | bigint;
  /** Satoshis the next unit needs. */
  balanceRequired: number | bigint;
}

/**
 * The JSON text of a need-top-up event (members in the order sessionId, balanceSpent, balanceRequired).
 * @param event - the event
 * @returns the JSON text, for an SSE `data:` line
 * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` when an amount is not a non-negative integer
 */
export function needTopUpEventJson(event: NeedTopUpEvent): string {
  const int = (v: number | bigint, name: string): string => {
    if (typeof v === 'bigint' ? v < 0n : !Number.isSafeInteger(v) || v < 0) throw invalidArgument(`${name} must be a non-negative integer`);
    return BigInt(v).toString();
  };
  return `{"sessionId":${str(event.sessionId)},"balanceSpent":${int(event.balanceSpent, 'balanceSpent')},"balanceRequired":${int(event.balanceRequired, 'balanceRequired')}}`;
}
