/**
 * Storage for aperture-ts: root keys, the transaction ledger, revocations,
 * services, MPP charges and sessions, on memory, SQLite or PostgreSQL.
 * @packageDocumentation
 */
export { MAX_PAGE_SIZE } from './aperture-store.js';
export type {
  ApertureStore,
  AuthType,
  ChallengeRecord,
  ChargeDetails,
  GarbageReport,
  PendingCursor,
  RevenueStats,
  RevocationEvent,
  ServiceRecord,
  ServiceRevenue,
  SessionPatch,
  SessionRecord,
  SessionState,
  StoreBackend,
  StoreHealth,
  TokenFilter,
  TransactionFilter,
  TransactionPage,
  TransactionRecord,
  TransactionState,
} from './aperture-store.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { SqliteStore, DEFAULT_SQLITE_FILE } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { PostgresStore, REVOCATION_CHANNEL } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { openStore } from './open-store.js';
export type { StoreConfig } from './open-store.js';
export { MIGRATIONS, LATEST_VERSION } from './migrations.js';
export type { Migration } from './migrations.js';
