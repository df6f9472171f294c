/**
 * The storage contract of the proxy: everything it must not lose, behind one
 * interface. Implementations: {@link MemoryStore}, {@link SqliteStore},
 * {@link PostgresStore}; {@link openStore} picks one from configuration.
 *
 * Times are milliseconds since the Unix epoch; hashes and token IDs are
 * lower-case hex.
 */
import type { MaybePromise, SecretStore } from '../core/types.js';

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
}

/** Page size limit of every listing. */
export const MAX_PAGE_SIZE = 1000;

/** Filters of {@link ApertureStore.listTransactions}. */
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
  /** Page size, 1–1000; default 100. */
  limit?: number;
  /** Rows to skip; default 0. */
  offset?: number;
  /** "Now" for telling pending from expired; default the store's clock. */
  now?: number;
}

/** Filters of {@link ApertureStore.listTokens}. */
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

/** Where a page of {@link ApertureStore.listPendingUnexpired} starts: after the row with these values. */
export interface PendingCursor {
  /** `createdAt` of the last row of the previous page. */
  createdAt: number;
  /** `tokenId` of the last row of the previous page. */
  tokenId: string;
}

/** A revocation, as delivered to {@link ApertureStore.onRevoked} listeners. */
export interface RevocationEvent {
  /** sha256 of the identifier whose root key was deleted, hex. */
  idHash: string;
  /** The token ID, when the store knows it (always for {@link ApertureStore.revokeToken}). */
  tokenId: string | undefined;
  /** `true` when another store instance (process or pool) made the revocation. */
  remote: boolean;
}

/** A service definition as the admin API stores it. */
export interface ServiceRecord {
  /** Unique name. */
  name: string;
  /** The service configuration, any JSON value (stored as JSON text). */
  config: unknown;
  /** When it was created. */
  createdAt: number;
  /** When it was last changed. */
  updatedAt: number;
}

/** State of an MPP session. */
export type SessionState = 'open' | 'closing' | 'closed';

/** An MPP session: a deposit spent down by requests and refunded on close. */
export interface SessionRecord {
  /** Session id. */
  id: string;
  /** Payment hash of the deposit invoice, hex. */
  paymentHash: string;
  /** Satoshis deposited (deposit plus top-ups). */
  depositSats: number;
  /** Satoshis left to spend. */
  balanceSats: number;
  /** BOLT11 invoice to refund the balance to on close. */
  returnInvoice: string;
  /** Session state. */
  state: SessionState;
  /** When it was opened. */
  createdAt: number;
  /** When it last changed. */
  updatedAt: number;
}

/** What {@link ApertureStore.updateSession} may change. */
export interface SessionPatch {
  /** New deposit total. */
  depositSats?: number;
  /** New balance. */
  balanceSats?: number;
  /** New return invoice. */
  returnInvoice?: string;
  /** New state. */
  state?: SessionState;
}

/** Details recorded with a consumed MPP charge. */
export interface ChargeDetails {
  /** The HMAC-bound challenge id the credential echoed, for audit. */
  challengeId?: string;
  /**
   * When the challenge expires. Garbage collection may drop the row after this
   * instant plus grace, because an expired challenge is refused anyway; rows
   * without it are kept forever.
   */
  expiresAt?: number;
  /** When it was consumed; default the store's clock. */
  consumedAt?: number;
}

/** What {@link ApertureStore.collectGarbage} removed. */
export interface GarbageReport {
  /** Root keys of unpaid, expired challenges. */
  rootKeys: number;
  /** Pending ledger rows of unpaid, expired challenges. */
  transactions: number;
  /** Consumed MPP charges past their challenge expiry. */
  charges: number;
}

/** Result of a health probe. */
export interface StoreHealth {
  /** Whether the database answered. */
  ok: boolean;
  /** `memory`, `sqlite` or `postgres`. */
  backend: StoreBackend;
  /** The error, when not ok. */
  detail?: string;
}

/** The store implementations {@link openStore} knows. */
export type StoreBackend = 'memory' | 'sqlite' | 'postgres';

/**
 * Everything the proxy must not lose: root keys (the core's
 * {@link SecretStore}), the transaction ledger, revocations, services, MPP
 * charges and sessions.
 *
 * Every method may throw `L402Error` `L402_ERR_STORE_UNAVAILABLE` (status 503)
 * when the database cannot be reached, `L402_ERR_STORE_QUERY_FAILED` for any
 * other database error, and `L402_ERR_STORE_INVALID_ARGUMENT` (status 400) for
 * malformed input. The store keeps working once the database is back.
 */
export interface ApertureStore extends SecretStore {
  /** Which implementation this is. */
  readonly backend: StoreBackend;

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
   */
  getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined>;

  /**
   * Ledger rows matching `filter`, newest first, with the total count.
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `limit` is not 1–1000
   */
  listTransactions(filter?: TransactionFilter): Promise<TransactionPage>;

  /**
   * Settled L402 tokens, newest first (revoked ones only with `includeRevoked`).
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `limit` is not 1–1000
   */
  listTokens(filter?: TokenFilter): Promise<TransactionPage>;

  /**
   * Revenue from settled rows, in all and per service.
   * @param range - only rows settled at or after `start` and before `end`
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
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad limit or cursor
   */
  listPendingUnexpired(now: number, limit?: number, after?: PendingCursor): Promise<TransactionRecord[]>;

  /**
   * Revokes a token: deletes its root key (sha256 of the identifier rebuilt
   * from the ledger row) and marks the row revoked, then tells every
   * `onRevoked` listener, here and (for PostgreSQL and SQLite) in other
   * instances.
   * @param tokenId - token ID
   * @returns `true` when a root key was deleted or the row newly marked revoked
   */
  revokeToken(tokenId: string): Promise<boolean>;

  /**
   * Registers a listener for revocations made through this store or another
   * instance on the same database; returns a function that removes it.
   * Listener errors are swallowed.
   */
  onRevoked(listener: (event: RevocationEvent) => void): () => void;

  /** Every service, sorted by name. */
  listServices(): Promise<ServiceRecord[]>;
  /** One service, or `undefined`. */
  getService(name: string): Promise<ServiceRecord | undefined>;
  /**
   * Creates a service.
   * @returns `false` when the name is taken (nothing changed)
   */
  createService(name: string, config: unknown): Promise<boolean>;
  /**
   * Replaces the configuration of a service.
   * @returns `false` when there is no such service
   */
  updateService(name: string, config: unknown): Promise<boolean>;
  /**
   * Deletes a service.
   * @returns `false` when there was no such service
   */
  deleteService(name: string): Promise<boolean>;

  /**
   * Consumes an MPP charge atomically: of any number of concurrent calls with
   * one payment hash, across instances, exactly one gets `true`.
   * @param paymentHash - payment hash, hex
   * @param details - audit details and the challenge expiry
   * @returns `true` on first use, `false` on replay
   */
  consumeCharge(paymentHash: string, details?: ChargeDetails): Promise<boolean>;

  /**
   * Creates a session.
   * @returns `false` when the id is taken
   */
  createSession(session: SessionRecord): Promise<boolean>;
  /** One session, or `undefined`. */
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * Changes some fields of a session and its `updatedAt`.
   * @returns the updated session, or `undefined` when there is none
   */
  updateSession(id: string, patch: SessionPatch, now: number): Promise<SessionRecord | undefined>;
  /**
   * Spends from an open session atomically: succeeds only when the session is
   * open and its balance covers `amountSats`.
   * @returns the updated session, or `undefined` when it is missing, not open or short
   */
  debitSession(id: string, amountSats: number, now: number): Promise<SessionRecord | undefined>;
  /**
   * Deletes a session.
   * @returns `false` when there was none
   */
  deleteSession(id: string): Promise<boolean>;

  /**
   * Removes what unpaid challenges left behind: for every pending row whose
   * invoice expired before `now - graceMs`, its root key and the row. Settled
   * tokens are kept. Also drops consumed MPP charges whose challenge expired
   * before `now - graceMs`.
   */
  collectGarbage(now: number, graceMs: number): Promise<GarbageReport>;

  /** Probes the database; never throws. */
  health(): Promise<StoreHealth>;

  /** Releases connections and timers. Further calls throw `L402_ERR_STORE_UNAVAILABLE`. */
  close(): Promise<void>;

  /** The root key for `idHash`; synchronous for the memory and SQLite stores. */
  getSecret(idHash: Uint8Array): MaybePromise<Uint8Array | undefined>;
}
