/**
 * The ledger role of the store: every challenge sent, its settlement, the
 * tokens it became, revenue, what a restarted proxy must reconcile, revocation
 * marks and garbage collection of unpaid challenges.
 *
 * Times are milliseconds since the Unix epoch; hashes and token IDs are
 * lower-case hex.
 */
import type { RefundStatus } from '../mpp/session-store.js';
import type { RootKeyStore } from './root-key-store.js';

/** How a challenge was offered: an L402 macaroon or an MPP `Payment` challenge. */
export type AuthType = 'l402' | 'mpp';

/**
 * State of a ledger row. `expired` is not stored: it is a pending row whose
 * invoice expired before it was paid (computed against the caller's clock).
 */
export type TransactionState = 'pending' | 'settled' | 'expired';

/** A challenge to record in the ledger, at the moment it is sent. */
export interface ChallengeRecord {
  /**
   * The token ID (64 hex characters) for L402. For MPP any unique string of
   * 1–200 characters, e.g. the challenge id.
   */
  tokenId: string;
  /** Payment hash of the invoice, 64 hex characters. */
  paymentHash: string;
  /** Service the challenge was for. */
  service: string;
  /** Price in satoshis, a non-negative integer. */
  priceSats: number;
  /** Which scheme the challenge used. */
  authType: AuthType;
  /** When the challenge was created. */
  createdAt: number;
  /** When the invoice expires. */
  expiresAt: number;
}

/** One row of the transaction ledger. */
export interface TransactionRecord {
  /** Sequential row number, assigned by the store. */
  id: number;
  /** Token ID (see {@link ChallengeRecord.tokenId}). */
  tokenId: string;
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Service name. */
  service: string;
  /** Price asked, in satoshis. */
  priceSats: number;
  /** Scheme of the challenge. */
  authType: AuthType;
  /** `pending`, `settled`, or `expired` (pending past the invoice expiry). */
  state: TransactionState;
  /** When the challenge was created. */
  createdAt: number;
  /** When the invoice expires. */
  expiresAt: number;
  /** When the invoice was settled, for settled rows. */
  settledAt?: number;
  /** Amount paid in satoshis, for settled rows. */
  amountPaidSats?: number;
  /** When the token was revoked, if it was. */
  revokedAt?: number;
  /**
   * The refund of the MPP session this row's deposit opened, once the session
   * is closed (`listTransactions` only): where it stands, the satoshis it is
   * for, and the reason it failed or was given up.
   */
  refund?: TransactionRefund;
}

/** The refund of a closed MPP session, on its deposit's ledger row. */
export interface TransactionRefund {
  /** `pending`, `in-flight`, `succeeded`, `failed`, `skipped` or `abandoned`. */
  status: RefundStatus;
  /** Satoshis refunded or to refund: the balance at close. */
  sats: number;
  /** Why the last attempt failed, or why it was given up. */
  error?: string;
}

/** Page size limit of every listing. */
export const MAX_PAGE_SIZE = 1000;

/** Filters of {@link Ledger.listTransactions}. */
export interface TransactionFilter {
  /** Only this service. */
  service?: string;
  /** Only rows in this state. */
  state?: TransactionState;
  /** Only this scheme. */
  authType?: AuthType;
  /** Created at or after this instant. */
  start?: number;
  /** Created before this instant. */
  end?: number;
  /** Settled at or after this instant (only settled rows match when set). */
  settledStart?: number;
  /** Settled before this instant (only settled rows match when set). */
  settledEnd?: number;
  /** Page size, 1–1000; default 100. */
  limit?: number;
  /** Rows to skip; default 0. */
  offset?: number;
  /** "Now" for telling pending from expired; default the store's clock. */
  now?: number;
}

/** Filters of {@link Ledger.listTokens}. */
export interface TokenFilter {
  /** Only this service. */
  service?: string;
  /** Include revoked tokens; default false. */
  includeRevoked?: boolean;
  /** Page size, 1–1000; default 100. */
  limit?: number;
  /** Rows to skip; default 0. */
  offset?: number;
}

/** A page of ledger rows. */
export interface TransactionPage {
  /** The rows, newest first. */
  items: TransactionRecord[];
  /** How many rows match the filter in all (for paging). */
  total: number;
}

/** Revenue of one service. */
export interface ServiceRevenue {
  /** Service name. */
  service: string;
  /** Satoshis received. */
  totalSats: number;
  /** Settled transactions. */
  count: number;
}

/** Revenue totals, from settled rows. */
export interface RevenueStats {
  /** Satoshis received in all. */
  totalSats: number;
  /** Settled transactions in all. */
  count: number;
  /** Per service, sorted by name. */
  services: ServiceRevenue[];
}

/** Where a page of {@link Ledger.listPendingUnexpired} starts: after the row with these values. */
export interface PendingCursor {
  /** `createdAt` of the last row of the previous page. */
  createdAt: number;
  /** `tokenId` of the last row of the previous page. */
  tokenId: string;
}

/** What {@link Ledger.collectGarbage} removed from the ledger. */
export interface LedgerGarbageReport {
  /** Root keys of unpaid, expired challenges. */
  rootKeys: number;
  /** Pending ledger rows of unpaid, expired challenges. */
  transactions: number;
}

/**
 * The transaction ledger. Revocation and garbage collection also delete root
 * keys, so an implementation holds the {@link RootKeyStore} of the same
 * database.
 *
 * Guarantees: `recordChallenge` and `markSettled` are single atomic statements,
 * so of concurrent calls across instances one records and one settles; listings
 * read one snapshot (a page and its total agree).
 */
export interface Ledger {
  /**
   * Records a challenge as pending.
   * @param record - the challenge
   * @returns `false` when a row with this token ID already exists (nothing changed)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`, `L402_ERR_STORE_UNAVAILABLE`
   */
  recordChallenge(record: ChallengeRecord): Promise<boolean>;

  /**
   * Marks the pending row of `paymentHash` settled. Idempotent: a second call,
   * or a call for an unknown hash, changes nothing.
   * @param paymentHash - payment hash, hex
   * @param settledAt - when it settled
   * @param amountPaidSats - satoshis received
   * @returns `true` when this call settled a row
   * @throws L402Error `L402_ERR_STORE_UNAVAILABLE`
   */
  markSettled(paymentHash: string, settledAt: number, amountPaidSats: number): Promise<boolean>;

  /**
   * The ledger row of a token, or `undefined`.
   * @param tokenId - token ID
   * @param now - "now" for telling pending from expired; default the store's clock
   * @returns the row
   */
  getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined>;

  /**
   * Ledger rows matching `filter`, newest first, with the total count.
   * @param filter - service, state, scheme, creation range and page
   * @returns the page and the total
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `limit` is not 1–1000
   */
  listTransactions(filter?: TransactionFilter): Promise<TransactionPage>;

  /**
   * Settled L402 tokens, newest first (revoked ones only with `includeRevoked`).
   * @param filter - service, revoked ones, page
   * @returns the page and the total
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `limit` is not 1–1000
   */
  listTokens(filter?: TokenFilter): Promise<TransactionPage>;

  /**
   * Revenue from settled rows, in all and per service.
   * @param range - only rows settled at or after `start` and before `end`
   * @returns the totals
   */
  revenueStats(range?: { start?: number; end?: number }): Promise<RevenueStats>;

  /**
   * Pending rows whose invoice has not expired at `now`, oldest first (ties by
   * token ID): what a restarted proxy should look up with its Lightning backend.
   * Page through all of them by passing the last row of a page as `after`; the
   * pages stay right while rows of earlier pages get settled.
   * @param now - the current time
   * @param limit - at most this many rows; default 1000
   * @param after - start after this row (its `createdAt` and `tokenId`); from the oldest when absent
   * @returns the rows
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad limit or cursor
   */
  listPendingUnexpired(now: number, limit?: number, after?: PendingCursor): Promise<TransactionRecord[]>;

  /**
   * Revokes a token: deletes its root key (sha256 of the identifier rebuilt
   * from the ledger row) and marks the row revoked in one transaction, then
   * tells every `onRevoked` listener, here and (for PostgreSQL and SQLite) in
   * other instances.
   * @param tokenId - token ID
   * @returns `true` when a root key was deleted or the row newly marked revoked
   */
  revokeToken(tokenId: string): Promise<boolean>;

  /**
   * Removes what unpaid challenges left behind: for every pending row whose
   * invoice expired before `now - graceMs`, its root key and the row, in one
   * transaction. Settled tokens are kept.
   * @param now - the current time
   * @param graceMs - how long past its expiry a row is kept
   * @returns what was removed
   */
  collectGarbage(now: number, graceMs: number): Promise<LedgerGarbageReport>;
}
