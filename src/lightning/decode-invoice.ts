/**
 * Decodes and checks a BOLT11 invoice: signature, network prefix, payment hash.
 */
import bolt11 from 'bolt11';
import { PaymentError } from '../core/errors.js';
import { bolt11Network, networkOfInvoice, type LightningNetwork } from './network.js';

/** The fields of a BOLT11 invoice that payers and the dev backend need. */
export interface DecodedInvoice {
  /** The invoice as given. */
  paymentRequest: string;
  /** Network from the prefix. */
  network: LightningNetwork;
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Amount in millisatoshis; 0 for an any-amount invoice. */
  amountMsat: bigint;
  /** Payee node public key (recovered from the signature), lower-case hex. */
  payee: string;
  /** Creation time, Unix seconds. */
  timestampSeconds: number;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
  /** Description, when present. */
  memo: string | undefined;
}

/**
 * Decodes a BOLT11 invoice and verifies its signature.
 * @param paymentRequest - the invoice (`lnbc…`, `lntb…`, `lntbs…`, `lnbcrt…`, `lnsb…`)
 * @returns its fields
 * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (status 400) when it does not decode or verify
 */
export function decodeInvoice(paymentRequest: string): DecodedInvoice {
  const network = typeof paymentRequest === 'string' ? networkOfInvoice(paymentRequest) : undefined;
  if (network === undefined) {
    throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'not a BOLT11 invoice of a known network', { status: 400 });
  }
  let decoded: ReturnType<typeof bolt11.decode>;
  try {
    decoded = bolt11.decode(paymentRequest, bolt11Network(network));
  } catch (cause) {
    throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', `invalid BOLT11 invoice: ${(cause as Error).message}`, {
      status: 400,
      cause,
    });
  }
  const hash = decoded.tagsObject.payment_hash;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || decoded.payeeNodeKey === undefined) {
    throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'BOLT11 invoice has no valid payment hash', { status: 400 });
  }
  const timestampSeconds = decoded.timestamp ?? 0;
  const expirySeconds = decoded.tagsObject.expire_time ?? 3600;
  return {
    paymentRequest,
    network,
    paymentHash: hash,
    amountMsat: BigInt(decoded.millisatoshis ?? '0'),
    payee: decoded.payeeNodeKey,
    timestampSeconds,
    expiresAt: (timestampSeconds + expirySeconds) * 1000,
    memo: decoded.tagsObject.description,
  };
}
