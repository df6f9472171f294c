/**
 * The storage contract of the proxy, by role: {@link RootKeyStore} (root keys
 * and revocation events), {@link Ledger} (challenges, settlement, tokens,
 * revenue, reconciliation, revocation marks, garbage collection),
 * {@link ServiceRegistry} (service definitions), {@link ChargeStore} (MPP
 * charges) and {@link SessionStore} (MPP sessions). {@link ApertureStore} is
 * all of them on one database plus its lifecycle; {@link MemoryStore},
 * {@link SqliteStore} and {@link PostgresStore} implement it, and
 * {@link openStore} picks one from configuration.
 *
 * Times are milliseconds since the Unix epoch; hashes and token IDs are
 * lower-case hex.
 */
import type { ChargeStore } from './charge-store.js';
import type { GoApertureAdoption } from './go-aperture-schema.js';
import type { Ledger, LedgerGarbageReport } from './ledger.js';
import type { RootKeyStore } from './root-key-store.js';
import type { ServiceRegistry } from './service-registry.js';
import type { SessionStore } from './session-store.js';

export { MAX_PAGE_SIZE } from './ledger.js';
export type {
  AuthType,
  ChallengeRecord,
  Ledger,
  LedgerGarbageReport,
  PendingCursor,
  RevenueStats,
  ServiceRevenue,
  TokenFilter,
  TransactionFilter,
  TransactionPage,
  TransactionRecord,
  TransactionRefund,
  TransactionState,
} from './ledger.js';
export type { RevocationEvent, RootKeyStore } from './root-key-store.js';
export type { ServiceRecord, ServiceRegistry } from './service-registry.js';
export type { ChargeClaim, ChargeDetails, ChargeRecord, ChargeStore } from './charge-store.js';
export type {
  CreditOutcome,
  NewSession,
  OpenOutcome,
  RefundOutcome,
  RefundStatus,
  RefundTiming,
  SessionCursor,
  SessionRecord,
  SessionRefund,
  SessionStatus,
  SessionStore,
} from './session-store.js';

/** What {@link ApertureStore.collectGarbage} removed. */
export interface GarbageReport extends LedgerGarbageReport {
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

/** What every store has besides its roles: identity, health, shutdown. */
export interface StoreLifecycle {
  /** Which implementation this is. */
  readonly backend: StoreBackend;

  /**
   * The Go aperture's database as the store found and adopted it at open
   * (SQLite and PostgreSQL; see docs/storage.md), or `undefined` when there was none.
   */
  readonly goAperture?: GoApertureAdoption | undefined;

  /**
   * Probes the database; never throws.
   * @returns whether it answered
   */
  health(): Promise<StoreHealth>;

  /** Releases connections and timers. Further calls throw `L402_ERR_STORE_UNAVAILABLE`. */
  close(): Promise<void>;
}

/**
 * Everything the proxy must not lose, every role on one database.
 *
 * Every method may throw `L402Error` `L402_ERR_STORE_UNAVAILABLE` (status 503)
 * when the database cannot be reached, `L402_ERR_STORE_QUERY_FAILED` for any
 * other database error, and `L402_ERR_STORE_INVALID_ARGUMENT` (status 400) for
 * malformed input. The store keeps working once the database is back.
 */
export interface ApertureStore extends RootKeyStore, Ledger, ServiceRegistry, ChargeStore, SessionStore, StoreLifecycle {
  /**
   * The ledger's garbage collection ({@link Ledger.collectGarbage}) and, in the
   * same call, {@link ChargeStore.pruneCharges} of charges whose challenge
   * expired before `now - graceMs`.
   * @param now - the current time
   * @param graceMs - how long past expiry rows are kept (≥ the clock skew between instances)
   * @returns what was removed
   */
  collectGarbage(now: number, graceMs: number): Promise<GarbageReport>;

  /**
   * Whether the Go aperture whose database this is already consumed the charge
   * of this payment (a row of its `mpp_consumed_charges`): such a charge must not
   * buy a request here too. False without that table (no Go database, or a Go
   * schema older than migration 9).
   * @param paymentHash - 64 lower-case hex characters
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a malformed hash
   */
  goChargeConsumed(paymentHash: string): Promise<boolean>;

  /**
   * Carries over a session the Go aperture whose database this is opened: when
   * its `mpp_sessions` row is `open`, closes it there and opens it here with its
   * deposit, spend, return invoice and credited payment hashes, in one
   * transaction (see docs/storage.md). Does nothing when a session of this id
   * exists here, when the Go row is missing or closed, or without a Go database.
   * @param id - session id
   * @returns whether this call imported it (a concurrent caller's import is false here)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a malformed id
   */
  importGoSession(id: string): Promise<boolean>;

  /**
   * The session the Go aperture whose database this is credited a payment to
   * (its `mpp_session_credits`, Go migration 8): a deposit or top-up it took
   * must not credit another session here.
   * @param paymentHash - 64 lower-case hex characters
   * @returns the session id, or `undefined` (none, or no such Go table)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a malformed hash
   */
  goCreditOwner(paymentHash: string): Promise<string | undefined>;
}
