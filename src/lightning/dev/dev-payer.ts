/**
 * Pays dev-backend invoices in process: the client side of {@link DevInvoicer}
 * when client and server share a process (tests, examples).
 */
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import type { DevInvoicer } from './dev-invoicer.js';

/**
 * A {@link Payer} that settles invoices of a {@link DevInvoicer} directly.
 */
export class DevPayer implements Payer {
  readonly #invoicer: DevInvoicer;
  readonly #paid = new Map<string, PaymentResult>();

  /**
   * @param invoicer - the dev backend whose invoices this payer pays
   */
  constructor(invoicer: DevInvoicer) {
    this.#invoicer = invoicer;
  }

  /**
   * Pays an invoice of the wrapped dev backend.
   * @param paymentRequest - BOLT11 invoice
   * @param options - `signal` and `amountSats` (for an invoice without an amount) are honoured; fee and
   *   timeout limits cannot be exceeded (fees are 0)
   * @returns the preimage
   * @throws PaymentError `L402_ERR_PAY_ABORTED` when `signal` is aborted; `L402_ERR_PAY_INVALID_INVOICE` for an
   *   invoice without an amount and no `amountSats`; otherwise the codes
   *   of {@link DevInvoicer.pay} (dev codes and `L402_ERR_PAY_INVALID_INVOICE`)
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    if (options.signal?.aborted === true) {
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    }
    // The rule of every payer: an invoice without an amount is paid only the amount asked for.
    payAmount(decodeInvoice(paymentRequest).amountMsat, options.amountSats);
    const result = await this.#invoicer.pay(paymentRequest, options.amountSats);
    this.#paid.set(result.paymentHash, result);
    return result;
  }

  /**
   * An earlier payment made by this payer.
   * @param paymentHash - lower-case hex
   * @returns the payment, or `undefined` when this payer never completed it
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    return this.#paid.get(paymentHash.toLowerCase());
  }
}
