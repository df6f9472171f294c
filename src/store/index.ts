/**
 * Storage for aperture-ts (`aperture-ts/store`) by role — root keys and
 * revocations, the transaction ledger, the service registry, MPP charges, MPP
 * sessions — each role on memory, SQLite or PostgreSQL, and all of them
 * together as `ApertureStore`. What is listed here is public: the role
 * interfaces with their records (to write a store of your own), the three
 * stores and `openStore`. Migrations, queries and limits are internal.
 * @packageDocumentation
 */

// The interfaces a store implements, and their records.
export type { ApertureStore, GarbageReport, StoreBackend, StoreHealth, StoreLifecycle } from './aperture-store.js';
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
  TransactionRefund,
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
// The Lightning Node Connect session role (the pairing kept across restarts), implemented by the SQLite and PostgreSQL stores.
export type { LncSessionRecord, LncSessionStore } from '../lnc/lnc-session-store.js';

// The stores.
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { SqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { PostgresStore } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { openStore } from './open-store.js';
export type { StoreConfig } from './open-store.js';

// What a store found of the Go aperture's database when it opened (`goAperture`).
export type { GoApertureAdoption, GoApertureSchema, GoImportReport } from './go-aperture-schema.js';
