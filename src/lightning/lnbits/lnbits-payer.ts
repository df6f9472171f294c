/**
 * Payer over an LNbits wallet: `POST /api/v1/payments` (`out: true`) with the
 * admin key, then `GET /api/v1/payments/{hash}` for the preimage and fee.
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { describeAnswer, field, HttpBackend, toBigInt, type HttpAnswer } from '../http-backend.js';
import { paymentResult } from '../payment-result.js';

/** Options of {@link LnbitsPayer}. */
export interface LnbitsPayerOptions {
  /** The LNbits server. */
  url: string;
  /** The wallet's admin key (`X-Api-Key`); the invoice key cannot pay. Never logged. */
  adminKey: string;
  /** PEM CA certificate to trust. */
  caCert?: string | Uint8Array;
  /** Payment timeout when a call sets no `timeoutMs`; 60 s by default. */
  defaultTimeoutMs?: number;
  /** Interval of the status checks of a payment LNbits reports pending, ms; 500 by default. */
  pollIntervalMs?: number;
}

/** LNbits' failure texts → our codes. */
const FAILURES: [RegExp, L402ErrorCode][] = [
  [/insufficient balance/i, 'L402_ERR_PAY_INSUFFICIENT_BALANCE'],
  [/already (been )?paid|already exists|duplicate/i, 'L402_ERR_PAY_ALREADY_PAID'],
  [/expired/i, 'L402_ERR_PAY_INVOICE_EXPIRED'],
  [/no route|route not found|unable to find/i, 'L402_ERR_PAY_NO_ROUTE'],
  [/timed? ?out/i, 'L402_ERR_PAY_TIMEOUT'],
];

/**
 * {@link Payer} backed by an LNbits wallet.
 *
 * Amountless invoices: LNbits' `POST /api/v1/payments` (`out: true`) takes
 * only the invoice and refuses one without an amount, so this payer refuses
 * them (and `PayOptions.amountSats`) before asking LNbits anything; MPP session
 * refunds, which pay such invoices, therefore need another backend.
 *
 * Fee limit: LNbits' payment API takes none; the server applies its own fee
 * reserve (`LNBITS_RESERVE_FEE_MIN`, `LNBITS_RESERVE_FEE_PERCENT`). A
 * `maxFeeSats` is checked against the fee LNbits reports after paying, and
 * a higher fee is reported by a process warning naming `maxFeeSats` (the
 * payment has happened by then).
 *
 * @example
 * ```ts
 * const payer = new LnbitsPayer({ url: 'https://lnbits.example.com', adminKey });
 * const { preimage } = await payer.payInvoice(invoice);
 * ```
 */
export class LnbitsPayer implements Payer {
  readonly #http: HttpBackend;
  readonly #defaultTimeoutMs: number;
  readonly #pollMs: number;

  /**
   * @param options - URL, admin key, defaults
   */
  constructor(options: LnbitsPayerOptions) {
    this.#http = new HttpBackend({
      baseUrl: options.url,
      headers: { 'x-api-key': options.adminKey },
      ...(options.caCert !== undefined ? { caCert: options.caCert } : {}),
      failure: (kind, message, cause) =>
        new PaymentError(
          kind === 'aborted' ? 'L402_ERR_PAY_ABORTED' : kind === 'timeout' ? 'L402_ERR_PAY_TIMEOUT' : 'L402_ERR_PAY_UNAVAILABLE',
          `LNbits: ${message}`,
          { cause },
        ),
    });
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.#pollMs = options.pollIntervalMs ?? 500;
  }

  /**
   * Pays an invoice.
   * @param paymentRequest - BOLT11 invoice with an amount (LNbits' API pays no invoice without one)
   * @param options - fee limit (checked afterwards, see the class), timeout, abort signal
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an invoice without an amount, and when
   *   `amountSats` is given), `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`,
   *   `L402_ERR_PAY_INSUFFICIENT_BALANCE`, `L402_ERR_PAY_NO_ROUTE`, `L402_ERR_PAY_INCORRECT_DETAILS`, `L402_ERR_PAY_INVOICE_EXPIRED`,
   *   `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_FAILED`, `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`,
   *   `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    if (options.amountSats !== undefined || decoded.amountMsat === 0n) {
      // LNbits' payment API cannot choose an amount: nothing is sent (no silent fallback to another amount).
      throw new PaymentError(
        'L402_ERR_PAY_INVALID_INVOICE',
        decoded.amountMsat === 0n
          ? 'LNbits cannot pay an invoice without an amount: POST /api/v1/payments (out: true) takes no amount and refuses such invoices'
          : 'an amount may only be chosen for an invoice without one, and LNbits cannot pay those (PayOptions.amountSats)',
        { status: 400 },
      );
    }
    if (options.signal?.aborted === true)
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    const signal = options.signal !== undefined ? { signal: options.signal } : {};
    const before = await this.#status(decoded.paymentHash, signal);
    if (before !== undefined && field(before, 'paid') === true) {
      throw new PaymentError('L402_ERR_PAY_ALREADY_PAID', `LNbits already paid ${decoded.paymentHash}`, { status: 409 });
    }
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const answer = await this.#http.call('POST', '/api/v1/payments', { json: { out: true, bolt11: paymentRequest }, timeoutMs, ...signal });
    if (answer.status >= 400) throw failure(answer, decoded.paymentHash);
    // LNbits answers once the payment is final or still pending; its status tells which.
    for (;;) {
      const status = await this.#status(decoded.paymentHash, signal);
      if (status !== undefined && field(status, 'paid') === true) {
        const result = toResult(decoded.paymentHash, status, decoded.amountMsat);
        if (options.maxFeeSats !== undefined && result.feeSats > options.maxFeeSats) {
          process.emitWarning(
            `LNbits paid ${decoded.paymentHash} with a fee of ${result.feeSats} sat, above maxFeeSats ${options.maxFeeSats}: LNbits takes no fee limit`,
            { code: 'APERTURE_LNBITS_FEE' },
          );
        }
        return result;
      }
      const state = field(status, 'status') ?? field(field(status, 'details'), 'status');
      if (state === 'failed') throw new PaymentError('L402_ERR_PAY_FAILED', `LNbits reports the payment of ${decoded.paymentHash} failed`);
      if (Date.now() >= deadline)
        throw new PaymentError(
          'L402_ERR_PAY_TIMEOUT',
          `the payment of ${decoded.paymentHash} is still pending after ${timeoutMs} ms; check it with trackPayment`,
        );
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs));
    }
  }

  /**
   * An earlier payment (`GET /api/v1/payments/{hash}`).
   * @param paymentHash - lower-case hex
   * @returns the payment when paid; `undefined` when unknown, failed or pending
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    const hash = paymentHash.toLowerCase();
    const status = await this.#status(hash, {});
    if (status === undefined || field(status, 'paid') !== true) return undefined;
    return toResult(hash, status, undefined);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#http.close();
  }

  async #status(hash: string, call: { signal?: AbortSignal }): Promise<unknown> {
    const answer = await this.#http.call('GET', `/api/v1/payments/${hash}`, call);
    if (answer.status === 404) return undefined;
    if (answer.status === 401 || answer.status === 403)
      throw new PaymentError('L402_ERR_PAY_AUTH_REFUSED', `LNbits refused the admin key: ${describeAnswer(answer)}`);
    if (answer.status >= 400 || typeof answer.body !== 'object' || answer.body === null) {
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `LNbits answered a payment status with ${describeAnswer(answer)}`);
    }
    return answer.body;
  }
}

function failure(answer: HttpAnswer, paymentHash: string): PaymentError {
  if (answer.status === 401 || answer.status === 403) {
    return new PaymentError(
      'L402_ERR_PAY_AUTH_REFUSED',
      `LNbits refused to pay with this key (the admin key is needed): ${describeAnswer(answer)}`,
    );
  }
  const detail = field(answer.body, 'detail');
  const text = typeof detail === 'string' ? detail : describeAnswer(answer);
  const code =
    FAILURES.find(([pattern]) => pattern.test(text))?.[1] ??
    (answer.status >= 500 && typeof detail !== 'string' ? 'L402_ERR_PAY_UNAVAILABLE' : 'L402_ERR_PAY_FAILED');
  return new PaymentError(
    code,
    `LNbits could not pay ${paymentHash}: ${text}`,
    code === 'L402_ERR_PAY_ALREADY_PAID' ? { status: 409 } : {},
  );
}

/** Outgoing amounts and fees are negative msat in LNbits' details. */
function toResult(paymentHash: string, status: unknown, invoiceMsat: bigint | undefined): PaymentResult {
  const details = field(status, 'details');
  const amount = toBigInt(field(details, 'amount'));
  const fee = toBigInt(field(details, 'fee')) ?? 0n;
  const abs = (x: bigint): bigint => (x < 0n ? -x : x);
  const amountMsat = amount !== undefined ? abs(amount) : invoiceMsat;
  if (amountMsat === undefined) throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'LNbits reported a payment without details.amount');
  return paymentResult('LNbits', paymentHash, field(status, 'preimage'), amountMsat, abs(fee));
}
