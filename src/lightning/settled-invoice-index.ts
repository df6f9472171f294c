/**
 * Strict verification (`strictverify`): the set of settled payment hashes, so
 * that a token is accepted only when its invoice is known to be paid, checked
 * synchronously on the hot path.
 */
import type { InvoiceStatus } from '../core/types.js';
import { ConfigError } from '../core/errors.js';

/** One page of a backend's invoices. */
export interface InvoicePage {
  /** Payment hashes (hex) of the settled invoices in the page. */
  settledHashes: string[];
  /** Number of invoices in the page, settled or not; 0 ends the listing. */
  count: number;
  /** Offset to ask for the next page with. */
  nextOffset: bigint;
}

/** What the index loads from and listens to, e.g. an `LndInvoicer`. */
export interface SettledInvoiceSource {
  /** Lists invoices after `indexOffset`, at most `max`. */
  listInvoices(indexOffset: bigint, max: number): Promise<InvoicePage>;
  /** Registers a settlement listener; returns its remover. */
  onSettled(listener: (status: InvoiceStatus) => void): () => void;
}

/** Options of {@link SettledInvoiceIndex.load}. */
export interface SettledInvoiceIndexOptions {
  /** Invoices per ListInvoices call at start-up (`invoicebatchsize`); 100 000 by default. */
  batchSize?: number;
}

/**
 * The settled payment hashes of a Lightning backend, loaded in batches at
 * start-up and kept current from settlements. `isSettled` is synchronous, to
 * plug into the core Verifier's `isSettled` hook.
 *
 * @example
 * ```ts
 * const index = await SettledInvoiceIndex.load(invoicer, { batchSize: config.invoicebatchsize });
 * const verifier = new Verifier({ secrets, isSettled: (hash) => index.isSettled(hash) });
 * ```
 */
export class SettledInvoiceIndex {
  readonly #settled = new Set<string>();
  readonly #unsubscribe: () => void;

  private constructor(source: SettledInvoiceSource) {
    // Listen before listing so that a settlement during the load is not lost.
    this.#unsubscribe = source.onSettled((status) => {
      if (status.state === 'settled') this.#settled.add(status.paymentHash);
    });
  }

  /**
   * Loads every settled invoice of `source`, page by page.
   * @param source - the backend
   * @param options - batch size
   * @returns the loaded index, kept current until {@link SettledInvoiceIndex.close}
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE` when the backend is lost during the load
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when `batchSize` is not a positive integer
   */
  static async load(source: SettledInvoiceSource, options: SettledInvoiceIndexOptions = {}): Promise<SettledInvoiceIndex> {
    const batchSize = options.batchSize ?? 100_000;
    if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
      throw new ConfigError([{ path: 'batchSize', message: `must be a positive integer, got ${String(batchSize)}` }]);
    }
    const index = new SettledInvoiceIndex(source);
    try {
      let offset = 0n;
      for (;;) {
        const page = await source.listInvoices(offset, batchSize);
        for (const hash of page.settledHashes) index.#settled.add(hash);
        if (page.count === 0 || page.nextOffset <= offset) break;
        offset = page.nextOffset;
      }
    } catch (error) {
      index.close();
      throw error;
    }
    return index;
  }

  /**
   * Whether an invoice is known to be settled.
   * @param paymentHash - lower-case hex
   * @returns `true` when it is settled
   */
  isSettled(paymentHash: string): boolean {
    return this.#settled.has(paymentHash.toLowerCase());
  }

  /** Number of settled invoices known. */
  get size(): number {
    return this.#settled.size;
  }

  /** Stops following settlements. */
  close(): void {
    this.#unsubscribe();
  }
}
