/**
 * Versioned schema migrations, the SQL of both dialects side by side so that
 * the logical schema stays the same. A migration is never edited once released:
 * a change is a new version. Applied versions are recorded in
 * `aperture_migrations`.
 *
 * Conventions of both dialects: times are integer milliseconds since the epoch
 * (BIGINT), hashes and token IDs are lower-case hex text, root keys are bytes.
 */

/** One schema version. */
export interface Migration {
  /** Version number, consecutive from 1. */
  version: number;
  /** Short name, recorded with the version. */
  name: string;
  /** SQLite statements. */
  sqlite: string;
  /** PostgreSQL statements. */
  postgres: string;
}

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'root keys, ledger, revocations',
    sqlite: `
      CREATE TABLE root_keys (
        id_hash BLOB PRIMARY KEY,
        root_key BLOB NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE transactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL UNIQUE,
        payment_hash TEXT NOT NULL,
        id_hash TEXT,
        service TEXT NOT NULL,
        price_sats INTEGER NOT NULL CHECK (price_sats >= 0),
        auth_type TEXT NOT NULL CHECK (auth_type IN ('l402', 'mpp')),
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'settled')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        settled_at INTEGER,
        amount_paid_sats INTEGER,
        revoked_at INTEGER
      );
      CREATE INDEX transactions_payment_hash_idx ON transactions (payment_hash);
      CREATE INDEX transactions_id_hash_idx ON transactions (id_hash);
      CREATE INDEX transactions_created_at_idx ON transactions (created_at);
      CREATE INDEX transactions_state_expires_idx ON transactions (state, expires_at);
      CREATE INDEX transactions_service_idx ON transactions (service, created_at);
      CREATE TABLE revocations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id_hash TEXT NOT NULL,
        token_id TEXT,
        origin TEXT NOT NULL,
        revoked_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE root_keys (
        id_hash BYTEA PRIMARY KEY,
        root_key BYTEA NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE transactions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token_id TEXT NOT NULL UNIQUE,
        payment_hash TEXT NOT NULL,
        id_hash TEXT,
        service TEXT NOT NULL,
        price_sats BIGINT NOT NULL CHECK (price_sats >= 0),
        auth_type TEXT NOT NULL CHECK (auth_type IN ('l402', 'mpp')),
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'settled')),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        settled_at BIGINT,
        amount_paid_sats BIGINT,
        revoked_at BIGINT
      );
      CREATE INDEX transactions_payment_hash_idx ON transactions (payment_hash);
      CREATE INDEX transactions_id_hash_idx ON transactions (id_hash);
      CREATE INDEX transactions_created_at_idx ON transactions (created_at);
      CREATE INDEX transactions_state_expires_idx ON transactions (state, expires_at);
      CREATE INDEX transactions_service_idx ON transactions (service, created_at);
      CREATE TABLE revocations (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id_hash TEXT NOT NULL,
        token_id TEXT,
        origin TEXT NOT NULL,
        revoked_at BIGINT NOT NULL
      );`,
  },
  {
    version: 2,
    name: 'services',
    sqlite: `
      CREATE TABLE services (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE services (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );`,
  },
  {
    version: 3,
    name: 'mpp charges and sessions',
    sqlite: `
      CREATE TABLE mpp_charges (
        payment_hash TEXT PRIMARY KEY,
        challenge_id TEXT,
        expires_at INTEGER,
        consumed_at INTEGER NOT NULL
      );
      CREATE INDEX mpp_charges_expires_at_idx ON mpp_charges (expires_at);
      CREATE TABLE mpp_sessions (
        id TEXT PRIMARY KEY,
        payment_hash TEXT NOT NULL,
        deposit_sats INTEGER NOT NULL CHECK (deposit_sats >= 0),
        balance_sats INTEGER NOT NULL CHECK (balance_sats >= 0),
        return_invoice TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );`,
    postgres: `
      CREATE TABLE mpp_charges (
        payment_hash TEXT PRIMARY KEY,
        challenge_id TEXT,
        expires_at BIGINT,
        consumed_at BIGINT NOT NULL
      );
      CREATE INDEX mpp_charges_expires_at_idx ON mpp_charges (expires_at);
      CREATE TABLE mpp_sessions (
        id TEXT PRIMARY KEY,
        payment_hash TEXT NOT NULL,
        deposit_sats BIGINT NOT NULL CHECK (deposit_sats >= 0),
        balance_sats BIGINT NOT NULL CHECK (balance_sats >= 0),
        return_invoice TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );`,
  },
];

/** The newest schema version this code knows. */
export const LATEST_VERSION = MIGRATIONS.length;

/** DDL of the table recording applied versions (same text in both dialects). */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS aperture_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;
