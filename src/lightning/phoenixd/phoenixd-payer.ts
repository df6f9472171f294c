/**
 * Payer over phoenixd: `POST /payinvoice`, `GET /payments/outgoingbyhash/{hash}`.
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import { describeAnswer, field, HttpBackend, toBigInt } from '../http-backend.js';
import { paymentResult } from '../payment-result.js';
import { phoenixdAuthorization } from './phoenixd-invoicer.js';

/** Options of {@link PhoenixdPayer}. */
export interface PhoenixdPayerOptions {
  /** phoenixd's URL. */
  url: string;
  /** The full `http-password` (the limited-access password cannot pay); never logged. */
  password: string;
  /** PEM CA certificate to trust. */
  caCert?: string | Uint8Array;
  /** Payment timeout when a call sets no `timeoutMs`; 60 s by default. */
  defaultTimeoutMs?: number;
}

/** phoenixd's failure reasons → our codes. */
const FAILURES: [RegExp, L402ErrorCode][] = [
  [/already paid|AlreadyPaid/i, 'L402_ERR_PAY_ALREADY_PAID'],
  [/in progress|pending/i, 'L402_ERR_PAY_IN_FLIGHT'],
  [/insufficient|not enough|balance/i, 'L402_ERR_PAY_INSUFFICIENT_BALANCE'],
  [/expired/i, 'L402_ERR_PAY_INVOICE_EXPIRED'],
  [/incorrect|unknown payment/i, 'L402_ERR_PAY_INCORRECT_DETAILS'],
  [/route/i, 'L402_ERR_PAY_NO_ROUTE'],
  [/timed? ?out/i, 'L402_ERR_PAY_TIMEOUT'],
];

/**
 * {@link Payer} backed by phoenixd.
 *
 * Fee limit: `/payinvoice` takes none (Phoenix pays through its trampoline
 * node with its own fee policy); a fee above `maxFeeSats` is reported after
 * the payment by a process warning naming `maxFeeSats`.
 *
 * @example
 * ```ts
 * const payer = new PhoenixdPayer({ url: 'http://127.0.0.1:9740', password });
 * ```
 */
export class PhoenixdPayer implements Payer {
  readonly #http: HttpBackend;
  readonly #defaultTimeoutMs: number;

  /**
   * @param options - URL, password, defaults
   */
  constructor(options: PhoenixdPayerOptions) {
    this.#http = new HttpBackend({
      baseUrl: options.url,
      headers: { authorization: phoenixdAuthorization(options.password) },
      ...(options.caCert !== undefined ? { caCert: options.caCert } : {}),
      failure: (kind, message, cause) =>
        new PaymentError(
          kind === 'aborted' ? 'L402_ERR_PAY_ABORTED' : kind === 'timeout' ? 'L402_ERR_PAY_TIMEOUT' : 'L402_ERR_PAY_UNAVAILABLE',
          `phoenixd: ${message}`,
          { cause },
        ),
    });
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  }

  /**
   * Pays an invoice (`POST /payinvoice`).
   * @param paymentRequest - BOLT11 invoice with an amount, or without one when `options.amountSats` is given
   * @param options - fee limit (checked afterwards), timeout, abort signal, the amount of an amountless invoice
   *   (sent as `amountSat`)
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an amountless invoice without `amountSats`, or
   *   `amountSats` for an invoice with an amount), `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`,
   *   `L402_ERR_PAY_IN_FLIGHT`, `L402_ERR_PAY_INSUFFICIENT_BALANCE`, `L402_ERR_PAY_INCORRECT_DETAILS`, `L402_ERR_PAY_INVOICE_EXPIRED`,
   *   `L402_ERR_PAY_NO_ROUTE`, `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_FAILED`, `L402_ERR_PAY_UNAVAILABLE`,
   *   `L402_ERR_PAY_AUTH_REFUSED`, `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    const chosenSat = payAmount(decoded.amountMsat, options.amountSats);
    if (options.signal?.aborted === true)
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    const signal = options.signal !== undefined ? { signal: options.signal } : {};
    const earlier = await this.#outgoing(decoded.paymentHash, signal);
    if (earlier !== undefined && field(earlier, 'isPaid') === true) {
      throw new PaymentError('L402_ERR_PAY_ALREADY_PAID', `phoenixd already paid ${decoded.paymentHash}`, { status: 409 });
    }
    const answer = await this.#http.call('POST', '/payinvoice', {
      // `amountSat` pays an invoice without an amount (phoenixd answers "missing amountSat" without it).
      form: { invoice: paymentRequest, ...(chosenSat !== undefined ? { amountSat: String(chosenSat) } : {}) },
      timeoutMs: options.timeoutMs ?? this.#defaultTimeoutMs,
      ...signal,
    });
    if (answer.status === 401 || answer.status === 403) {
      throw new PaymentError(
        'L402_ERR_PAY_AUTH_REFUSED',
        `phoenixd refused to pay with this password (the full http-password is needed): ${describeAnswer(answer)}`,
      );
    }
    const preimage = field(answer.body, 'paymentPreimage');
    if (answer.status >= 400 || typeof preimage !== 'string') {
      const reason = field(answer.body, 'reason');
      const text = typeof reason === 'string' ? reason : describeAnswer(answer);
      if (answer.status < 400 && typeof reason !== 'string')
        throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `phoenixd answered /payinvoice with ${text}`);
      const code = FAILURES.find(([pattern]) => pattern.test(text))?.[1] ?? 'L402_ERR_PAY_FAILED';
      throw new PaymentError(
        code,
        `phoenixd could not pay ${decoded.paymentHash}: ${text}`,
        code === 'L402_ERR_PAY_ALREADY_PAID' || code === 'L402_ERR_PAY_IN_FLIGHT' ? { status: 409 } : {},
      );
    }
    const amountSat = toBigInt(field(answer.body, 'recipientAmountSat'));
    const feeSat = toBigInt(field(answer.body, 'routingFeeSat'));
    if (amountSat === undefined || feeSat === undefined)
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'phoenixd answered /payinvoice without recipientAmountSat or routingFeeSat');
    const result = paymentResult('phoenixd', decoded.paymentHash, preimage, amountSat * 1000n, feeSat * 1000n);
    if (options.maxFeeSats !== undefined && result.feeSats > options.maxFeeSats) {
      process.emitWarning(
        `phoenixd paid ${decoded.paymentHash} with a fee of ${result.feeSats} sat, above maxFeeSats ${options.maxFeeSats}: phoenixd takes no fee limit`,
        { code: 'APERTURE_PHOENIXD_FEE' },
      );
    }
    return result;
  }

  /**
   * An earlier payment (`GET /payments/outgoingbyhash/{hash}`).
   * @param paymentHash - lower-case hex
   * @returns the payment when paid; `undefined` when unknown, failed or pending
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    const hash = paymentHash.toLowerCase();
    const payment = await this.#outgoing(hash, {});
    if (payment === undefined || field(payment, 'isPaid') !== true) return undefined;
    const sent = toBigInt(field(payment, 'sent'));
    const fees = toBigInt(field(payment, 'fees'));
    if (sent === undefined || fees === undefined)
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'phoenixd reported a payment without sent or fees');
    // `sent` is the total in sat, fees included; `fees` is in msat.
    return paymentResult('phoenixd', hash, field(payment, 'preimage'), sent * 1000n - fees, fees);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#http.close();
  }

  async #outgoing(hash: string, call: { signal?: AbortSignal }): Promise<unknown> {
    const answer = await this.#http.call('GET', `/payments/outgoingbyhash/${hash}`, call);
    if (answer.status === 404 || (answer.status === 200 && (answer.body === '' || answer.body === null))) return undefined;
    if (answer.status === 401 || answer.status === 403)
      throw new PaymentError('L402_ERR_PAY_AUTH_REFUSED', `phoenixd refused the password: ${describeAnswer(answer)}`);
    if (answer.status >= 400 || typeof answer.body !== 'object' || answer.body === null) {
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `phoenixd answered an outgoing payment lookup with ${describeAnswer(answer)}`);
    }
    // Some versions answer a list of the attempts for the hash: a paid one wins.
    if (Array.isArray(answer.body)) return (answer.body as unknown[]).find((p) => field(p, 'isPaid') === true) ?? answer.body[0];
    return answer.body;
  }
}
