/**
 * Builds a {@link PaymentResult} from what an HTTP backend reported, checking
 * the preimage against the payment hash and rounding msat as the lnd payer
 * does (amount down, fee up).
 * @internal
 */
import { createHash } from 'node:crypto';
import { PaymentError } from '../core/errors.js';
import type { PaymentResult } from '../core/types.js';

/**
 * @param backend - backend name for the message
 * @param paymentHash - the invoice's hash, lower-case hex
 * @param preimage - what the backend returned
 * @param amountMsat - amount paid, fees excluded
 * @param feeMsat - routing fee
 * @returns the result
 * @throws PaymentError `L402_ERR_PAY_BAD_PREIMAGE` when the preimage does not hash to `paymentHash`
 */
export function paymentResult(backend: string, paymentHash: string, preimage: unknown, amountMsat: bigint, feeMsat: bigint): PaymentResult {
  const hex = typeof preimage === 'string' ? preimage.toLowerCase() : '';
  if (!/^[0-9a-f]{64}$/.test(hex) || createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex') !== paymentHash) {
    throw new PaymentError('L402_ERR_PAY_BAD_PREIMAGE', `${backend} returned a preimage that does not match ${paymentHash}`);
  }
  const fee = feeMsat < 0n ? 0n : feeMsat;
  return { paymentHash, preimage: hex, amountSats: Number(amountMsat / 1000n), feeSats: Number((fee + 999n) / 1000n) };
}
