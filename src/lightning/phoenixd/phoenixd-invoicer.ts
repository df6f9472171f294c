/**
 * Invoicer over phoenixd's HTTP API: `POST /createinvoice`,
 * `GET /payments/incoming/{hash}`, settlements from `/websocket`
 * (`payment_received`), HTTP Basic with the http password.
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

/** Options of {@link PhoenixdInvoicer.connect}. */
export interface PhoenixdInvoicerOptions {
  /** phoenixd's URL, e.g. `http://127.0.0.1:9740`. */
  url: string;
  /** `http-password` or `http-password-limited-access` of `phoenix.conf` (creating invoices needs no more); never logged. */
  password: string;
  /** PEM CA certificate to trust, when phoenixd is behind a TLS proxy with a private CA. */
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
 * The `Authorization` header of phoenixd: HTTP Basic, empty user name.
 * @internal
 */
export function phoenixdAuthorization(password: string): string {
  return `Basic ${Buffer.from(`:${password}`, 'utf8').toString('base64')}`;
}

/**
 * {@link Invoicer} backed by phoenixd.
 *
 * Health is the state of the `/websocket` stream; after a reconnect every
 * invoice created here that is still pending is looked up (phoenixd does not
 * replay events sent while the socket was down).
 *
 * @example
 * ```ts
 * const invoicer = await PhoenixdInvoicer.connect({ url: 'http://127.0.0.1:9740', password });
 * ```
 */
export class PhoenixdInvoicer implements Invoicer {
  readonly #http: HttpBackend;
  readonly #core: FeedInvoicerCore;
  readonly #clock: Clock;

  private constructor(options: PhoenixdInvoicerOptions) {
    this.#clock = options.clock ?? systemClock;
    const authorization = phoenixdAuthorization(options.password);
    ({ http: this.#http, core: this.#core } = httpWebSocketInvoicer(options, {
      backend: 'phoenixd',
      feature: 'PhoenixdInvoicer',
      clock: this.#clock,
      headers: { authorization },
      webSocketPath: '/websocket',
      webSocketHeaders: { authorization },
      onMessage: (message) => this.#onMessage(message),
      lookup: (hash) => this.lookupInvoice(hash),
    }));
  }

  /**
   * Connects: checks the password (`GET /getinfo`) and opens `/websocket`.
   * @param options - URL, password
   * @returns the invoicer
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`, `L402_ERR_LN_BAD_RESPONSE`;
   *   L402Error `L402_ERR_DEPENDENCY_MISSING` without the `ws` package
   */
  static async connect(options: PhoenixdInvoicerOptions): Promise<PhoenixdInvoicer> {
    const invoicer = new PhoenixdInvoicer(options);
    await invoicer.#core.connect({ before: async () => checked(await invoicer.#http.call('GET', '/getinfo'), 'GET /getinfo') });
    return invoicer;
  }

  /**
   * Creates an invoice (`POST /createinvoice` with `amountSat`, `description`, `expirySeconds`).
   * @param request - amount (0: any amount), memo, expiry (phoenixd's default, 1 hour, when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400); `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`,
   *   `L402_ERR_LN_RPC_FAILED`, `L402_ERR_LN_BAD_RESPONSE` (503)
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#core.assertOpen();
    const form: Record<string, string> = { description: request.memo ?? '' };
    if (request.amountSats > 0) form['amountSat'] = String(request.amountSats);
    if (request.expirySeconds !== undefined) form['expirySeconds'] = String(request.expirySeconds);
    const body = checked(await this.#http.call('POST', '/createinvoice', { form }), 'POST /createinvoice');
    const bolt11 = field(body, 'serialized');
    const hash = field(body, 'paymentHash');
    if (typeof bolt11 !== 'string' || !isHex32(hash)) throw badResponse('POST /createinvoice', 'no paymentHash or serialized invoice');
    const invoice = returnedInvoice(bolt11, hash, request.amountSats, (detail) => badResponse('POST /createinvoice', detail));
    this.#core.feed.track(invoice.paymentHash, invoice.expiresAt);
    return invoice;
  }

  /**
   * Looks an invoice up (`GET /payments/incoming/{hash}`).
   * @param paymentHash - 64 hex characters
   * @returns its status; unpaid past the invoice's expiry is `canceled`
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400), `L402_ERR_LN_INVOICE_NOT_FOUND` (404); 503 codes as createInvoice
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#core.assertOpen();
    const answer = await this.#http.call('GET', `/payments/incoming/${hash}`);
    if (answer.status === 404 || (answer.status === 200 && (answer.body === '' || answer.body === null))) {
      throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `phoenixd has no incoming payment with hash ${hash}`, { status: 404 });
    }
    const body = checked(answer, 'GET /payments/incoming/{hash}');
    const isPaid = field(body, 'isPaid');
    if (typeof isPaid !== 'boolean') throw badResponse('GET /payments/incoming/{hash}', 'no isPaid flag');
    if (isPaid) {
      const received = toBigInt(field(body, 'receivedSat'));
      if (received === undefined) throw badResponse('GET /payments/incoming/{hash}', 'a paid invoice without receivedSat');
      const completedAt = toBigInt(field(body, 'completedAt'));
      const status: InvoiceStatus = {
        paymentHash: hash,
        state: 'settled',
        amountPaidSats: Number(received),
        settledAt: completedAt === undefined ? this.#clock.now() : Number(completedAt),
      };
      this.#core.feed.deliver(status);
      return status;
    }
    const invoice = field(body, 'invoice');
    if (typeof invoice === 'string') {
      try {
        if (decodeInvoice(invoice).expiresAt <= this.#clock.now()) return { paymentHash: hash, state: 'canceled' };
      } catch {
        // Not decodable: report it open, as phoenixd does.
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
   * Health of the `/websocket` stream.
   * @returns ok while it is open
   */
  health(): BackendHealth {
    return this.#core.health();
  }

  /** Closes the WebSocket and the connections. */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** `{"type":"payment_received","amountSat":n,"paymentHash":"…","timestamp":ms,…}`. */
  #onMessage(message: unknown): void {
    if (field(message, 'type') !== 'payment_received') return;
    const hash = field(message, 'paymentHash');
    const amount = toBigInt(field(message, 'amountSat'));
    if (!isHex32(hash) || amount === undefined) return;
    const timestamp = toBigInt(field(message, 'timestamp'));
    this.#core.feed.deliver({
      paymentHash: hash.toLowerCase(),
      state: 'settled',
      amountPaidSats: Number(amount),
      settledAt: timestamp === undefined ? this.#clock.now() : Number(timestamp),
    });
  }
}

/** The answer's body when it is a success; coded errors otherwise. */
function checked(answer: HttpAnswer, what: string): unknown {
  if (answer.status === 401 || answer.status === 403) {
    throw new InvoiceError('L402_ERR_LN_AUTH_REFUSED', `phoenixd refused the password for ${what}: ${describeAnswer(answer)}`);
  }
  if (answer.status >= 500) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `phoenixd failed ${what}: ${describeAnswer(answer)}`);
  if (answer.status >= 400) throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `phoenixd refused ${what}: ${describeAnswer(answer)}`);
  if (typeof answer.body !== 'object' || answer.body === null)
    throw badResponse(what, `something that is not JSON (${describeAnswer(answer)})`);
  return answer.body;
}

function badResponse(what: string, detail: string): InvoiceError {
  return new InvoiceError('L402_ERR_LN_BAD_RESPONSE', `phoenixd answered ${what} with ${detail}`);
}
