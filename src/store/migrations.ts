/**
 * Versioned schema migrations, the SQL of both dialects side by side so that
 * the logical schema stays the same. A migration is never edited once released:
 * a change is a new version. Applied versions are recorded in
 * `aperture_migrations`.
 *
 * A database at version 0 (new, or holding only other programs' tables) gets
 * {@link BASELINE}, the schema of the latest version in one step, recorded as
 * versions 1 to {@link LATEST_VERSION}; a database at a lower version gets the
 * missing migrations in order. A test checks that both paths give the same
 * schema.
 * Versions 2 and 3 created `services`, `mpp_charges` and `mpp_sessions`, names
 * the Go aperture uses in its own database; version 4 moved them to
 * `aperture_`-prefixed tables, and the baseline never creates them, so our
 * tables can share a database with the Go aperture's. Version 5 adds what
 * reading the Go aperture's tables needs (src/store/go-aperture-schema.ts): the
 * `source` of a ledger row and the bookkeeping of what was imported. Version 6
 * adds the LNC sessions (`aperture_lnc_sessions`).
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

/**
 * The tables version 4 creates, which are also the latest schema of these
 * roles (part of {@link BASELINE}).
 */
const ROLE_TABLES = {
  sqlite: `
      CREATE TABLE aperture_services (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE aperture_service_registry (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
      );
      CREATE TABLE aperture_charges (
        payment_hash TEXT PRIMARY KEY,
        claim_id TEXT NOT NULL,
        challenge_id TEXT,
        expires_at INTEGER,
        consumed_at INTEGER NOT NULL
      );
      CREATE INDEX aperture_charges_expires_at_idx ON aperture_charges (expires_at);
      CREATE TABLE aperture_sessions (
        id TEXT PRIMARY KEY,
        payment_hash TEXT NOT NULL,
        deposit_sats INTEGER NOT NULL CHECK (deposit_sats >= 0),
        spent_sats INTEGER NOT NULL CHECK (spent_sats >= 0 AND spent_sats <= deposit_sats),
        return_invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        closed_at INTEGER,
        refund_status TEXT CHECK (refund_status IN ('pending', 'in-flight', 'succeeded', 'failed', 'skipped')),
        refund_attempts INTEGER NOT NULL DEFAULT 0,
        refund_error TEXT,
        refund_updated_at INTEGER
      );
      CREATE INDEX aperture_sessions_idle_idx ON aperture_sessions (status, updated_at);
      CREATE INDEX aperture_sessions_refund_idx ON aperture_sessions (refund_status, refund_updated_at);
      CREATE TABLE aperture_session_credits (
        payment_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        amount_sats INTEGER NOT NULL CHECK (amount_sats >= 0),
        created_at INTEGER NOT NULL
      );
      CREATE INDEX aperture_session_credits_session_idx ON aperture_session_credits (session_id);
      INSERT INTO aperture_service_registry (id, version) VALUES (1, 0);`,
  postgres: `
      CREATE TABLE aperture_services (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE aperture_service_registry (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL
      );
      CREATE TABLE aperture_charges (
        payment_hash TEXT PRIMARY KEY,
        claim_id TEXT NOT NULL,
        challenge_id TEXT,
        expires_at BIGINT,
        consumed_at BIGINT NOT NULL
      );
      CREATE INDEX aperture_charges_expires_at_idx ON aperture_charges (expires_at);
      CREATE TABLE aperture_sessions (
        id TEXT PRIMARY KEY,
        payment_hash TEXT NOT NULL,
        deposit_sats BIGINT NOT NULL CHECK (deposit_sats >= 0),
        spent_sats BIGINT NOT NULL CHECK (spent_sats >= 0 AND spent_sats <= deposit_sats),
        return_invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        closed_at BIGINT,
        refund_status TEXT CHECK (refund_status IN ('pending', 'in-flight', 'succeeded', 'failed', 'skipped')),
        refund_attempts BIGINT NOT NULL DEFAULT 0,
        refund_error TEXT,
        refund_updated_at BIGINT
      );
      CREATE INDEX aperture_sessions_idle_idx ON aperture_sessions (status, updated_at);
      CREATE INDEX aperture_sessions_refund_idx ON aperture_sessions (refund_status, refund_updated_at);
      CREATE TABLE aperture_session_credits (
        payment_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        amount_sats BIGINT NOT NULL CHECK (amount_sats >= 0),
        created_at BIGINT NOT NULL
      );
      CREATE INDEX aperture_session_credits_session_idx ON aperture_session_credits (session_id);
      INSERT INTO aperture_service_registry (id, version) VALUES (1, 0);`,
};

/**
 * What version 5 adds, which is also the latest schema of these parts (part of
 * {@link BASELINE}): ledger rows imported from the Go aperture's
 * `l402_transactions` carry `source = 'go-aperture'` (garbage collection leaves
 * them alone), `aperture_go_import` remembers what the Go ledger looked like at
 * the last import, and `aperture_go_services` which of the Go aperture's
 * `services` rows were imported, as of which `updated_at`, with which registry
 * version. The statements are the same in both dialects.
 */
const GO_ADOPTION = `
      ALTER TABLE transactions ADD COLUMN source TEXT CHECK (source = 'go-aperture');
      CREATE TABLE aperture_go_import (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        transactions_fingerprint TEXT NOT NULL,
        imported_at BIGINT NOT NULL
      );
      CREATE TABLE aperture_go_services (
        name TEXT PRIMARY KEY,
        go_updated_at TEXT NOT NULL,
        version BIGINT NOT NULL
      );`;

/**
 * What version 6 adds, which is also the latest schema of this part (part of
 * {@link BASELINE}): the LNC sessions (the Go aperture's `lnc_sessions`, its
 * columns, with this schema's millisecond times; the name prefixed so as not to
 * meet the Go aperture's table in a shared database).
 */
const LNC_SESSIONS = {
  sqlite: `
      CREATE TABLE aperture_lnc_sessions (
        id INTEGER PRIMARY KEY,
        passphrase_words TEXT NOT NULL UNIQUE,
        passphrase_entropy BLOB NOT NULL UNIQUE,
        remote_static_pub_key BLOB UNIQUE,
        local_static_priv_key BLOB NOT NULL,
        mailbox_addr TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expiry INTEGER,
        dev_server INTEGER NOT NULL CHECK (dev_server IN (0, 1))
      );`,
  postgres: `
      CREATE TABLE aperture_lnc_sessions (
        id BIGSERIAL PRIMARY KEY,
        passphrase_words TEXT NOT NULL UNIQUE,
        passphrase_entropy BYTEA NOT NULL UNIQUE,
        remote_static_pub_key BYTEA UNIQUE,
        local_static_priv_key BYTEA NOT NULL,
        mailbox_addr TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expiry BIGINT,
        dev_server BOOLEAN NOT NULL
      );`,
};

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
  {
    version: 4,
    name: 'store by role: services, charges and sessions under aperture_ names; atomic sessions',
    sqlite: `${ROLE_TABLES.sqlite}
      INSERT INTO aperture_services (name, config, version, created_at, updated_at)
        SELECT name, config, 1, created_at, updated_at FROM services;
      UPDATE aperture_service_registry SET version = 1 WHERE EXISTS (SELECT 1 FROM aperture_services);
      DROP TABLE services;
      INSERT INTO aperture_charges (payment_hash, claim_id, challenge_id, expires_at, consumed_at)
        SELECT payment_hash, 'v3:' || payment_hash, challenge_id, expires_at, consumed_at FROM mpp_charges;
      DROP TABLE mpp_charges;
      INSERT INTO aperture_sessions (id, payment_hash, deposit_sats, spent_sats, return_invoice, status,
          created_at, updated_at, closed_at, refund_status, refund_updated_at)
        SELECT id, payment_hash, MAX(deposit_sats, balance_sats), MAX(deposit_sats, balance_sats) - balance_sats, return_invoice,
          CASE WHEN state = 'open' THEN 'open' ELSE 'closed' END,
          created_at, updated_at,
          CASE WHEN state = 'open' THEN NULL ELSE updated_at END,
          CASE WHEN state = 'closing' THEN 'pending' ELSE NULL END,
          CASE WHEN state = 'closing' THEN updated_at ELSE NULL END
        FROM mpp_sessions;
      INSERT INTO aperture_session_credits (payment_hash, session_id, amount_sats, created_at)
        SELECT m.payment_hash, m.id, MAX(m.deposit_sats, m.balance_sats), m.created_at FROM mpp_sessions m
        WHERE m.id = (SELECT MIN(o.id) FROM mpp_sessions o WHERE o.payment_hash = m.payment_hash);
      DROP TABLE mpp_sessions;`,
    postgres: `${ROLE_TABLES.postgres}
      INSERT INTO aperture_services (name, config, version, created_at, updated_at)
        SELECT name, config, 1, created_at, updated_at FROM services;
      UPDATE aperture_service_registry SET version = 1 WHERE EXISTS (SELECT 1 FROM aperture_services);
      DROP TABLE services;
      INSERT INTO aperture_charges (payment_hash, claim_id, challenge_id, expires_at, consumed_at)
        SELECT payment_hash, 'v3:' || payment_hash, challenge_id, expires_at, consumed_at FROM mpp_charges;
      DROP TABLE mpp_charges;
      INSERT INTO aperture_sessions (id, payment_hash, deposit_sats, spent_sats, return_invoice, status,
          created_at, updated_at, closed_at, refund_status, refund_updated_at)
        SELECT id, payment_hash, GREATEST(deposit_sats, balance_sats), GREATEST(deposit_sats, balance_sats) - balance_sats, return_invoice,
          CASE WHEN state = 'open' THEN 'open' ELSE 'closed' END,
          created_at, updated_at,
          CASE WHEN state = 'open' THEN NULL ELSE updated_at END,
          CASE WHEN state = 'closing' THEN 'pending' ELSE NULL END,
          CASE WHEN state = 'closing' THEN updated_at ELSE NULL END
        FROM mpp_sessions;
      INSERT INTO aperture_session_credits (payment_hash, session_id, amount_sats, created_at)
        SELECT m.payment_hash, m.id, GREATEST(m.deposit_sats, m.balance_sats), m.created_at FROM mpp_sessions m
        WHERE m.id = (SELECT MIN(o.id) FROM mpp_sessions o WHERE o.payment_hash = m.payment_hash);
      DROP TABLE mpp_sessions;`,
  },
  {
    version: 5,
    name: "the Go aperture's database: ledger row source, import bookkeeping",
    sqlite: GO_ADOPTION,
    postgres: GO_ADOPTION,
  },
  {
    version: 6,
    name: 'session refunds: the abandoned state',
    // SQLite cannot change a CHECK constraint: the table is rebuilt with the same columns and indexes.
    sqlite: `
      CREATE TABLE aperture_sessions_v6 (
        id TEXT PRIMARY KEY,
        payment_hash TEXT NOT NULL,
        deposit_sats INTEGER NOT NULL CHECK (deposit_sats >= 0),
        spent_sats INTEGER NOT NULL CHECK (spent_sats >= 0 AND spent_sats <= deposit_sats),
        return_invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        closed_at INTEGER,
        refund_status TEXT CHECK (refund_status IN ('pending', 'in-flight', 'succeeded', 'failed', 'skipped', 'abandoned')),
        refund_attempts INTEGER NOT NULL DEFAULT 0,
        refund_error TEXT,
        refund_updated_at INTEGER
      );
      INSERT INTO aperture_sessions_v6 SELECT id, payment_hash, deposit_sats, spent_sats, return_invoice, status, created_at,
        updated_at, closed_at, refund_status, refund_attempts, refund_error, refund_updated_at FROM aperture_sessions;
      DROP TABLE aperture_sessions;
      ALTER TABLE aperture_sessions_v6 RENAME TO aperture_sessions;
      CREATE INDEX aperture_sessions_idle_idx ON aperture_sessions (status, updated_at);
      CREATE INDEX aperture_sessions_refund_idx ON aperture_sessions (refund_status, refund_updated_at);`,
    postgres: `
      ALTER TABLE aperture_sessions DROP CONSTRAINT aperture_sessions_refund_status_check;
      ALTER TABLE aperture_sessions ADD CONSTRAINT aperture_sessions_refund_status_check
        CHECK (refund_status IN ('pending', 'in-flight', 'succeeded', 'failed', 'skipped', 'abandoned'));`,
  },
  {
    version: 7,
    name: 'lnc sessions',
    sqlite: LNC_SESSIONS.sqlite,
    postgres: LNC_SESSIONS.postgres,
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

/**
 * The schema of {@link LATEST_VERSION} in one step, for a database at version
 * 0: what versions 1 to 7 leave behind, without ever creating the tables that
 * versions 2 and 3 created and version 4 dropped (their names belong to the Go
 * aperture's schema). Later versions apply on top of it as on any database;
 * the migration tests compare both paths.
 */
export const BASELINE: { readonly version: number; readonly sqlite: string; readonly postgres: string } = {
  version: 7,
  sqlite: `${MIGRATIONS[0]?.sqlite ?? ''}${ROLE_TABLES.sqlite}${GO_ADOPTION}${MIGRATIONS[5]?.sqlite ?? ''}${LNC_SESSIONS.sqlite}`,
  postgres: `${MIGRATIONS[0]?.postgres ?? ''}${ROLE_TABLES.postgres}${GO_ADOPTION}${MIGRATIONS[5]?.postgres ?? ''}${LNC_SESSIONS.postgres}`,
};

/**
 * The steps that bring a database from `current` to {@link LATEST_VERSION}:
 * the baseline for a new database, then every later migration in order.
 * @param current - the version recorded in the database
 * @returns the SQL to run and the versions to record, in order
 */
export function pendingSteps(current: number): Array<{ sqlite: string; postgres: string; record: readonly Migration[] }> {
  const steps: Array<{ sqlite: string; postgres: string; record: readonly Migration[] }> = [];
  let from = current;
  if (current === 0) {
    steps.push({ sqlite: BASELINE.sqlite, postgres: BASELINE.postgres, record: MIGRATIONS.filter((m) => m.version <= BASELINE.version) });
    from = BASELINE.version;
  }
  for (const m of MIGRATIONS) if (m.version > from) steps.push({ sqlite: m.sqlite, postgres: m.postgres, record: [m] });
  return steps;
}
