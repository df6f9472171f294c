/**
 * Invoicer over an LNbits wallet: `POST /api/v1/payments` (`out: false`) with
 * the invoice key, `GET /api/v1/payments/{hash}`, settlements from the wallet's
 * WebSocket `/api/v1/ws/{invoice key}`.
 */
import { InvoiceError } from '../../core/errors.js';
import {
  systemClock,
  type BackendHealth,
  type Clock,
  type CreateInvoiceRequest,
  type Invoice,
  type InvoiceStatus,
  type Invoicer,
} from '../../core/types.js';
import type { BackoffOptions } from '../backoff.js';
import { decodeInvoice } from '../decode-invoice.js';
import type { FeedInvoicerCore } from '../feed-invoicer-core.js';
import { returnedInvoice } from '../returned-invoice.js';
import { describeAnswer, field, isHex32, toBigInt, type HttpAnswer, type HttpBackend } from '../http-backend.js';
import { httpWebSocketInvoicer } from '../http-web-socket-invoicer.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';

/** Options of {@link LnbitsInvoicer.connect}. */
export interface LnbitsInvoicerOptions {
  /** The LNbits server, e.g. `https://lnbits.example.com`. */
  url: string;
  /** The wallet's invoice/read key (`X-Api-Key`); never logged. */
  invoiceKey: string;
  /** PEM CA certificate to trust (a self-signed server). */
  caCert?: string | Uint8Array;
  /** Timeout of each call, ms; 30 000 by default. */
  timeoutMs?: number;
  /** WebSocket ping interval, ms; 30 000 by default. */
  pingIntervalMs?: number;
  /** Reconnect delays of the WebSocket. */
  backoff?: BackoffOptions;
  /** Called when the connection goes down or comes back. */
  onHealthChange?: (health: BackendHealth) => void;
  /** Time source. */
  clock?: Clock;
}

/**
 * {@link Invoicer} backed by an LNbits wallet.
 *
 * Health is the state of the wallet's WebSocket; while it is down the invoicer
 * reconnects with backoff, and after it is back it looks up every invoice
 * created here that is still pending (LNbits does not replay missed events).
 *
 * @example
 * ```ts
 * const invoicer = await LnbitsInvoicer.connect({ url: 'https://lnbits.example.com', invoiceKey });
 * ```
 */
export class LnbitsInvoicer implements Invoicer {
  readonly #http: HttpBackend;
  readonly #core: FeedInvoicerCore;
  readonly #clock: Clock;

  private constructor(options: LnbitsInvoicerOptions) {
    this.#clock = options.clock ?? systemClock;
    ({ http: this.#http, core: this.#core } = httpWebSocketInvoicer(options, {
      backend: 'LNbits',
      feature: 'LnbitsInvoicer',
      clock: this.#clock,
      headers: { 'x-api-key': options.invoiceKey },
      webSocketPath: `/api/v1/ws/${encodeURIComponent(options.invoiceKey)}`,
      onMessage: (message) => this.#onMessage(message),
      lookup: (hash) => this.lookupInvoice(hash),
    }));
  }

  /**
   * Connects: checks the key (`GET /api/v1/wallet`) and opens the wallet's WebSocket.
   * @param options - URL, invoice key
   * @returns the invoicer
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`, `L402_ERR_LN_BAD_RESPONSE`;
   *   L402Error `L402_ERR_DEPENDENCY_MISSING` without the `ws` package
   */
  static async connect(options: LnbitsInvoicerOptions): Promise<LnbitsInvoicer> {
    const invoicer = new LnbitsInvoicer(options);
    await invoicer.#core.connect({
      before: async () => checked(await invoicer.#http.call('GET', '/api/v1/wallet'), 'GET /api/v1/wallet'),
    });
    return invoicer;
  }

  /**
   * Creates an invoice.
   * @param request - amount, memo, expiry (LNbits' default when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400); `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`,
   *   `L402_ERR_LN_RPC_FAILED`, `L402_ERR_LN_BAD_RESPONSE` (503)
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#core.assertOpen();
    const answer = await this.#http.call('POST', '/api/v1/payments', {
      json: {
        out: false,
        amount: request.amountSats,
        unit: 'sat',
        memo: request.memo ?? '',
        ...(request.expirySeconds !== undefined ? { expiry: request.expirySeconds } : {}),
      },
    });
    const body = checked(answer, 'POST /api/v1/payments');
    const bolt11 = field(body, 'bolt11') ?? field(body, 'payment_request');
    const hash = field(body, 'payment_hash');
    if (typeof bolt11 !== 'string' || !isHex32(hash)) throw badResponse('POST /api/v1/payments', 'no payment_hash or bolt11');
    const invoice = returnedInvoice(bolt11, hash, request.amountSats, (detail) => badResponse('POST /api/v1/payments', detail));
    this.#core.feed.track(invoice.paymentHash, invoice.expiresAt);
    return invoice;
  }

  /**
   * Looks an invoice up (`GET /api/v1/payments/{hash}`).
   * @param paymentHash - 64 hex characters
   * @returns its status; unpaid past its expiry, or failed, is `canceled`
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400), `L402_ERR_LN_INVOICE_NOT_FOUND` (404); 503 codes as createInvoice
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#core.assertOpen();
    const answer = await this.#http.call('GET', `/api/v1/payments/${hash}`);
    if (answer.status === 404)
      throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `LNbits has no payment with hash ${hash}`, { status: 404 });
    const body = checked(answer, 'GET /api/v1/payments/{hash}');
    const paid = field(body, 'paid');
    if (typeof paid !== 'boolean') throw badResponse('GET /api/v1/payments/{hash}', 'no paid flag');
    const details = field(body, 'details');
    if (paid) {
      const amount = toBigInt(field(details, 'amount'));
      if (amount === undefined) throw badResponse('GET /api/v1/payments/{hash}', 'a paid invoice without details.amount');
      const status: InvoiceStatus = {
        paymentHash: hash,
        state: 'settled',
        amountPaidSats: Number(amount / 1000n),
        settledAt: timeOf(details, this.#clock),
      };
      this.#core.feed.deliver(status);
      return status;
    }
    if (field(body, 'status') === 'failed' || field(details, 'status') === 'failed') return { paymentHash: hash, state: 'canceled' };
    const bolt11 = field(details, 'bolt11');
    if (typeof bolt11 === 'string') {
      try {
        if (decodeInvoice(bolt11).expiresAt <= this.#clock.now()) return { paymentHash: hash, state: 'canceled' };
      } catch {
        // An invoice LNbits holds that does not decode: report what LNbits says.
      }
    }
    return { paymentHash: hash, state: 'open' };
  }

  /**
   * Registers a settlement listener; each settlement is delivered once.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#core.onSettled(listener);
  }

  /**
   * Health of the wallet's WebSocket.
   * @returns ok while it is open
   */
  health(): BackendHealth {
    return this.#core.health();
  }

  /** Closes the WebSocket and the connections. */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** `{"payment": {...}, "wallet_balance": n}` for each payment of the wallet; incoming and settled ones are delivered. */
  #onMessage(message: unknown): void {
    const payment = field(message, 'payment');
    const hash = field(payment, 'payment_hash');
    const amount = toBigInt(field(payment, 'amount'));
    if (!isHex32(hash) || amount === undefined || amount <= 0n) return;
    const status = field(payment, 'status');
    const pending = field(payment, 'pending');
    if (status !== undefined ? status !== 'success' : pending !== false) return;
    this.#core.feed.deliver({
      paymentHash: hash.toLowerCase(),
      state: 'settled',
      amountPaidSats: Number(amount / 1000n),
      settledAt: timeOf(payment, this.#clock),
    });
  }
}

/** The answer's body when it is a success; coded errors otherwise. */
function checked(answer: HttpAnswer, what: string): unknown {
  if (answer.status === 401 || answer.status === 403) {
    throw new InvoiceError('L402_ERR_LN_AUTH_REFUSED', `LNbits refused the invoice key for ${what}: ${describeAnswer(answer)}`);
  }
  if (answer.status >= 500) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `LNbits failed ${what}: ${describeAnswer(answer)}`);
  if (answer.status >= 400) throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `LNbits refused ${what}: ${describeAnswer(answer)}`);
  if (typeof answer.body !== 'object' || answer.body === null)
    throw badResponse(what, `something that is not JSON (${describeAnswer(answer)})`);
  return answer.body;
}

function badResponse(what: string, detail: string): InvoiceError {
  return new InvoiceError('L402_ERR_LN_BAD_RESPONSE', `LNbits answered ${what} with ${detail}`);
}

/** A payment's time (`time` / `updated_at`: ISO text or Unix seconds) in ms; now when absent. */
function timeOf(payment: unknown, clock: Clock): number {
  for (const name of ['updated_at', 'time']) {
    const value = field(payment, name);
    if (typeof value === 'number' && Number.isFinite(value)) return value * 1000;
    if (typeof value === 'string') {
      // LNbits writes naive UTC datetimes ("2025-01-02T03:04:05.678"): read them as UTC.
      const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
      if (Number.isFinite(parsed)) return parsed;
    }
  }
  return clock.now();
}
