/**
 * The invoice a remote backend (Core Lightning, LNbits, phoenixd, NWC)
 * returned for `createInvoice`, checked before it is handed out: it must
 * decode, carry the payment hash the backend reported with it (when it
 * reported one) and exactly the amount asked for.
 */
import type { InvoiceError } from '../core/errors.js';
import type { Invoice } from '../core/types.js';
import { decodeInvoice } from './decode-invoice.js';

/**
 * @param bolt11 - the invoice as the backend returned it
 * @param reportedHash - the payment hash the backend reported beside it, if any (hex)
 * @param amountSats - the amount asked for
 * @param badResponse - the backend's `L402_ERR_LN_BAD_RESPONSE` error with this detail
 * @returns the invoice, with its payment hash and expiry from the decoded invoice
 * @throws InvoiceError from `badResponse` when a check fails
 */
export function returnedInvoice(
  bolt11: string,
  reportedHash: string | undefined,
  amountSats: number,
  badResponse: (detail: string) => InvoiceError,
): Invoice {
  let decoded;
  try {
    decoded = decodeInvoice(bolt11);
  } catch (cause) {
    throw badResponse(`an invoice that does not decode: ${(cause as Error).message}`);
  }
  if (
    (reportedHash !== undefined && reportedHash.toLowerCase() !== decoded.paymentHash) ||
    decoded.amountMsat !== BigInt(amountSats) * 1000n
  ) {
    throw badResponse('an invoice without the payment hash or amount asked for');
  }
  return { paymentRequest: bolt11, paymentHash: decoded.paymentHash, amountSats, expiresAt: decoded.expiresAt };
}
