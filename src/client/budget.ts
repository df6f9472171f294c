/**
 * Client-side spending limits: per origin, per rolling time window and in
 * total, in satoshis (fees included). Amounts are reserved before a payment
 * (price plus the fee limit) and settled to what was really paid afterwards, so
 * concurrent payments to different origins cannot together overshoot a limit.
 */
import { BudgetExceededError } from '../core/errors.js';
import { ConfigError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/types.js';

/** Spending limits; every limit is optional, in satoshis including routing fees. */
export interface BudgetOptions {
  /** Most that may be spent per origin (token key) over the life of the client. */
  perOriginSats?: number;
  /** Most that may be spent within any rolling window of `windowMs` milliseconds. */
  window?: { sats: number; windowMs: number };
  /** Most that may be spent in total over the life of the client. */
  totalSats?: number;
}

/** What has been spent so far, satoshis. */
export interface BudgetSnapshot {
  /** Total spent. */
  totalSats: number;
  /** Spent within the current rolling window (0 when no window is configured). */
  windowSats: number;
  /** Spent per origin. */
  byOrigin: Readonly<Record<string, number>>;
}

/** A reservation made before paying; settle it with the amount paid, or release it. */
export interface BudgetReservation {
  /**
   * Replaces the reservation with what was actually paid.
   * @param sats - amount plus fee, satoshis
   */
  commit(sats: number): void;
  /** Drops the reservation (no payment was made). No-op after `commit`. */
  release(): void;
}

interface Spend {
  at: number;
  sats: number;
}

function checkLimit(path: string, value: number | undefined, issues: { path: string; message: string }[]): void {
  if (value !== undefined && (!Number.isFinite(value) || value < 0))
    issues.push({ path, message: 'must be a non-negative number of satoshis' });
}

/** Tracks spending against {@link BudgetOptions}. */
export class Budget {
  readonly #options: BudgetOptions;
  readonly #clock: Clock;
  readonly #byOrigin = new Map<string, number>();
  #windowSpends: Spend[] = [];
  #total = 0;
  /** Reserved but not yet settled, overall and per origin. */
  #reserved = 0;
  readonly #reservedByOrigin = new Map<string, number>();

  /**
   * @param options - the limits
   * @param clock - time source for the rolling window
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` for a negative or non-numeric limit
   */
  constructor(options: BudgetOptions = {}, clock: Clock = systemClock) {
    const issues: { path: string; message: string }[] = [];
    checkLimit('budget.perOriginSats', options.perOriginSats, issues);
    checkLimit('budget.totalSats', options.totalSats, issues);
    if (options.window !== undefined) {
      checkLimit('budget.window.sats', options.window.sats, issues);
      if (!Number.isFinite(options.window.windowMs) || options.window.windowMs <= 0) {
        issues.push({ path: 'budget.window.windowMs', message: 'must be a positive number of milliseconds' });
      }
    }
    if (issues.length > 0) throw new ConfigError(issues);
    this.#options = options;
    this.#clock = clock;
  }

  #windowTotal(now: number): number {
    const window = this.#options.window;
    if (window === undefined) return 0;
    this.#windowSpends = this.#windowSpends.filter((s) => s.at > now - window.windowMs);
    return this.#windowSpends.reduce((sum, s) => sum + s.sats, 0);
  }

  /**
   * Reserves an amount for a payment to `origin`.
   * @param origin - the token key the payment is for
   * @param sats - price plus the fee limit
   * @returns the reservation
   * @throws BudgetExceededError `L402_ERR_CLIENT_BUDGET_EXCEEDED` when a limit would be exceeded
   */
  reserve(origin: string, sats: number): BudgetReservation {
    const now = this.#clock.now();
    const { perOriginSats, window, totalSats } = this.#options;
    const originSpent = (this.#byOrigin.get(origin) ?? 0) + (this.#reservedByOrigin.get(origin) ?? 0);
    if (perOriginSats !== undefined && originSpent + sats > perOriginSats) {
      throw new BudgetExceededError(
        `paying up to ${sats} sat would exceed the budget of ${perOriginSats} sat for ${origin} (${originSpent} sat spent or reserved)`,
      );
    }
    if (window !== undefined) {
      const inWindow = this.#windowTotal(now) + this.#reserved;
      if (inWindow + sats > window.sats) {
        throw new BudgetExceededError(
          `paying up to ${sats} sat would exceed the budget of ${window.sats} sat per ${window.windowMs} ms (${inWindow} sat spent or reserved)`,
        );
      }
    }
    if (totalSats !== undefined && this.#total + this.#reserved + sats > totalSats) {
      throw new BudgetExceededError(
        `paying up to ${sats} sat would exceed the total budget of ${totalSats} sat (${this.#total + this.#reserved} sat spent or reserved)`,
      );
    }
    this.#reserved += sats;
    this.#reservedByOrigin.set(origin, (this.#reservedByOrigin.get(origin) ?? 0) + sats);
    let open = true;
    const release = (): void => {
      if (!open) return;
      open = false;
      this.#reserved -= sats;
      const left = (this.#reservedByOrigin.get(origin) ?? 0) - sats;
      if (left > 0) this.#reservedByOrigin.set(origin, left);
      else this.#reservedByOrigin.delete(origin);
    };
    return {
      commit: (paid: number) => {
        if (!open) return;
        release();
        this.record(origin, paid);
      },
      release,
    };
  }

  /**
   * Records a payment without checking limits (e.g. one recovered after a crash: the money is already gone).
   * @param origin - the token key
   * @param sats - amount plus fee
   */
  record(origin: string, sats: number): void {
    this.#total += sats;
    this.#byOrigin.set(origin, (this.#byOrigin.get(origin) ?? 0) + sats);
    if (this.#options.window !== undefined) this.#windowSpends.push({ at: this.#clock.now(), sats });
  }

  /**
   * What has been spent so far.
   * @returns totals, the current window and per origin
   */
  snapshot(): BudgetSnapshot {
    return {
      totalSats: this.#total,
      windowSats: this.#windowTotal(this.#clock.now()),
      byOrigin: Object.fromEntries(this.#byOrigin),
    };
  }
}
