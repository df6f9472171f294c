/**
 * The settlement side shared by the HTTP backends (Core Lightning, LNbits,
 * phoenixd): keeps one settlement stream (a long-poll loop or a WebSocket)
 * open, reconnects it with backoff, reports health, delivers each settlement
 * once, and after every reconnect looks up the invoices created here that are
 * still pending, so that a payment made while the stream was down is not lost.
 * @internal
 */
import type { BackendHealth, Clock, InvoiceStatus } from '../core/types.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { PendingInvoices } from './pending-invoices.js';
import { SettlementListeners } from './settlement-listeners.js';

/** An open settlement stream. */
export interface FeedStream {
  /** Settles (never rejects) with the reason when the stream ends. */
  readonly ended: Promise<unknown>;
  /** Ends the stream. */
  close(): void;
}

/** Options of {@link SettlementFeed}. */
export interface SettlementFeedOptions {
  /** Backend name for health details, e.g. `Core Lightning at https://…`. */
  name: string;
  /** Time source. */
  clock: Clock;
  /** Opens the stream; resolves once it is open, rejects when it cannot be opened. */
  open: (feed: SettlementFeed) => Promise<FeedStream>;
  /** Looks an invoice up, for reconciliation; rejects when the backend is unreachable or does not know it. */
  lookup: (paymentHash: string) => Promise<InvoiceStatus>;
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /** Called when health changes. */
  onHealthChange?: (health: BackendHealth) => void;
}

/** Payment hashes remembered as delivered, to deliver each settlement once. */
const DELIVERED_MEMORY = 10_000;

/**
 * One reconnecting settlement stream with its listeners.
 * @internal
 */
export class SettlementFeed {
  readonly #options: SettlementFeedOptions;
  readonly #listeners = new SettlementListeners();
  readonly #delivered = new Set<string>();
  /** Invoices created here and not yet seen settled, within a bound. */
  readonly #pending: PendingInvoices;
  readonly #backoff: Backoff;
  #health: BackendHealth;
  #stream: FeedStream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #disconnectedAt = 0;
  #firstOpen: Promise<void> | undefined;
  readonly #reconcileBackoff: Backoff;
  #reconcileTimer: NodeJS.Timeout | undefined;

  /**
   * @param options - name, clock, how to open the stream and look invoices up
   */
  constructor(options: SettlementFeedOptions) {
    this.#options = options;
    this.#pending = new PendingInvoices(() => options.clock.now());
    this.#backoff = new Backoff(options.backoff);
    this.#reconcileBackoff = new Backoff(options.backoff);
    this.#health = { ok: false, detail: `connecting to ${options.name}`, since: options.clock.now() };
  }

  /**
   * Opens the stream for the first time.
   * @returns resolves once open
   * @throws what `open` threw; the feed then keeps retrying in the background until closed
   */
  start(): Promise<void> {
    this.#firstOpen ??= this.#connect(true);
    return this.#firstOpen;
  }

  /** Current health: ok while the stream is open. */
  health(): BackendHealth {
    return this.#health;
  }

  /** Whether {@link SettlementFeed.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Remembers an invoice created here, to look it up after a reconnect.
   * @param paymentHash - lower-case hex
   * @param expiresAt - ms since the epoch
   */
  track(paymentHash: string, expiresAt: number): void {
    this.#pending.add(paymentHash, expiresAt);
  }

  /** Invoices tracked as pending (for tests and metrics). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Delivers a settlement (once per payment hash).
   * @param status - a settled invoice
   */
  deliver(status: InvoiceStatus): void {
    if (status.state !== 'settled') return;
    this.#pending.delete(status.paymentHash);
    if (this.#delivered.has(status.paymentHash)) return;
    this.#delivered.add(status.paymentHash);
    if (this.#delivered.size > DELIVERED_MEMORY) {
      const oldest = this.#delivered.values().next().value;
      if (oldest !== undefined) this.#delivered.delete(oldest);
    }
    this.#listeners.emit(status);
  }

  /**
   * Adds a settlement listener.
   * @param listener - called with each settlement
   * @returns its remover
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Ends the stream and stops reconnecting. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#reconcileTimer !== undefined) clearTimeout(this.#reconcileTimer);
    this.#reconcileTimer = undefined;
    this.#stream?.close();
    this.#stream = undefined;
    this.#listeners.clear();
    this.#setHealth({ ok: false, detail: 'closed', since: this.#options.clock.now() });
  }

  async #connect(first: boolean): Promise<void> {
    if (this.#closed) return;
    let stream: FeedStream;
    try {
      stream = await this.#options.open(this);
    } catch (error) {
      if (this.#closed) return;
      const detail = `cannot reach ${this.#options.name}: ${(error as Error).message ?? String(error)}`;
      if (this.#health.ok || first) this.#setHealth({ ok: false, detail, since: this.#options.clock.now() });
      else this.#health = { ok: false, detail, since: this.#health.since };
      this.#schedule();
      if (first) throw error;
      return;
    }
    if (this.#closed) {
      stream.close();
      return;
    }
    this.#stream = stream;
    this.#backoff.reset();
    this.#setHealth({ ok: true, detail: `connected to ${this.#options.name}`, since: this.#options.clock.now() });
    void stream.ended.then((reason) => {
      if (this.#stream !== stream || this.#closed) return;
      this.#stream = undefined;
      this.#disconnectedAt = this.#options.clock.now();
      const why = reason instanceof Error ? reason.message : String(reason);
      this.#setHealth({ ok: false, detail: `lost ${this.#options.name}: ${why}`, since: this.#options.clock.now() });
      this.#schedule();
    });
    if (!first) await this.#reconcile();
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect(false);
    }, this.#backoff.next());
    // A pending reconnect must not keep an otherwise finished process alive.
    this.#timer.unref();
  }

  /** Looks up every invoice created here that may have been paid while disconnected. */
  async #reconcile(): Promise<void> {
    const cutoff = this.#disconnectedAt;
    for (const [hash, expiresAt] of this.#pending.snapshot()) {
      if (this.#closed || !this.#health.ok) return;
      // Unpaid and expired before the stream was lost: it cannot have been paid since.
      if (expiresAt < cutoff) {
        this.#pending.delete(hash);
        continue;
      }
      try {
        const status = await this.#options.lookup(hash);
        if (status.state === 'settled') this.deliver(status);
        else if (status.state === 'canceled') this.#pending.delete(hash);
      } catch (error) {
        // Unreachable or unanswered: try again later (the next reconnect, or a retry while
        // the stream stays up, e.g. a wallet that was not back yet). Otherwise (unknown) forget it.
        if ((error as { code?: string }).code === 'L402_ERR_LN_UNAVAILABLE') {
          this.#scheduleReconcile();
          return;
        }
        this.#pending.delete(hash);
      }
    }
    this.#reconcileBackoff.reset();
  }

  #scheduleReconcile(): void {
    if (this.#closed || this.#reconcileTimer !== undefined) return;
    this.#reconcileTimer = setTimeout(() => {
      this.#reconcileTimer = undefined;
      if (this.#health.ok) void this.#reconcile();
    }, this.#reconcileBackoff.next());
    this.#reconcileTimer.unref();
  }

  #setHealth(health: BackendHealth): void {
    this.#health = health;
    try {
      this.#options.onHealthChange?.(health);
    } catch (error) {
      process.emitWarning(`onHealthChange listener threw: ${String(error)}`, { code: 'APERTURE_LISTENER' });
    }
  }
}
