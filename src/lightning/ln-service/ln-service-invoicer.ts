/**
 * Invoicer over an `lnd` handle of the `lightning` / `ln-service` packages, for
 * applications that already hold one.
 */
import type { EventEmitter } from 'node:events';
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
import { Backoff } from '../backoff.js';
import { decodeInvoice } from '../decode-invoice.js';
import { SettlementListeners } from '../settlement-listeners.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';
import { describeLnServiceError, importLnServiceFunctions, type LnServiceFunctions, type LnServiceLnd } from './ln-service-functions.js';

/** Options of {@link LnServiceInvoicer.create}. */
export interface LnServiceInvoicerOptions {
  /** `authenticatedLndGrpc(...).lnd`. */
  lnd: LnServiceLnd;
  /** The package's functions; `import('lightning')` (or `ln-service`) when absent. */
  functions?: LnServiceFunctions;
  /** Delay before the package restarts a broken invoice subscription, ms; 1000 by default. */
  restartDelayMs?: number;
  /** Time source. */
  clock?: Clock;
}

interface InvoiceEvent {
  id: string;
  is_confirmed: boolean;
  received: number;
  confirmed_at?: string;
}

/**
 * {@link Invoicer} that calls `createInvoice`, `getInvoice` and
 * `subscribeToInvoices` of the `lightning` / `ln-service` package.
 *
 * The package's subscription restarts itself after an error. Health turns
 * not-ok on a subscription error or an unreachable node; while down, the
 * invoices created here that are still pending are looked up with exponential
 * backoff, which both detects recovery and delivers settlements missed
 * meanwhile. Any other successful call or event also marks it ok again.
 */
export class LnServiceInvoicer implements Invoicer {
  readonly #lnd: LnServiceLnd;
  readonly #fns: LnServiceFunctions;
  readonly #clock: Clock;
  readonly #listeners = new SettlementListeners();
  readonly #delivered = new Set<string>();
  readonly #subscription: EventEmitter;
  /** Invoices created here and not yet seen settled: payment hash → expiry (ms). */
  readonly #pending = new Map<string, number>();
  readonly #backoff = new Backoff({ initialMs: 250, maxMs: 30_000 });
  readonly #onUpdate = (event: InvoiceEvent): void => {
    this.#markOk();
    if (event.is_confirmed) this.#deliver(toSettled(event));
  };
  readonly #onError = (error: unknown): void => {
    if (!this.#closed) this.#markDown(describeLnServiceError(error).message);
  };
  #probeTimer: NodeJS.Timeout | undefined;
  #health: BackendHealth;
  #closed = false;

  private constructor(options: LnServiceInvoicerOptions, fns: LnServiceFunctions) {
    this.#lnd = options.lnd;
    this.#fns = fns;
    this.#clock = options.clock ?? systemClock;
    this.#health = { ok: true, detail: 'ln-service adapter', since: this.#clock.now() };
    this.#subscription = fns.subscribeToInvoices({ lnd: this.#lnd, restart_delay_ms: options.restartDelayMs ?? 1000 });
    this.#subscription.on('invoice_updated', this.#onUpdate);
    this.#subscription.on('error', this.#onError);
  }

  /**
   * Creates the adapter and starts following settlements.
   * @param options - the lnd handle and, optionally, the package's functions
   * @returns the invoicer
   * @throws L402Error `L402_ERR_LN_SERVICE_MISSING` when no functions are given and the package is not installed
   */
  static async create(options: LnServiceInvoicerOptions): Promise<LnServiceInvoicer> {
    return new LnServiceInvoicer(options, options.functions ?? (await importLnServiceFunctions()));
  }

  /**
   * Creates an invoice (`createInvoice`).
   * @param request - amount, memo, expiry (the package's default, 24 h, when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400); `L402_ERR_LN_UNAVAILABLE` (503) when the node fails
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#assertOpen();
    const created = await this.#call(() =>
      this.#fns.createInvoice({
        lnd: this.#lnd,
        tokens: request.amountSats,
        ...(request.memo !== undefined ? { description: request.memo } : {}),
        ...(request.expirySeconds !== undefined
          ? { expires_at: new Date(this.#clock.now() + request.expirySeconds * 1000).toISOString() }
          : {}),
      }),
    );
    const decoded = decodeInvoice(created.request);
    this.#pending.set(created.id, decoded.expiresAt);
    return { paymentRequest: created.request, paymentHash: created.id, amountSats: request.amountSats, expiresAt: decoded.expiresAt };
  }

  /**
   * Looks an invoice up (`getInvoice`).
   * @param paymentHash - 64 hex characters
   * @returns its status
   * @throws InvoiceError `L402_ERR_LN_INVOICE_NOT_FOUND` (404); `L402_ERR_LN_UNAVAILABLE` (503)
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#assertOpen();
    const invoice = await this.#call(() => this.#fns.getInvoice({ lnd: this.#lnd, id: hash }));
    if (invoice.is_confirmed) {
      const status = toSettled(invoice);
      this.#deliver(status);
      return status;
    }
    return { paymentHash: hash, state: invoice.is_canceled === true ? 'canceled' : invoice.is_held === true ? 'accepted' : 'open' };
  }

  /**
   * Registers a settlement listener; each settlement is delivered once.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Health as last observed.
   * @returns not-ok after a subscription error or failed call, until the next success
   */
  health(): BackendHealth {
    return this.#health;
  }

  /** Stops the subscription (the lnd handle stays the caller's). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer !== undefined) clearTimeout(this.#probeTimer);
    // Removing our listeners ends the package's subscription.
    this.#subscription.removeListener('invoice_updated', this.#onUpdate);
    this.#subscription.removeListener('error', this.#onError);
    this.#listeners.clear();
    this.#health = { ok: false, detail: 'closed', since: this.#clock.now() };
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'the ln-service invoicer is closed');
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.#markOk();
      return result;
    } catch (error) {
      const { status, grpcCode, message } = describeLnServiceError(error);
      if (/unable to locate invoice|no existing invoices|InvoiceNotFound/i.test(message)) {
        throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `lnd does not know that invoice: ${message}`, {
          status: 404,
          cause: error,
        });
      }
      if (status === 400) throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', message, { status: 400, cause: error });
      // gRPC UNAVAILABLE (14) or DEADLINE_EXCEEDED (4): the node is unreachable, not refusing.
      if (grpcCode === 14 || grpcCode === 4) this.#markDown(message);
      throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `lnd (through ln-service) failed: ${message}`, { cause: error });
    }
  }

  #deliver(status: InvoiceStatus): void {
    this.#pending.delete(status.paymentHash);
    if (this.#delivered.has(status.paymentHash)) return;
    this.#delivered.add(status.paymentHash);
    if (this.#delivered.size > 10_000) {
      const oldest = this.#delivered.values().next().value;
      if (oldest !== undefined) this.#delivered.delete(oldest);
    }
    this.#listeners.emit(status);
  }

  #markOk(): void {
    if (this.#health.ok || this.#closed) return;
    this.#health = { ok: true, detail: 'ln-service adapter', since: this.#clock.now() };
    this.#backoff.reset();
  }

  #markDown(detail: string): void {
    if (!this.#health.ok) return;
    this.#health = { ok: false, detail, since: this.#clock.now() };
    this.#scheduleProbe();
  }

  /**
   * While down, look up the pending invoices with backoff: the first answer
   * means the node is back, and any of them paid meanwhile is delivered (the
   * package's own subscription restart may not replay them).
   */
  #scheduleProbe(): void {
    if (this.#closed || this.#probeTimer !== undefined) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined;
      void this.#probe();
    }, this.#backoff.next());
    this.#probeTimer.unref();
  }

  async #probe(): Promise<void> {
    for (const [hash, expiresAt] of [...this.#pending]) {
      if (this.#closed) return;
      try {
        const invoice = await this.#fns.getInvoice({ lnd: this.#lnd, id: hash });
        this.#markOk();
        if (invoice.is_confirmed) this.#deliver(toSettled(invoice));
        else if (invoice.is_canceled === true || expiresAt < this.#clock.now()) this.#pending.delete(hash);
      } catch (error) {
        const { grpcCode } = describeLnServiceError(error);
        if (grpcCode === 14 || grpcCode === 4) break;
        this.#pending.delete(hash);
      }
    }
    if (!this.#health.ok) this.#scheduleProbe();
  }
}

function toSettled(event: InvoiceEvent): InvoiceStatus {
  return {
    paymentHash: event.id,
    state: 'settled',
    amountPaidSats: event.received,
    settledAt: event.confirmed_at !== undefined ? Date.parse(event.confirmed_at) : 0,
  };
}
