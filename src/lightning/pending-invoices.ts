/**
 * The invoices a backend created and has not yet seen settled (payment hash →
 * expiry), remembered to look them up after a lost settlement stream, within a
 * bound: unpaid invoices pile up while the stream stays open (nothing
 * reconciles them), so past the bound the expired ones are forgotten first,
 * then the oldest, down to 90 % so that the scan is rare. A forgotten invoice's
 * settlement still arrives on the stream; only a lookup after an outage is lost.
 * @internal
 */

/** Pending invoices remembered by default. */
export const DEFAULT_PENDING_LIMIT = 100_000;

/**
 * A bounded map of pending invoices, oldest first.
 * @internal
 */
export class PendingInvoices {
  readonly #limit: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, number>();

  /**
   * @param now - the clock (ms since the epoch)
   * @param limit - most invoices remembered (a positive integer, checked by the caller); {@link DEFAULT_PENDING_LIMIT} by default
   */
  constructor(now: () => number, limit = DEFAULT_PENDING_LIMIT) {
    this.#now = now;
    this.#limit = limit;
  }

  /**
   * Remembers an invoice.
   * @param paymentHash - lower-case hex
   * @param expiresAt - ms since the epoch
   */
  add(paymentHash: string, expiresAt: number): void {
    if (this.#entries.size >= this.#limit) {
      const now = this.#now();
      for (const [hash, expiry] of this.#entries) {
        if (expiry < now) this.#entries.delete(hash);
      }
      while (this.#entries.size >= this.#limit * 0.9) {
        const oldest = this.#entries.keys().next().value;
        if (oldest === undefined) break;
        this.#entries.delete(oldest);
      }
    }
    this.#entries.set(paymentHash, expiresAt);
  }

  /** Forgets an invoice (settled, canceled or unknown). */
  delete(paymentHash: string): void {
    this.#entries.delete(paymentHash);
  }

  /** A copy of the entries (hash, expiry), oldest first, safe to iterate while deleting. */
  snapshot(): [string, number][] {
    return [...this.#entries];
  }

  /** How many are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}
