/**
 * Checks a {@link CreateInvoiceRequest} the same way for every backend.
 */
import { InvoiceError } from '../core/errors.js';
import type { CreateInvoiceRequest } from '../core/types.js';

/** Largest amount accepted, in satoshis: 21 million BTC. */
const MAX_SATS = 21_000_000 * 100_000_000;

/**
 * Validates an invoice request.
 * @param request - the request
 * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (status 400) for a negative or fractional
 *   amount, a non-positive expiry or a non-string memo
 */
export function validateInvoiceRequest(request: CreateInvoiceRequest): void {
  const { amountSats, expirySeconds, memo } = request;
  if (!Number.isSafeInteger(amountSats) || amountSats < 0 || amountSats > MAX_SATS) {
    throw new InvoiceError(
      'L402_ERR_LN_INVALID_REQUEST',
      `invoice amount must be a whole number of satoshis ≥ 0, got ${String(amountSats)}`,
      {
        status: 400,
      },
    );
  }
  if (expirySeconds !== undefined && (!Number.isSafeInteger(expirySeconds) || expirySeconds <= 0)) {
    throw new InvoiceError(
      'L402_ERR_LN_INVALID_REQUEST',
      `invoice expiry must be a positive whole number of seconds, got ${String(expirySeconds)}`,
      {
        status: 400,
      },
    );
  }
  if (memo !== undefined && typeof memo !== 'string') {
    throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', 'invoice memo must be a string', { status: 400 });
  }
}

/**
 * Validates a payment hash given to `lookupInvoice`.
 * @param paymentHash - candidate, 64 hex characters
 * @returns the hash in lower case
 * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (status 400) when it is not 64 hex characters
 */
export function normalizePaymentHash(paymentHash: string): string {
  if (typeof paymentHash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(paymentHash)) {
    throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', 'payment hash must be 64 hex characters', { status: 400 });
  }
  return paymentHash.toLowerCase();
}
