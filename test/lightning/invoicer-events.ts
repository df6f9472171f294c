/**
 * Waiting on an invoicer's events, for the suites of the remote backends:
 * the next settlement of one invoice, health changes as a queue, and reconnect
 * delays short enough for tests.
 */
import type { BackendHealth, InvoiceStatus, Invoicer } from '../../src/core/types.js';

/** Reconnect delays short enough for tests. */
export const FAST_BACKOFF = { initialMs: 20, maxMs: 100 };

/**
 * The next settlement of one invoice.
 * @param invoicer - the invoicer to listen to
 * @param paymentHash - the invoice's hash
 * @returns resolves with the settlement (the listener removed)
 */
export function nextSettled(invoicer: Pick<Invoicer, 'onSettled'>, paymentHash: string): Promise<InvoiceStatus> {
  return new Promise((resolve) => {
    const off = invoicer.onSettled((status) => {
      if (status.paymentHash !== paymentHash) return;
      off();
      resolve(status);
    });
  });
}

/** Health changes as a queue of promises: pass `onHealthChange` to the invoicer, await `next(ok)`. */
export function healthWatch(): { onHealthChange: (h: BackendHealth) => void; next: (ok: boolean) => Promise<void> } {
  const waiters: Array<{ ok: boolean; resolve: () => void }> = [];
  return {
    onHealthChange: (h) => {
      for (const w of [...waiters])
        if (w.ok === h.ok) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    },
    next: (ok) => new Promise<void>((resolve) => waiters.push({ ok, resolve })),
  };
}
