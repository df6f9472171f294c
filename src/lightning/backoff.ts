/**
 * Exponential backoff with jitter, for reconnecting to a Lightning node.
 */

/** Backoff bounds. */
export interface BackoffOptions {
  /** First delay, ms; 250 by default. */
  initialMs?: number;
  /** Largest delay, ms; 30 000 by default. */
  maxMs?: number;
}

/**
 * Delays that double from `initialMs` up to `maxMs`, each with ±20 % jitter so
 * that many clients do not reconnect in lockstep.
 */
export class Backoff {
  /** First delay, ms. */
  readonly initialMs: number;
  /** Largest delay, ms. */
  readonly maxMs: number;
  #attempt = 0;

  /**
   * @param options - bounds
   */
  constructor(options: BackoffOptions = {}) {
    this.initialMs = Math.max(1, options.initialMs ?? 250);
    this.maxMs = Math.max(this.initialMs, options.maxMs ?? 30_000);
  }

  /**
   * The next delay; each call doubles the base.
   * @returns milliseconds to wait
   */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** Starts over from `initialMs` (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
