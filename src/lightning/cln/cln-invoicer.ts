/**
 * Invoicer over Core Lightning's `clnrest`: `invoice` to create,
 * `listinvoices` to look up, and a `waitanyinvoice` long-poll from the last
 * `pay_index` for settlements, resumable across restarts.
 */
import { randomBytes } from 'node:crypto';
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
import { returnedInvoice } from '../returned-invoice.js';
import { isHex32, toBigInt } from '../http-backend.js';
import type { InvoicePage } from '../settled-invoice-index.js';
import { FeedInvoicerCore } from '../feed-invoicer-core.js';
import type { FeedStream } from '../settlement-feed.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';
import { ClnRest, type ClnConnectionOptions } from './cln-rest.js';

/** Options of {@link ClnInvoicer.connect}. */
export interface ClnInvoicerOptions extends ClnConnectionOptions {
  /**
   * Follow settlements after this `pay_index` (a value saved from
   * {@link ClnInvoicer.lastPayIndex}), so that invoices paid while the program
   * was stopped are delivered. Without it, settlements are followed from the
   * node's current highest `pay_index`.
   */
  lastPayIndex?: number;
  /** Seconds each `waitanyinvoice` long-poll waits before it is renewed; 60 by default. */
  waitTimeoutSeconds?: number;
  /** Prefix of the invoice labels (CLN needs a unique label per invoice); `aperture-` by default. */
  labelPrefix?: string;
  /** Reconnect delays of the settlement long-poll. */
  backoff?: BackoffOptions;
  /** Called when the connection goes down or comes back. */
  onHealthChange?: (health: BackendHealth) => void;
  /** Time source. */
  clock?: Clock;
}

/** `waitanyinvoice`'s error code when its timeout passes with nothing paid. */
const WAIT_TIMED_OUT = 904;
/** Invoices per `listinvoices` page when scanning. */
const PAGE = 1000;

/**
 * {@link Invoicer} backed by a Core Lightning node through `clnrest`.
 *
 * Health is the state of the settlement long-poll: while it cannot reach the
 * node, `health().ok` is false (challenges answer 503) and it retries with
 * backoff; after it reconnects it resumes from the last `pay_index` it saw, so
 * no settlement is lost, and it also looks up the invoices created here that
 * are still pending.
 *
 * The rune needs `invoice`, `listinvoices` and `waitanyinvoice`, e.g.
 * `lightning-cli createrune restrictions='[["method=invoice","method=listinvoices","method=waitanyinvoice"]]'`.
 *
 * @example
 * ```ts
 * const invoicer = await ClnInvoicer.connect({ url: 'https://127.0.0.1:3010', rune, caCert: readFileSync('ca.pem') });
 * const invoice = await invoicer.createInvoice({ amountSats: 100, memo: 'API call' });
 * ```
 */
export class ClnInvoicer implements Invoicer {
  readonly #rest: ClnRest;
  readonly #clock: Clock;
  readonly #core: FeedInvoicerCore;
  readonly #waitSeconds: number;
  readonly #labelPrefix: string;
  readonly #callTimeoutMs: number;
  #lastPayIndex: number | undefined;

  private constructor(options: ClnInvoicerOptions) {
    this.#rest = new ClnRest(options, 'invoice');
    this.#clock = options.clock ?? systemClock;
    this.#waitSeconds = options.waitTimeoutSeconds ?? 60;
    this.#labelPrefix = options.labelPrefix ?? 'aperture-';
    this.#callTimeoutMs = options.timeoutMs ?? 30_000;
    this.#lastPayIndex = options.lastPayIndex;
    this.#core = new FeedInvoicerCore(options, {
      backend: 'Core Lightning',
      name: `Core Lightning at ${this.#rest.url}`,
      clock: this.#clock,
      open: () => this.#openStream(),
      lookup: (hash) => this.lookupInvoice(hash),
      closeTransport: () => this.#rest.close(),
    });
  }

  /**
   * Connects: checks that the node answers the rune and starts following settlements.
   * @param options - URL, rune, CA, resume point
   * @returns the invoicer
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE` when clnrest cannot be reached; `L402_ERR_LN_AUTH_REFUSED`
   *   when the rune is refused; `L402_ERR_LN_BAD_RESPONSE` for a malformed answer; `L402_ERR_LN_INVALID_REQUEST`
   *   for bad options
   */
  static async connect(options: ClnInvoicerOptions): Promise<ClnInvoicer> {
    if (options.lastPayIndex !== undefined && (!Number.isSafeInteger(options.lastPayIndex) || options.lastPayIndex < 0)) {
      throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', 'lastPayIndex must be a whole number ≥ 0', { status: 400 });
    }
    if (
      options.waitTimeoutSeconds !== undefined &&
      (!Number.isSafeInteger(options.waitTimeoutSeconds) || options.waitTimeoutSeconds <= 0)
    ) {
      throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', 'waitTimeoutSeconds must be a positive whole number', { status: 400 });
    }
    const invoicer = new ClnInvoicer(options);
    await invoicer.#core.connect();
    return invoicer;
  }

  /** The highest `pay_index` delivered (save it to resume with `lastPayIndex`). */
  get lastPayIndex(): number {
    return this.#lastPayIndex ?? 0;
  }

  /**
   * Creates an invoice (`invoice` with `amount_msat`, a unique `label`, `description`, `expiry`).
   * @param request - amount (0: any amount), memo, expiry (CLN's default, 7 days, when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400); `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`,
   *   `L402_ERR_LN_RPC_FAILED`, `L402_ERR_LN_BAD_RESPONSE` (503)
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#core.assertOpen();
    const label = `${this.#labelPrefix}${this.#clock.now()}-${randomBytes(8).toString('hex')}`;
    const result = await this.#call('invoice', {
      amount_msat: request.amountSats === 0 ? 'any' : request.amountSats * 1000,
      label,
      description: request.memo ?? '',
      ...(request.expirySeconds !== undefined ? { expiry: request.expirySeconds } : {}),
    });
    const bolt11 = result['bolt11'];
    const hash = result['payment_hash'];
    if (typeof bolt11 !== 'string' || !isHex32(hash)) throw badResponse('invoice', 'no bolt11 or payment_hash');
    const invoice = returnedInvoice(bolt11, hash, request.amountSats, (detail) => badResponse('invoice', detail));
    this.#core.feed.track(invoice.paymentHash, invoice.expiresAt);
    return invoice;
  }

  /**
   * Looks an invoice up (`listinvoices` by `payment_hash`).
   * @param paymentHash - 64 hex characters
   * @returns its status (`expired` is reported as `canceled`)
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400), `L402_ERR_LN_INVOICE_NOT_FOUND` (404); 503 codes as createInvoice
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#core.assertOpen();
    const result = await this.#call('listinvoices', { payment_hash: hash });
    const list = result['invoices'];
    if (!Array.isArray(list)) throw badResponse('listinvoices', 'no invoices array');
    const found = (list as unknown[]).find(
      (i) => typeof i === 'object' && i !== null && String((i as Record<string, unknown>)['payment_hash']).toLowerCase() === hash,
    );
    if (found === undefined)
      throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `Core Lightning has no invoice with payment hash ${hash}`, { status: 404 });
    const status = toStatus(found as Record<string, unknown>, 'listinvoices');
    if (status.state === 'settled') this.#core.feed.deliver(status);
    return status;
  }

  /**
   * One page of the node's invoices in creation order, for strict verification
   * (`listinvoices` with `index: "created"`, CLN ≥ 23.08).
   * @param indexOffset - the last `created_index` of the previous page (0 first)
   * @param max - invoices per page
   * @returns the settled hashes of the page and where the next one starts
   * @throws InvoiceError as {@link ClnInvoicer.lookupInvoice}
   */
  async listInvoices(indexOffset: bigint, max: number): Promise<InvoicePage> {
    this.#core.assertOpen();
    const result = await this.#call('listinvoices', { index: 'created', start: Number(indexOffset) + 1, limit: max });
    const list = result['invoices'];
    if (!Array.isArray(list)) throw badResponse('listinvoices', 'no invoices array');
    const settledHashes: string[] = [];
    let next = indexOffset;
    for (const item of list as Record<string, unknown>[]) {
      const status = toStatus(item, 'listinvoices');
      if (status.state === 'settled') settledHashes.push(status.paymentHash);
      const created = toBigInt(item['created_index']);
      if (created !== undefined && created > next) next = created;
    }
    return { settledHashes, count: list.length, nextOffset: next };
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
   * Health of the settlement long-poll.
   * @returns ok while the node answers
   */
  health(): BackendHealth {
    return this.#core.health();
  }

  /** Stops the long-poll and closes the connections. */
  close(): Promise<void> {
    return this.#core.close();
  }

  async #call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await this.#rest.call(method, params);
    if ('error' in answer) {
      throw new InvoiceError(
        'L402_ERR_LN_RPC_FAILED',
        `Core Lightning refused ${method}: ${answer.error.message}${answer.error.code !== undefined ? ` (code ${answer.error.code})` : ''}`,
      );
    }
    return answer.result;
  }

  /**
   * Opens the settlement stream: finds the resume point (the highest
   * `pay_index` when none is known yet), then drains what was paid since with
   * `waitanyinvoice` and `timeout: 0` — which also proves the node answers the
   * rune — and long-polls in the background.
   */
  async #openStream(): Promise<FeedStream> {
    if (this.#lastPayIndex === undefined) this.#lastPayIndex = await this.#highestPayIndex();
    while ((await this.#waitOnce(0, undefined)) === 'settled');
    const controller = new AbortController();
    const ended = (async (): Promise<unknown> => {
      try {
        for (;;) {
          if (controller.signal.aborted) return 'closed';
          await this.#waitOnce(this.#waitSeconds, controller.signal);
        }
      } catch (error) {
        return error;
      }
    })();
    return { ended, close: () => controller.abort() };
  }

  /** One `waitanyinvoice`; `settled` when it delivered one, `timeout` when nothing was paid. */
  async #waitOnce(timeoutSeconds: number, signal: AbortSignal | undefined): Promise<'settled' | 'timeout'> {
    const answer = await this.#rest.call(
      'waitanyinvoice',
      { lastpay_index: this.#lastPayIndex ?? 0, timeout: timeoutSeconds },
      { timeoutMs: timeoutSeconds * 1000 + this.#callTimeoutMs, ...(signal !== undefined ? { signal } : {}) },
    );
    if ('error' in answer) {
      if (answer.error.code === WAIT_TIMED_OUT) return 'timeout';
      throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `Core Lightning refused waitanyinvoice: ${answer.error.message}`);
    }
    const status = toStatus(answer.result, 'waitanyinvoice');
    const payIndex = toBigInt(answer.result['pay_index']);
    if (payIndex === undefined || status.state !== 'settled') throw badResponse('waitanyinvoice', 'a paid invoice without pay_index');
    this.#lastPayIndex = Math.max(this.#lastPayIndex ?? 0, Number(payIndex));
    this.#core.feed.deliver(status);
    return 'settled';
  }

  /** The highest `pay_index` of the node, scanning `listinvoices` page by page. */
  async #highestPayIndex(): Promise<number> {
    let highest = 0;
    let start = 0;
    for (;;) {
      const result = await this.#call('listinvoices', { index: 'created', start, limit: PAGE });
      const list = result['invoices'];
      if (!Array.isArray(list)) throw badResponse('listinvoices', 'no invoices array');
      for (const item of list as Record<string, unknown>[]) {
        const payIndex = toBigInt(item['pay_index']);
        if (payIndex !== undefined && Number(payIndex) > highest) highest = Number(payIndex);
        const created = toBigInt(item['created_index']);
        if (created !== undefined && Number(created) >= start) start = Number(created) + 1;
      }
      if (list.length < PAGE) return highest;
    }
  }
}

function badResponse(method: string, what: string): InvoiceError {
  return new InvoiceError('L402_ERR_LN_BAD_RESPONSE', `Core Lightning answered ${method} with ${what}`);
}

/** A `listinvoices` entry as an {@link InvoiceStatus}; msat truncated to sat as lnd reports `amt_paid_sat`. */
function toStatus(item: Record<string, unknown>, method: string): InvoiceStatus {
  const hash = item['payment_hash'];
  if (!isHex32(hash)) throw badResponse(method, 'an invoice without a payment_hash');
  const paymentHash = hash.toLowerCase();
  switch (item['status']) {
    case 'paid': {
      const received = toBigInt(item['amount_received_msat']);
      const paidAt = toBigInt(item['paid_at']);
      if (received === undefined) throw badResponse(method, 'a paid invoice without amount_received_msat');
      return {
        paymentHash,
        state: 'settled',
        amountPaidSats: Number(received / 1000n),
        settledAt: paidAt === undefined ? 0 : Number(paidAt) * 1000,
      };
    }
    case 'unpaid':
      return { paymentHash, state: 'open' };
    case 'expired':
      return { paymentHash, state: 'canceled' };
    default:
      throw badResponse(method, `an invoice of unknown status ${JSON.stringify(item['status'])}`);
  }
}
