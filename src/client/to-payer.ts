/**
 * Adapts anything that can pay an invoice to the core {@link Payer} interface:
 * a full `Payer` (LndPayer, DevPayer, DevHttpPayer), an object with a
 * `payInvoice` method returning only a preimage (WebLN / NWC style), or a bare
 * function `(invoice) => preimage`.
 */
import { L402Error, PaymentError } from '../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../core/types.js';
import { readInvoice } from './read-invoice.js';

/** What a minimal wallet returns: the preimage hex, or an object holding it (and optionally the fee). */
export type PayInvoiceAnswer = string | { preimage: string; feeSats?: number; amountSats?: number };

/** A bare pay function, e.g. `(invoice) => webln.sendPayment(invoice)`. */
export type PayInvoiceFunction = (invoice: string, options?: PayOptions) => Promise<PayInvoiceAnswer>;

/** An object with a `payInvoice` method answering a full result or just a preimage. */
export interface PayInvoiceLike {
  /** Pays a BOLT11 invoice. */
  payInvoice(invoice: string, options?: PayOptions): Promise<PaymentResult | PayInvoiceAnswer>;
  /** Looks up an earlier payment by hash (see {@link Payer.trackPayment}). */
  trackPayment?(paymentHash: string): Promise<PaymentResult | undefined>;
}

/** Anything the client helpers accept as a payer. */
export type PayerLike = Payer | PayInvoiceLike | PayInvoiceFunction;

function normalise(invoice: string, answer: PaymentResult | PayInvoiceAnswer): PaymentResult {
  const fields: Partial<PaymentResult> = typeof answer === 'string' ? { preimage: answer } : answer;
  if (typeof fields.preimage !== 'string') {
    throw new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', 'the payer answered without a preimage');
  }
  const details = readInvoice(invoice);
  return {
    paymentHash: details.paymentHash,
    preimage: fields.preimage.toLowerCase(),
    amountSats: typeof fields.amountSats === 'number' ? fields.amountSats : Number((details.amountMsat + 999n) / 1000n),
    feeSats: typeof fields.feeSats === 'number' ? fields.feeSats : 0,
  };
}

function wrapFailure(cause: unknown): L402Error {
  if (cause instanceof L402Error) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', `payment failed: ${reason}`, { cause });
}

/**
 * Wraps a payer-like value as a {@link Payer}.
 * @param payer - a Payer, a `{ payInvoice }` object or a pay function
 * @returns a Payer whose results always carry hash, preimage, amount and fee
 *   (fee 0 and the invoice amount when the wallet does not report them)
 * @throws PaymentError from `payInvoice`: the wallet's own `L402Error`, or
 *   `L402_ERR_CLIENT_PAYMENT_FAILED` wrapping anything else it throws
 */
export function toPayer(payer: PayerLike): Payer {
  const pay = typeof payer === 'function' ? payer : payer.payInvoice.bind(payer);
  const track = typeof payer === 'function' ? undefined : payer.trackPayment?.bind(payer);
  const adapted: Payer = {
    async payInvoice(invoice: string, options?: PayOptions): Promise<PaymentResult> {
      let answer: PaymentResult | PayInvoiceAnswer;
      try {
        answer = await pay(invoice, options);
      } catch (cause) {
        throw wrapFailure(cause);
      }
      return normalise(invoice, answer);
    },
  };
  if (track !== undefined) adapted.trackPayment = track;
  return adapted;
}
