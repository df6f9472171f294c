/**
 * What the invoicers whose settlements come from a {@link SettlementFeed}
 * (Core Lightning, LNbits, phoenixd, Nostr Wallet Connect) do alike:
 * connecting (the invoicer closed again when that fails), settlement
 * listeners, health, closing (the feed first, then the transport) and
 * refusing calls once closed.
 *
 * The invoicers hold one and delegate to it rather than extend it, so that it
 * stays out of their public types.
 * @internal
 */
import { InvoiceError } from '../core/errors.js';
import type { BackendHealth, InvoiceStatus } from '../core/types.js';
import type { BackoffOptions } from './backoff.js';
import { SettlementFeed, type SettlementFeedOptions } from './settlement-feed.js';

/** Options of {@link FeedInvoicerCore}: those of its feed, plus the backend's name and transport. */
export interface FeedInvoicerCoreOptions extends Omit<SettlementFeedOptions, 'backoff' | 'onHealthChange'> {
  /** Backend name for the closed-invoicer error, e.g. `LNbits` (`the LNbits invoicer is closed`). */
  backend: string;
  /** Closes the transport (HTTP connections, relay connection), after the feed. */
  closeTransport: () => void | Promise<void>;
}

/** The invoicer's own options the feed takes over. */
export interface FeedInvoicerSettings {
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /** Called when health changes. */
  onHealthChange?: (health: BackendHealth) => void;
}

/** Steps of {@link FeedInvoicerCore.connect} around opening the feed. */
export interface FeedInvoicerConnectSteps {
  /** Runs before the feed is opened (e.g. checking the credentials). */
  before?: () => Promise<unknown>;
  /** Runs once the feed is open (e.g. a probe that needs the connection). */
  after?: () => Promise<unknown>;
}

/**
 * The settlement side of an invoicer fed by a {@link SettlementFeed}.
 * @internal
 */
export class FeedInvoicerCore {
  /** The feed: track invoices created here and deliver settlements through it. */
  readonly feed: SettlementFeed;
  readonly #backend: string;
  readonly #closeTransport: () => void | Promise<void>;

  /**
   * @param settings - the invoicer's options (backoff, health listener)
   * @param options - the feed's name, clock, stream and lookup; the backend's name and transport
   */
  constructor(settings: FeedInvoicerSettings, options: FeedInvoicerCoreOptions) {
    const { backend, closeTransport, ...feed } = options;
    this.#backend = backend;
    this.#closeTransport = closeTransport;
    this.feed = new SettlementFeed({
      ...feed,
      ...(settings.backoff !== undefined ? { backoff: settings.backoff } : {}),
      ...(settings.onHealthChange !== undefined ? { onHealthChange: settings.onHealthChange } : {}),
    });
  }

  /**
   * Runs `before`, opens the feed, runs `after`; closes everything when one of them fails.
   * @param steps - what to run before and after opening the feed
   * @throws what the failed step threw
   */
  async connect(steps: FeedInvoicerConnectSteps = {}): Promise<void> {
    try {
      await steps.before?.();
      await this.feed.start();
      await steps.after?.();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Registers a settlement listener; each settlement is delivered once.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.feed.onSettled(listener);
  }

  /** Health of the feed's stream: ok while it is open. */
  health(): BackendHealth {
    return this.feed.health();
  }

  /** Closes the feed, then the transport. */
  async close(): Promise<void> {
    this.feed.close();
    await this.#closeTransport();
  }

  /**
   * Refuses a call once the invoicer is closed.
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE` naming the backend
   */
  assertOpen(): void {
    if (this.feed.closed) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `the ${this.#backend} invoicer is closed`);
  }
}
