/**
 * Pays dev-backend invoices of a server running elsewhere (on the same machine)
 * through its `POST /api/dev/pay` endpoint.
 */
import { createHash } from 'node:crypto';
import { isL402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';

/** Options of {@link DevHttpPayer}. */
export interface DevHttpPayerOptions {
  /** Full URL of the endpoint, e.g. `http://127.0.0.1:8081/api/dev/pay`. */
  url: string | URL;
  /** The fetch to use; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Give up after this long when a call passes no `timeoutMs`; 30 s by default. */
  timeoutMs?: number;
}

/**
 * A {@link Payer} that pays through a dev server's `/api/dev/pay`.
 *
 * @example
 * ```ts
 * const payer = new DevHttpPayer({ url: 'http://127.0.0.1:8081/api/dev/pay' });
 * const { preimage } = await payer.payInvoice(invoice);
 * ```
 */
export class DevHttpPayer implements Payer {
  readonly #url: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #paid = new Map<string, PaymentResult>();

  /**
   * @param options - endpoint URL, fetch, default timeout
   */
  constructor(options: DevHttpPayerOptions) {
    this.#url = String(options.url);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Asks the dev server to pay an invoice and checks the preimage it returns.
   * @param paymentRequest - BOLT11 invoice
   * @param options - `timeoutMs` and `signal` are honoured
   * @returns the preimage
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` for an invalid invoice, an invoice without an amount, or
   *   when `amountSats` is given (the dev pay endpoint pays only the amount an invoice carries);
   *   `L402_ERR_PAY_UNAVAILABLE` when the server cannot be reached or answers garbage;
   *   `L402_ERR_PAY_ABORTED` on abort or timeout; the server's own code (a dev code) when it refuses
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    if (options.amountSats !== undefined || decoded.amountMsat === 0n) {
      throw new PaymentError(
        'L402_ERR_PAY_INVALID_INVOICE',
        'the dev pay endpoint cannot choose an amount: it pays only invoices with one (PayOptions.amountSats is refused)',
        { status: 400 },
      );
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ invoice: paymentRequest }),
        signal,
      });
      text = await response.text();
    } catch (cause) {
      if (signal.aborted) throw new PaymentError('L402_ERR_PAY_ABORTED', `payment via ${this.#url} aborted or timed out`, { cause });
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `cannot reach ${this.#url}: ${(cause as Error).message}`, { status: 503, cause });
    }
    let body: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = body?.['error'] as { code?: unknown; message?: unknown } | undefined;
      const code = isL402ErrorCode(error?.code) ? error.code : 'L402_ERR_PAY_UNAVAILABLE';
      const message = typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`;
      throw new PaymentError(code, `${this.#url} refused the payment: ${message}`, { status: response.status });
    }
    const preimage = body?.['preimage'];
    if (typeof preimage !== 'string' || !/^[0-9a-f]{64}$/i.test(preimage)) {
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `${this.#url} answered without a preimage`, { status: 502 });
    }
    if (createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex') !== decoded.paymentHash) {
      throw new PaymentError('L402_ERR_PAY_BAD_PREIMAGE', `${this.#url} answered with a preimage that does not match the invoice`, {
        status: 502,
      });
    }
    const result: PaymentResult = {
      paymentHash: decoded.paymentHash,
      preimage: preimage.toLowerCase(),
      amountSats: Number(decoded.amountMsat / 1000n),
      feeSats: 0,
    };
    this.#paid.set(result.paymentHash, result);
    return result;
  }

  /**
   * An earlier payment made by this payer object (the dev server keeps no
   * payment history to ask).
   * @param paymentHash - lower-case hex
   * @returns the payment, or `undefined`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    return this.#paid.get(paymentHash.toLowerCase());
  }
}
