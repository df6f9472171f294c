/**
 * Storage for aperture-ts by role — root keys and revocations, the transaction
 * ledger, the service registry, MPP charges, MPP sessions — each role on
 * memory, SQLite or PostgreSQL, and all of them together as `ApertureStore`.
 * @packageDocumentation
 */
export { MAX_PAGE_SIZE } from './aperture-store.js';
export type {
  ApertureStore,
  GarbageReport,
  StoreBackend,
  StoreHealth,
  StoreLifecycle,
} from './aperture-store.js';
export type { RevocationEvent, RootKeyStore } from './root-key-store.js';
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
  TransactionState,
} from './ledger.js';
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
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { SqliteStore, DEFAULT_SQLITE_FILE } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { PostgresStore, REVOCATION_CHANNEL } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { openStore } from './open-store.js';
export type { StoreConfig } from './open-store.js';
export { MIGRATIONS, LATEST_VERSION, BASELINE } from './migrations.js';
export type { Migration } from './migrations.js';
