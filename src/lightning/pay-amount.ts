/**
 * The amount a Payer sends for an invoice, by the rule every payer follows:
 * an invoice with an amount is paid that amount (a caller's `amountSats` is
 * refused, not ignored), an invoice without one is paid only the caller's
 * `amountSats` (a positive whole number of satoshis), never a guess.
 * @internal
 */
import { PaymentError } from '../core/errors.js';

/**
 * @param invoiceMsat - the invoice's amount, msat; 0 for an amountless invoice
 * @param amountSats - `PayOptions.amountSats`
 * @returns the satoshis to send for an amountless invoice; `undefined` for an invoice with an amount
 * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (400) when `amountSats` is given for an invoice with an
 *   amount, missing for one without, or not a positive whole number
 */
export function payAmount(invoiceMsat: bigint, amountSats: number | undefined): number | undefined {
  if (invoiceMsat !== 0n) {
    if (amountSats !== undefined) {
      throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'an amount may only be chosen for an invoice without one', { status: 400 });
    }
    return undefined;
  }
  if (amountSats === undefined) {
    throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'invoices without an amount are not paid automatically', { status: 400 });
  }
  if (!Number.isSafeInteger(amountSats) || amountSats <= 0) {
    throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'the amount to pay must be a positive whole number of satoshis', {
      status: 400,
    });
  }
  return amountSats;
}
