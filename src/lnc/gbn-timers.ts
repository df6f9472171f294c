/**
 * The clock and timers of a gbn connection, injectable so that tests run on a
 * fake clock, and a race of a promise against a timeout on them.
 *
 * @internal Not exported from the package.
 */

/** The clock and timers gbn uses; tests pass a fake. */
export interface GbnTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Runs `fn` after `ms`; the handle is given to {@link GbnTimers.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(handle: unknown): void;
}

/** The real clock; a gbn timer never keeps the process alive by itself (the transport does). */
export const realGbnTimers: GbnTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** What {@link raceTimeout} settled with. */
export type Raced<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/**
 * Waits for `promise`, or `ms` (Infinity: no limit), whichever comes first. A
 * rejection of `promise` before the deadline rejects.
 */
export function raceTimeout<T>(promise: Promise<T>, ms: number, timers: GbnTimers): Promise<Raced<T>> {
  if (ms === Infinity) return promise.then((value) => ({ done: true, value }));
  return new Promise<Raced<T>>((resolve, reject) => {
    const timer = timers.setTimeout(() => resolve({ done: false }), ms);
    promise.then(
      (value) => {
        timers.clearTimeout(timer);
        resolve({ done: true, value });
      },
      (error: unknown) => {
        timers.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
