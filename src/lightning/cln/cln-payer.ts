/**
 * Payer over Core Lightning's `clnrest`: `pay` (or `xpay`) with a fee limit,
 * `listpays` to find an earlier payment.
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import { toBigInt } from '../http-backend.js';
import { paymentResult } from '../payment-result.js';
import { ClnRest, type ClnConnectionOptions } from './cln-rest.js';

/** Options of {@link ClnPayer}. */
export interface ClnPayerOptions extends ClnConnectionOptions {
  /** The paying command: `pay` (every version) or `xpay` (CLN ≥ 24.11); `pay` by default. */
  command?: 'pay' | 'xpay';
  /** Fee limit when a call sets no `maxFeeSats`; 10 sat by default. */
  defaultMaxFeeSats?: number;
  /** Payment timeout when a call sets no `timeoutMs` (`retry_for`); 60 s by default. */
  defaultTimeoutMs?: number;
}

/** CLN's pay error codes → ours. */
const PAY_ERRORS: Record<number, [L402ErrorCode, string]> = {
  200: ['L402_ERR_PAY_IN_FLIGHT', 'a payment of this invoice is in progress'],
  201: ['L402_ERR_PAY_ALREADY_PAID', 'already paid'],
  203: ['L402_ERR_PAY_INCORRECT_DETAILS', 'the destination refused the payment'],
  205: ['L402_ERR_PAY_NO_ROUTE', 'no route'],
  206: ['L402_ERR_PAY_NO_ROUTE', 'no route within the fee limit'],
  207: ['L402_ERR_PAY_INVOICE_EXPIRED', 'the invoice expired'],
  209: ['L402_ERR_PAY_FAILED', 'payment failed'],
  210: ['L402_ERR_PAY_FAILED', 'all attempts failed'],
};

/**
 * {@link Payer} backed by a Core Lightning node through `clnrest`.
 *
 * The rune needs `pay` (or `xpay`) and `listpays`. Before paying, `listpays`
 * is asked whether this invoice was paid already: CLN's `pay` answers an
 * already-paid invoice with the old success, while a Payer refuses with
 * `L402_ERR_PAY_ALREADY_PAID` (use {@link ClnPayer.trackPayment} to recover).
 *
 * @example
 * ```ts
 * const payer = new ClnPayer({ url: 'https://127.0.0.1:3010', rune, caCert });
 * const { preimage } = await payer.payInvoice(invoice, { maxFeeSats: 10 });
 * ```
 */
export class ClnPayer implements Payer {
  readonly #rest: ClnRest;
  readonly #command: 'pay' | 'xpay';
  readonly #defaultMaxFeeSats: number;
  readonly #defaultTimeoutMs: number;
  readonly #callTimeoutMs: number;

  /**
   * @param options - URL, rune, CA, command and defaults
   */
  constructor(options: ClnPayerOptions) {
    this.#rest = new ClnRest(options, 'pay');
    this.#command = options.command ?? 'pay';
    this.#defaultMaxFeeSats = options.defaultMaxFeeSats ?? 10;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.#callTimeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Pays an invoice.
   * @param paymentRequest - BOLT11 invoice with an amount, or without one when `options.amountSats` is given
   * @param options - fee limit (sat, sent as `maxfee` in msat), timeout (`retry_for`, whole seconds), abort signal,
   *   the amount of an amountless invoice (sent as `amount_msat`)
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an amountless invoice without `amountSats`, or
   *   `amountSats` for an invoice with an amount), `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`,
   *   `L402_ERR_PAY_IN_FLIGHT`, `L402_ERR_PAY_NO_ROUTE`, `L402_ERR_PAY_INCORRECT_DETAILS`, `L402_ERR_PAY_INVOICE_EXPIRED`, `L402_ERR_PAY_FAILED`,
   *   `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`, `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    const amountSats = payAmount(decoded.amountMsat, options.amountSats);
    if (options.signal?.aborted === true)
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    const earlier = await this.#pays(decoded.paymentHash, options.signal);
    if (earlier.some((p) => p['status'] === 'complete')) {
      throw new PaymentError('L402_ERR_PAY_ALREADY_PAID', `Core Lightning already paid ${decoded.paymentHash}`, { status: 409 });
    }
    if (earlier.some((p) => p['status'] === 'pending')) {
      throw new PaymentError('L402_ERR_PAY_IN_FLIGHT', `a payment of ${decoded.paymentHash} is in progress`, { status: 409 });
    }
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const maxFeeMsat = (options.maxFeeSats ?? this.#defaultMaxFeeSats) * 1000;
    const answer = await this.#rest.call(
      this.#command,
      {
        [this.#command === 'pay' ? 'bolt11' : 'invstring']: paymentRequest,
        // Both commands take `amount_msat` for an invoice without an amount (and refuse it for one with an amount).
        ...(amountSats !== undefined ? { amount_msat: amountSats * 1000 } : {}),
        maxfee: maxFeeMsat,
        retry_for: Math.max(1, Math.ceil(timeoutMs / 1000)),
      },
      { timeoutMs: timeoutMs + this.#callTimeoutMs, ...(options.signal !== undefined ? { signal: options.signal } : {}) },
    );
    if ('error' in answer) {
      const [code, text] = (answer.error.code !== undefined ? PAY_ERRORS[answer.error.code] : undefined) ?? [
        'L402_ERR_PAY_FAILED',
        'payment failed',
      ];
      throw new PaymentError(
        code,
        `Core Lightning: ${text} for ${decoded.paymentHash}: ${answer.error.message}`,
        code === 'L402_ERR_PAY_ALREADY_PAID' || code === 'L402_ERR_PAY_IN_FLIGHT' ? { status: 409 } : {},
      );
    }
    const result = answer.result;
    if (this.#command === 'pay' && result['status'] !== undefined && result['status'] !== 'complete') {
      throw new PaymentError('L402_ERR_PAY_FAILED', `Core Lightning answered pay with status ${String(result['status'])}`);
    }
    return this.#toResult(
      decoded.paymentHash,
      result['payment_preimage'],
      result,
      amountSats !== undefined ? BigInt(amountSats) * 1000n : decoded.amountMsat,
    );
  }

  /**
   * An earlier payment (`listpays` by `payment_hash`).
   * @param paymentHash - lower-case hex
   * @returns the payment when it completed; `undefined` when unknown, failed or pending
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    const hash = paymentHash.toLowerCase();
    const complete = (await this.#pays(hash, undefined)).find((p) => p['status'] === 'complete');
    return complete === undefined ? undefined : this.#toResult(hash, complete['preimage'], complete, undefined);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#rest.close();
  }

  async #pays(paymentHash: string, signal: AbortSignal | undefined): Promise<Record<string, unknown>[]> {
    const answer = await this.#rest.call('listpays', { payment_hash: paymentHash }, signal !== undefined ? { signal } : {});
    if ('error' in answer) throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `Core Lightning refused listpays: ${answer.error.message}`);
    const pays = answer.result['pays'];
    if (!Array.isArray(pays)) throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'Core Lightning answered listpays without a pays array');
    return (pays as unknown[]).filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null);
  }

  #toResult(paymentHash: string, preimage: unknown, paid: Record<string, unknown>, invoiceMsat: bigint | undefined): PaymentResult {
    const amount = toBigInt(paid['amount_msat']) ?? invoiceMsat;
    const sent = toBigInt(paid['amount_sent_msat']);
    if (amount === undefined || sent === undefined)
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'Core Lightning reported a payment without amount_msat or amount_sent_msat');
    return paymentResult('Core Lightning', paymentHash, preimage, amount, sent - amount);
  }
}
