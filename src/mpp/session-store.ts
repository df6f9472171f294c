/**
 * The session role of the store: MPP `session` intent balances. A deposit
 * opens a session, top-ups credit it, requests debit it, a metered response
 * settles the estimate, and closing returns the balance to refund. Every
 * balance change is one atomic operation, so concurrent requests on any
 * instance can neither overdraw a session nor credit one payment twice.
 */

/** Whether a session can still be spent. */
export type SessionStatus = 'open' | 'closed';

/**
 * Where the refund of a closed session stands: `pending` until a refunder
 * takes it, `in-flight` while one pays, then `succeeded`, `failed` (to be
 * retried), `skipped` (nothing to refund) or `abandoned` (given up: the return
 * invoice expired, or too many attempts failed; `lastError` says which). The
 * last three are final.
 */
export type RefundStatus = 'pending' | 'in-flight' | 'succeeded' | 'failed' | 'skipped' | 'abandoned';

/** The refund of a closed session. */
export interface SessionRefund {
  /** Where it stands. */
  status: RefundStatus;
  /** Payment attempts started so far. */
  attempts: number;
  /** The error of the last failed attempt. */
  lastError?: string;
  /** When the status last changed. */
  updatedAt: number;
}

/** An MPP session. */
export interface SessionRecord {
  /** Session id (the protocol uses the deposit payment hash, hex). */
  id: string;
  /** Payment hash of the deposit that opened it, hex. */
  paymentHash: string;
  /** Satoshis credited: the deposit plus top-ups. */
  depositSats: number;
  /** Satoshis spent, between 0 and `depositSats`. */
  spentSats: number;
  /** `depositSats - spentSats`: what is left, and what a close refunds. */
  balanceSats: number;
  /** BOLT11 invoice the balance is refunded to on close. */
  returnInvoice: string;
  /** `open` or `closed`. */
  status: SessionStatus;
  /** When it was opened. */
  createdAt: number;
  /** When its balance or status last changed (what an idle sweeper looks at). */
  updatedAt: number;
  /** When it was closed. */
  closedAt?: number;
  /** The refund, once closed. */
  refund?: SessionRefund;
}

/** A session to open. */
export interface NewSession {
  /** Session id, 1–200 characters. */
  id: string;
  /** Payment hash of the deposit, 64 lower-case hex characters. */
  paymentHash: string;
  /** Satoshis deposited, a non-negative integer. */
  depositSats: number;
  /** BOLT11 invoice to refund to, 1–8000 characters. */
  returnInvoice: string;
  /** When it opens; default the store's clock. */
  now?: number;
}

/**
 * What opening a session did: `opened` a new one; `replayed` when this
 * deposit already opened this session (an honest retry: nothing changed);
 * `foreign` when the deposit payment was credited to another session or the
 * id belongs to a session opened with another deposit (nothing changed).
 */
export type OpenOutcome = 'opened' | 'replayed' | 'foreign';

/**
 * What a credit did: `applied` (deposit increased); `replayed` when this payment
 * was already credited to this session (a retried top-up: nothing changed);
 * `foreign` when it was credited to another session (nothing changed);
 * `not-open` when the session is missing or closed (nothing recorded, the
 * payment stays unused).
 */
export type CreditOutcome = 'applied' | 'replayed' | 'foreign' | 'not-open';

/** Where a page of {@link SessionStore.listIdleSessions} starts: after the session with these values. */
export interface SessionCursor {
  /** `updatedAt` of the last session of the previous page. */
  updatedAt: number;
  /** `id` of the last session of the previous page. */
  id: string;
}

/** The outcome of a refund attempt, for {@link SessionStore.finishRefund}. */
export interface RefundOutcome {
  /** `succeeded`, `failed` (may be retried), `skipped` or `abandoned` (final, with the reason in `error`). */
  status: 'succeeded' | 'failed' | 'skipped' | 'abandoned';
  /** Why it failed; stored up to 1000 characters. */
  error?: string;
}

/** Options of {@link SessionStore.beginRefund} and {@link SessionStore.listRefundsDue}. */
export interface RefundTiming {
  /** "Now"; default the store's clock. */
  now?: number;
  /**
   * After how long an `in-flight` refund counts as abandoned (its refunder
   * died) and may be taken again; default 10 minutes. Retrying pays the same
   * return invoice, which Lightning refuses to pay twice.
   */
  staleAfterMs?: number;
}

/**
 * MPP sessions.
 *
 * Guarantees, across instances on one database: a payment hash is credited
 * once (the deposit when opening included) and a replay is told from a foreign
 * hash; a debit succeeds only when the balance covers it, so the balance never
 * goes below zero under any interleaving; a settlement is clamped to
 * `[0, deposit]`; a close returns the balance it froze, after which no debit,
 * credit or settlement changes the session; one refunder at a time holds a
 * refund.
 */
export interface SessionStore {
  /**
   * Opens a session and claims its deposit payment hash, in one transaction.
   * @param session - id, deposit hash and amount, return invoice
   * @returns `opened`, `replayed` or `foreign` (see {@link OpenOutcome})
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for malformed input
   */
  openSession(session: NewSession): Promise<OpenOutcome>;

  /**
   * One session, or `undefined`.
   * @param id - session id
   * @returns the session
   */
  getSession(id: string): Promise<SessionRecord | undefined>;

  /**
   * Credits a top-up to an open session, once per payment hash.
   * @param id - session id
   * @param paymentHash - payment hash of the top-up, hex
   * @param amountSats - satoshis to add, a positive integer
   * @param now - when; default the store's clock
   * @returns what happened (see {@link CreditOutcome})
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for malformed input
   */
  creditSession(id: string, paymentHash: string, amountSats: number, now?: number): Promise<CreditOutcome>;

  /**
   * Spends from an open session, only if its balance covers `amountSats`.
   * @param id - session id
   * @param amountSats - satoshis, a positive integer
   * @param now - when; default the store's clock
   * @returns the updated session, or `undefined` when it is missing, closed or short
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad amount
   */
  debitSession(id: string, amountSats: number, now?: number): Promise<SessionRecord | undefined>;

  /**
   * Corrects the spend of an open session once a request's true cost is known:
   * a positive delta charges an under-estimate, a negative one gives back an
   * over-estimate. The spend is clamped to `[0, deposit]` rather than refused
   * (the service was already rendered; the shortfall is bounded by the balance).
   * @param id - session id
   * @param deltaSats - satoshis, any safe integer
   * @param now - when; default the store's clock
   * @returns the updated session, or `undefined` when it is missing or closed
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad delta
   */
  settleSession(id: string, deltaSats: number, now?: number): Promise<SessionRecord | undefined>;

  /**
   * Closes an open session and returns it with the balance to refund, in one
   * step: nothing can spend between reading the balance and closing. The
   * refund starts `pending`.
   * @param id - session id
   * @param now - when; default the store's clock
   * @returns the closed session (its `balanceSats` is the refund), or
   *   `undefined` when it is missing or already closed
   */
  closeSession(id: string, now?: number): Promise<SessionRecord | undefined>;

  /**
   * Open sessions with no balance change since before `idleBefore`, least
   * recently used first (ties by id), for a sweeper that closes them. Page by
   * passing the last session of a page as `after`.
   * @param idleBefore - sessions whose `updatedAt` is before this instant
   * @param limit - page size, 1–1000; default 100
   * @param after - start after this session
   * @returns the sessions
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad limit or cursor
   */
  listIdleSessions(idleBefore: number, limit?: number, after?: SessionCursor): Promise<SessionRecord[]>;

  /**
   * Takes the refund of a closed session for paying it: moves it from
   * `pending`, `failed` or an abandoned `in-flight` to `in-flight` and counts
   * the attempt. Of concurrent callers one wins.
   * @param id - session id
   * @param timing - now and when an in-flight refund counts as abandoned
   * @returns the session, or `undefined` when there is nothing to take
   */
  beginRefund(id: string, timing?: RefundTiming): Promise<SessionRecord | undefined>;

  /**
   * Records the outcome of the refund attempt taken with
   * {@link SessionStore.beginRefund}.
   * @param id - session id
   * @param outcome - status and error
   * @param now - when; default the store's clock
   * @returns the session, or `undefined` when its refund is not in flight
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad status
   */
  finishRefund(id: string, outcome: RefundOutcome, now?: number): Promise<SessionRecord | undefined>;

  /**
   * Closed sessions whose refund is `pending`, `failed` or abandoned
   * `in-flight`, the longest waiting first.
   * @param limit - at most this many, 1–1000; default 100
   * @param timing - now and when an in-flight refund counts as abandoned
   * @returns the sessions
   */
  listRefundsDue(limit?: number, timing?: RefundTiming): Promise<SessionRecord[]>;
}
