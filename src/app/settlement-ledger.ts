/**
 * The program's settlement ledger: records every settlement the Lightning
 * backend reports (retrying while the store cannot write), reconciles the
 * challenges paid while the program was down, and garbage-collects unpaid,
 * expired challenges on a timer; with a backend that reports no settlement
 * (`tracksSettlement: false`, Wavelength) it does none of these.
 */
import type { Logger } from 'pino';
import { BoundedCache } from '../core/bounded-cache.js';
import type { Clock, InvoiceStatus, Invoicer } from '../core/types.js';
import type { ApertureStore, GarbageReport, PendingCursor } from '../store/aperture-store.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';

/** Default garbage-collection interval: 15 minutes. */
export const DEFAULT_GC_INTERVAL_MS = 15 * 60_000;
/** Default grace after invoice expiry before an unpaid challenge is collected: 1 hour. */
export const DEFAULT_GC_GRACE_MS = 60 * 60_000;
/** First delay before a settlement the store could not record is written again; doubles per attempt. */
const SETTLEMENT_RETRY_INITIAL_MS = 250;
/** Longest delay between attempts to record a settlement. */
const SETTLEMENT_RETRY_MAX_MS = 30_000;
/** Pending ledger rows read per page by the start-up reconciliation (it reads every page). */
const PENDING_PAGE_SIZE = 1000;

/** Options of {@link SettlementLedger}. */
export interface SettlementLedgerOptions {
  /** The ledger. */
  store: ApertureStore;
  /** The Lightning backend; without one there is nothing to record or reconcile (GC still runs). */
  invoicer: Invoicer | undefined;
  /** `tokens paid` is counted here. */
  metrics: ProxyMetrics;
  /** Settlement and GC times. */
  clock: Clock;
  /** Settlements and reconciliation (`CHLL`). */
  lnLog: Logger;
  /** Garbage collection (`APER`). */
  logger: Logger;
  /** How long past its invoice expiry an unpaid challenge is kept. */
  gcGraceMs: number;
  /** How often garbage is collected; 0 = never. */
  gcIntervalMs: number;
}

/**
 * Settlements, reconciliation and garbage collection of the ledger.
 * {@link SettlementLedger.start} subscribes and starts the timer;
 * {@link SettlementLedger.close} stops both and waits for writes in flight.
 */
export class SettlementLedger {
  readonly #o: SettlementLedgerOptions;
  /** Which service a payment hash was challenged for, for the `tokens paid` label. */
  readonly #serviceOfHash = new BoundedCache<string, string>(100_000);
  /** Settlement writes in flight, by payment hash. */
  readonly #settling = new Map<string, Promise<void>>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #stopSettled: (() => void) | undefined;
  #gcTimer: NodeJS.Timeout | undefined;
  #reconciled: Promise<number> | undefined;

  /** @param options - store, backend, metrics, logs, GC settings */
  constructor(options: SettlementLedgerOptions) {
    this.#o = options;
  }

  /**
   * Remembers the service a challenge was minted for.
   * @param paymentHash - the invoice's payment hash
   * @param service - the service name
   */
  noteChallenge(paymentHash: string, service: string): void {
    this.#serviceOfHash.set(paymentHash, service);
  }

  /**
   * Waits until a settlement being written for a payment hash is in the ledger
   * (or has failed); resolves at once when none is.
   * @param paymentHash - the payment hash
   */
  async settled(paymentHash: string): Promise<void> {
    await this.#settling.get(paymentHash);
  }

  /**
   * Subscribes to the backend's settlements, starts the reconciliation of
   * pending rows and the GC timer.
   * @returns resolves with the number of pending rows found settled
   */
  start(): Promise<number> {
    const { invoicer, clock, gcIntervalMs } = this.#o;
    if (invoicer?.tracksSettlement === false) {
      // A backend that reports no settlement (Wavelength): a pending row may be a paid token, so neither
      // reconciliation (nothing to ask) nor garbage collection (it would take the root key of a paid token).
      this.#o.lnLog.info(
        'the Lightning backend reports no settlement: challenges stay pending in the ledger and are never garbage-collected',
      );
      this.#reconciled = Promise.resolve(0);
      return this.#reconciled;
    }
    if (invoicer !== undefined) {
      this.#stopSettled = invoicer.onSettled((status: InvoiceStatus) => {
        if (status.state !== 'settled') return;
        this.#record(status.paymentHash, status.settledAt ?? clock.now(), status.amountPaidSats ?? 0, 0);
      });
    }
    this.#reconciled = this.#reconcile();
    if (gcIntervalMs > 0) {
      this.#gcTimer = setInterval(() => {
        this.collectGarbage().catch((error: unknown) => this.#o.logger.warn({ err: error }, 'garbage collection failed'));
      }, gcIntervalMs);
      this.#gcTimer.unref();
    }
    return this.#reconciled;
  }

  /**
   * Runs one garbage collection now (none with a backend that reports no settlement: a pending row may be a
   * paid token; MPP charges are pruned by the Payment scheme's own timer).
   * @returns what was removed
   */
  async collectGarbage(): Promise<GarbageReport> {
    if (this.#o.invoicer?.tracksSettlement === false) return { rootKeys: 0, transactions: 0, charges: 0 };
    const report = await this.#o.store.collectGarbage(this.#o.clock.now(), this.#o.gcGraceMs);
    if (report.rootKeys + report.transactions + report.charges > 0) this.#o.logger.info(report, 'garbage collected');
    return report;
  }

  /**
   * Stops recording and the timer; waits for the reconciliation and for the
   * writes in flight. Settlements still waiting for a retry are reconciled at
   * the next start.
   */
  async close(): Promise<void> {
    await this.#reconciled;
    this.#stopped = true;
    this.#stopSettled?.();
    clearInterval(this.#gcTimer);
    if (this.#retryTimers.size > 0)
      this.#o.lnLog.warn({ unrecorded: this.#retryTimers.size }, 'settlements not yet recorded are reconciled at the next start');
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    await Promise.allSettled([...this.#settling.values()]);
  }

  /**
   * Writes a settlement. A write the store refuses (database down) is retried
   * with backoff while the process runs: left pending, its row would be
   * garbage-collected (root key and all) once the invoice expired, and a paid
   * token would stop working.
   */
  #record(hash: string, settledAt: number, amountSats: number, attempt: number): void {
    const { store, metrics, lnLog } = this.#o;
    const write = store
      .markSettled(hash, settledAt, amountSats)
      .then(
        (changed) => {
          if (changed) metrics.tokensPaid.inc({ service: this.#serviceOfHash.get(hash) ?? 'unknown' });
          lnLog.info({ paymentHash: hash, attempt }, 'invoice settled');
        },
        (error: unknown) => {
          if (this.#stopped) {
            lnLog.error({ err: error, paymentHash: hash }, 'could not record a settlement; it is reconciled at the next start');
            return;
          }
          const delayMs = Math.min(SETTLEMENT_RETRY_INITIAL_MS * 2 ** attempt, SETTLEMENT_RETRY_MAX_MS);
          lnLog.warn({ err: error, paymentHash: hash, attempt, retryInMs: delayMs }, 'could not record a settlement; retrying');
          const timer = setTimeout(() => {
            this.#retryTimers.delete(timer);
            if (!this.#stopped) this.#record(hash, settledAt, amountSats, attempt + 1);
          }, delayMs);
          timer.unref();
          this.#retryTimers.add(timer);
        },
      )
      .finally(() => {
        if (this.#settling.get(hash) === write) this.#settling.delete(hash);
      });
    this.#settling.set(hash, write);
  }

  /** Challenges paid while the program was down: asks the backend about every pending, unexpired row. */
  async #reconcile(): Promise<number> {
    const { invoicer, store, clock, metrics, lnLog, gcGraceMs } = this.#o;
    if (invoicer === undefined) return 0;
    let found = 0;
    try {
      // Rows whose invoice expired less than the GC grace ago are still in the ledger and may
      // have been paid just before expiry, while aperture was down: look them up too, or
      // garbage collection would take the root key of a paid token.
      const since = clock.now() - gcGraceMs;
      let pending = 0;
      let after: PendingCursor | undefined;
      for (;;) {
        const page = await store.listPendingUnexpired(since, PENDING_PAGE_SIZE, after);
        const last = page[page.length - 1];
        if (last === undefined) break;
        pending += page.length;
        after = { createdAt: last.createdAt, tokenId: last.tokenId };
        for (const row of page) {
          // Settlements of these rows may also arrive through onSettled (after a restart the
          // challenge-time mapping is empty): label them with the row's service, not 'unknown'.
          this.#serviceOfHash.set(row.paymentHash, row.service);
          try {
            const status = await invoicer.lookupInvoice(row.paymentHash);
            if (status.state !== 'settled') continue;
            // A backend may report a looked-up settlement through onSettled too (LndInvoicer does),
            // whose write then wins the row and counts the payment: wait for it, count the row once.
            await this.#settling.get(row.paymentHash);
            if (await store.markSettled(row.paymentHash, status.settledAt ?? clock.now(), status.amountPaidSats ?? row.priceSats)) {
              metrics.tokensPaid.inc({ service: row.service });
            }
            found++;
          } catch {
            // Unknown to the backend (e.g. the dev backend after a restart) or not reachable: left pending.
          }
        }
        if (page.length < PENDING_PAGE_SIZE) break;
      }
      if (pending > 0) lnLog.info({ pending, settled: found }, 'reconciled pending challenges');
    } catch (error) {
      lnLog.warn({ err: error }, 'could not reconcile pending challenges');
    }
    return found;
  }
}
