/**
 * The SQLite store (better-sqlite3): one file, synchronous, so that `getSecret`
 * answers without an await on the hot path. WAL journal with `synchronous=FULL`
 * (a commit survives power loss), a busy timeout for other processes on the
 * same file, and a poll of the revocations table so that revocations made by
 * another process reach this one's listeners.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import type { Clock } from '../core/types.js';
import { systemClock } from '../core/types.js';
import type {
  ApertureStore,
  ChallengeRecord,
  ChargeDetails,
  GarbageReport,
  PendingCursor,
  RevenueStats,
  RevocationEvent,
  ServiceRecord,
  SessionPatch,
  SessionRecord,
  StoreHealth,
  TokenFilter,
  TransactionFilter,
  TransactionPage,
  TransactionRecord,
} from './aperture-store.js';
import { LATEST_VERSION, MIGRATIONS, MIGRATIONS_TABLE } from './migrations.js';
import { STORE_SCHEMA_TOO_NEW, fromSqliteError, invalidArgument, unavailable } from './store-errors.js';
import { L402Error } from '../core/errors.js';
import { requireOptional } from '../core/optional-dependency.js';
import {
  RevocationListeners,
  checkChallenge,
  checkDebit,
  checkFilter,
  checkHash,
  checkIdHash,
  checkPage,
  checkPendingPage,
  checkSession,
  checkSessionPatch,
  identifierHash,
  serviceJson,
} from './store-support.js';
import {
  SESSION_COLUMNS,
  TX_COLUMNS,
  pendingQuery,
  revenueQuery,
  sessionUpdate,
  sqlitePlaceholder,
  toRevenueStats,
  toService,
  toSession,
  toTransaction,
  tokenQueries,
  transactionQueries,
  type Query,
} from './sql-queries.js';

/** File name of the database in the base directory, as in the reference proxy. */
export const DEFAULT_SQLITE_FILE = 'aperture.db';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** Path of the database file; its directory is created (mode 0700) and a new file is mode 0600. */
  path?: string;
  /** Base directory; the file is `<baseDir>/aperture.db` when `path` is absent. */
  baseDir?: string;
  /** How long to wait for a lock held by another connection; default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * How often to look for revocations made by other processes; default 1000 ms,
   * 0 turns it off (same-process stores are told at once either way).
   */
  revocationPollMs?: number;
  /** Do not apply migrations (the schema is managed elsewhere). */
  skipMigrations?: boolean;
  /** Clock for timestamps and the default "now"; default the wall clock. */
  clock?: Clock;
}

type Row = Record<string, unknown>;

/** Creates an empty file with mode 0600 (never wider, whatever the umask) unless it exists. */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

// Stores of this process by database file, so that a revocation through one
// reaches the others at once rather than at the next poll.
const sameFile = new Map<string, Set<SqliteStore>>();

/**
 * {@link ApertureStore} on a SQLite file.
 * @example
 * const store = new SqliteStore({ baseDir: '/var/lib/aperture' });
 */
export class SqliteStore implements ApertureStore {
  /** Always `sqlite`. */
  readonly backend = 'sqlite' as const;
  /** Absolute path of the database file. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #origin = randomUUID();
  readonly #listeners = new RevocationListeners();
  readonly #statements = new Map<string, Database.Statement>();
  #poll: NodeJS.Timeout | undefined;
  #lastSeq = 0;
  #closed = false;

  /**
   * Opens (and creates) the database and applies pending migrations.
   * @param options - where the file is and how to open it
   * @throws L402Error `L402_ERR_STORE_UNAVAILABLE` when the file cannot be opened,
   *   `L402_ERR_STORE_SCHEMA_TOO_NEW` when a newer version migrated it,
   *   `L402_ERR_STORE_INVALID_ARGUMENT` when neither `path` nor `baseDir` is given,
   *   `L402_ERR_DEPENDENCY_MISSING` when the package better-sqlite3 is not installed
   */
  constructor(options: SqliteStoreOptions) {
    if (options.path === undefined && options.baseDir === undefined) {
      throw invalidArgument('SqliteStore needs path or baseDir');
    }
    const [BetterSqlite3] = requireOptional(createRequire(import.meta.url), 'SqliteStore', ['better-sqlite3']) as [typeof Database];
    this.path = resolve(options.path ?? join(options.baseDir ?? '.', DEFAULT_SQLITE_FILE));
    this.#clock = options.clock ?? systemClock;
    let db: Database.Database | undefined;
    try {
      // The file holds root keys: a directory created here is 0700, a new file 0600, and
      // SQLite creates its -wal, -shm and -journal files with the database file's mode.
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      createPrivateFile(this.path);
      db = new BetterSqlite3(this.path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      if (options.skipMigrations !== true) migrate(db, this.#clock.now());
      this.#db = db;
      // With skipMigrations the table may not exist yet; polling then starts from 0.
      const max = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'revocations'").get() === undefined
        ? undefined
        : (db.prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM revocations').get() as Row);
      this.#lastSeq = Number(max?.['n'] ?? 0);
    } catch (error) {
      db?.close();
      if (error instanceof L402Error) throw error;
      const code = (error as { code?: string }).code;
      if (typeof code === 'string' && !code.startsWith('SQLITE_')) {
        throw unavailable(`cannot open SQLite database ${this.path}: ${(error as Error).message}`, error);
      }
      throw fromSqliteError(error, `open of ${this.path}`);
    }
    const peers = sameFile.get(this.path) ?? new Set<SqliteStore>();
    peers.add(this);
    sameFile.set(this.path, peers);
    const pollMs = options.revocationPollMs ?? 1000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => this.#pollRevocations(), pollMs);
      this.#poll.unref();
    }
  }

  #stmt(sql: string): Database.Statement {
    if (this.#closed) throw unavailable('the SQLite store is closed');
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #run(sql: string, values: readonly unknown[]): Database.RunResult {
    return this.#stmt(sql).run(...values);
  }

  #get(sql: string, values: readonly unknown[]): Row | undefined {
    return this.#stmt(sql).get(...values) as Row | undefined;
  }

  #all(q: Query): Row[] {
    return this.#stmt(q.text).all(...q.values) as Row[];
  }

  // Runs `body` and maps any driver error to a coded L402Error.
  #do<T>(what: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw fromSqliteError(error, what);
    }
  }

  /** {@inheritDoc ApertureStore.newSecret} */
  async newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    checkIdHash(idHash);
    const key = new Uint8Array(randomBytes(32));
    this.#do('newSecret', () =>
      this.#run(
        'INSERT INTO root_keys (id_hash, root_key, created_at) VALUES (?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET root_key = excluded.root_key, created_at = excluded.created_at',
        [Buffer.from(idHash), Buffer.from(key), this.#clock.now()],
      ),
    );
    return key;
  }

  /** {@inheritDoc ApertureStore.getSecret} */
  getSecret(idHash: Uint8Array): Uint8Array | undefined {
    checkIdHash(idHash);
    const row = this.#do('getSecret', () => this.#get('SELECT root_key FROM root_keys WHERE id_hash = ?', [Buffer.from(idHash)]));
    return row === undefined ? undefined : new Uint8Array(row['root_key'] as Buffer);
  }

  /** {@inheritDoc ApertureStore.revokeSecret} */
  async revokeSecret(idHash: Uint8Array): Promise<boolean> {
    checkIdHash(idHash);
    const hex = Buffer.from(idHash).toString('hex');
    const row = this.#do('revokeSecret', () => this.#get('SELECT token_id FROM transactions WHERE id_hash = ?', [hex]));
    const tokenId = row === undefined ? undefined : String(row['token_id']);
    return this.#revoke(hex, tokenId).deleted;
  }

  /** {@inheritDoc ApertureStore.revokeToken} */
  async revokeToken(tokenId: string): Promise<boolean> {
    const row = this.#do('revokeToken', () => this.#get('SELECT payment_hash, auth_type FROM transactions WHERE token_id = ?', [tokenId]));
    if (row === undefined) return false;
    const idHash = row['auth_type'] === 'l402' ? identifierHash(String(row['payment_hash']), tokenId) : undefined;
    if (idHash === undefined) {
      const now = this.#clock.now();
      return this.#do('revokeToken', () => this.#run('UPDATE transactions SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL', [now, tokenId]).changes > 0);
    }
    const r = this.#revoke(idHash, tokenId);
    return r.deleted || r.marked;
  }

  // Deletes the root key, marks the ledger row and logs the revocation in one
  // transaction, then tells listeners here and in this process's other stores.
  #revoke(idHash: string, tokenId: string | undefined): { deleted: boolean; marked: boolean } {
    const now = this.#clock.now();
    const result = this.#do('revocation', () =>
      this.#db.transaction(() => {
        const deleted = this.#run('DELETE FROM root_keys WHERE id_hash = ?', [Buffer.from(idHash, 'hex')]).changes > 0;
        const marked = tokenId !== undefined && this.#run('UPDATE transactions SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL', [now, tokenId]).changes > 0;
        let seq = 0;
        if (deleted || marked) {
          seq = Number(this.#run('INSERT INTO revocations (id_hash, token_id, origin, revoked_at) VALUES (?, ?, ?, ?)', [idHash, tokenId ?? null, this.#origin, now]).lastInsertRowid);
        }
        return { deleted, marked, seq };
      }).immediate(),
    );
    if (result.seq > 0) {
      this.#listeners.emit({ idHash, tokenId, remote: false });
      for (const peer of sameFile.get(this.path) ?? []) {
        if (peer !== this) peer.#deliver(result.seq, { idHash, tokenId, remote: true });
      }
    }
    return result;
  }

  #deliver(seq: number, event: RevocationEvent): void {
    if (this.#closed) return;
    // The poll reads rows after #lastSeq; a row delivered here is skipped there
    // only if nothing older is still unread, so remember the seq separately.
    this.#delivered.add(seq);
    this.#listeners.emit(event);
  }

  readonly #delivered = new Set<number>();

  #pollRevocations(): void {
    if (this.#closed) return;
    let rows: Row[];
    try {
      rows = this.#all({ text: 'SELECT seq, id_hash, token_id, origin FROM revocations WHERE seq > ? ORDER BY seq', values: [this.#lastSeq] });
    } catch {
      // The file is busy or failing; the next poll tries again and health() reports it.
      return;
    }
    for (const row of rows) {
      const seq = Number(row['seq']);
      this.#lastSeq = Math.max(this.#lastSeq, seq);
      if (this.#delivered.delete(seq) || row['origin'] === this.#origin) continue;
      this.#listeners.emit({ idHash: String(row['id_hash']), tokenId: row['token_id'] === null ? undefined : String(row['token_id']), remote: true });
    }
  }

  /** {@inheritDoc ApertureStore.onRevoked} */
  onRevoked(listener: (event: RevocationEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** {@inheritDoc ApertureStore.recordChallenge} */
  async recordChallenge(record: ChallengeRecord): Promise<boolean> {
    checkChallenge(record);
    const idHash = record.authType === 'l402' ? identifierHash(record.paymentHash, record.tokenId) : undefined;
    return this.#do('recordChallenge', () =>
      this.#run(
        `INSERT INTO transactions (token_id, payment_hash, id_hash, service, price_sats, auth_type, state, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (token_id) DO NOTHING`,
        [record.tokenId, record.paymentHash, idHash ?? null, record.service, record.priceSats, record.authType, record.createdAt, record.expiresAt],
      ).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.markSettled} */
  async markSettled(paymentHash: string, settledAt: number, amountPaidSats: number): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    return this.#do('markSettled', () =>
      this.#run(
        `UPDATE transactions SET state = 'settled', settled_at = ?, amount_paid_sats = ? WHERE payment_hash = ? AND state = 'pending'`,
        [settledAt, amountPaidSats, paymentHash],
      ).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.getTransaction} */
  async getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined> {
    const row = this.#do('getTransaction', () => this.#get(`SELECT ${TX_COLUMNS} FROM transactions WHERE token_id = ?`, [tokenId]));
    return row === undefined ? undefined : toTransaction(row, now ?? this.#clock.now());
  }

  /** {@inheritDoc ApertureStore.listTransactions} */
  async listTransactions(filter: TransactionFilter = {}): Promise<TransactionPage> {
    const page = checkFilter(filter);
    const now = filter.now ?? this.#clock.now();
    const q = transactionQueries(filter, page, now, sqlitePlaceholder);
    return this.#do('listTransactions', () => this.#page(q, now));
  }

  /** {@inheritDoc ApertureStore.listTokens} */
  async listTokens(filter: TokenFilter = {}): Promise<TransactionPage> {
    const page = checkPage(filter.limit, filter.offset);
    const q = tokenQueries(filter, page, sqlitePlaceholder);
    return this.#do('listTokens', () => this.#page(q, this.#clock.now()));
  }

  #page(q: { rows: Query; count: Query }, now: number): TransactionPage {
    return this.#db.transaction(() => ({
      items: this.#all(q.rows).map((r) => toTransaction(r, now)),
      total: Number(this.#all(q.count)[0]?.['n'] ?? 0),
    }))();
  }

  /** {@inheritDoc ApertureStore.revenueStats} */
  async revenueStats(range: { start?: number; end?: number } = {}): Promise<RevenueStats> {
    const rows = this.#do('revenueStats', () => this.#all(revenueQuery(range, sqlitePlaceholder)));
    return toRevenueStats(rows);
  }

  /** {@inheritDoc ApertureStore.listPendingUnexpired} */
  async listPendingUnexpired(now: number, limit = 1000, after?: PendingCursor): Promise<TransactionRecord[]> {
    checkPendingPage(limit, after);
    const rows = this.#do('listPendingUnexpired', () => this.#all(pendingQuery(now, limit, after, sqlitePlaceholder)));
    return rows.map((r) => toTransaction(r, now));
  }

  /** {@inheritDoc ApertureStore.listServices} */
  async listServices(): Promise<ServiceRecord[]> {
    return this.#do('listServices', () => this.#all({ text: 'SELECT name, config, created_at, updated_at FROM services ORDER BY name', values: [] })).map(toService);
  }

  /** {@inheritDoc ApertureStore.getService} */
  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = this.#do('getService', () => this.#get('SELECT name, config, created_at, updated_at FROM services WHERE name = ?', [name]));
    return row === undefined ? undefined : toService(row);
  }

  /** {@inheritDoc ApertureStore.createService} */
  async createService(name: string, config: unknown): Promise<boolean> {
    const json = serviceJson(name, config);
    const now = this.#clock.now();
    return this.#do('createService', () =>
      this.#run('INSERT INTO services (name, config, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING', [name, json, now, now]).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.updateService} */
  async updateService(name: string, config: unknown): Promise<boolean> {
    const json = serviceJson(name, config);
    return this.#do('updateService', () =>
      this.#run('UPDATE services SET config = ?, updated_at = ? WHERE name = ?', [json, this.#clock.now(), name]).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.deleteService} */
  async deleteService(name: string): Promise<boolean> {
    return this.#do('deleteService', () => this.#run('DELETE FROM services WHERE name = ?', [name]).changes > 0);
  }

  /** {@inheritDoc ApertureStore.consumeCharge} */
  async consumeCharge(paymentHash: string, details: ChargeDetails = {}): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    return this.#do('consumeCharge', () =>
      this.#run(
        'INSERT INTO mpp_charges (payment_hash, challenge_id, expires_at, consumed_at) VALUES (?, ?, ?, ?) ON CONFLICT (payment_hash) DO NOTHING',
        [paymentHash, details.challengeId ?? null, details.expiresAt ?? null, details.consumedAt ?? this.#clock.now()],
      ).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.createSession} */
  async createSession(s: SessionRecord): Promise<boolean> {
    checkSession(s);
    return this.#do('createSession', () =>
      this.#run(
        `INSERT INTO mpp_sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [s.id, s.paymentHash, s.depositSats, s.balanceSats, s.returnInvoice, s.state, s.createdAt, s.updatedAt],
      ).changes > 0,
    );
  }

  /** {@inheritDoc ApertureStore.getSession} */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.#do('getSession', () => this.#get(`SELECT ${SESSION_COLUMNS} FROM mpp_sessions WHERE id = ?`, [id]));
    return row === undefined ? undefined : toSession(row);
  }

  /** {@inheritDoc ApertureStore.updateSession} */
  async updateSession(id: string, patch: SessionPatch, now: number): Promise<SessionRecord | undefined> {
    checkSessionPatch(patch);
    const q = sessionUpdate(patch, id, now, sqlitePlaceholder);
    const row = this.#do('updateSession', () => this.#get(q.text, q.values));
    return row === undefined ? undefined : toSession(row);
  }

  /** {@inheritDoc ApertureStore.debitSession} */
  async debitSession(id: string, amountSats: number, now: number): Promise<SessionRecord | undefined> {
    checkDebit(amountSats);
    const row = this.#do('debitSession', () =>
      this.#get(
        `UPDATE mpp_sessions SET balance_sats = balance_sats - ?, updated_at = ? WHERE id = ? AND state = 'open' AND balance_sats >= ? RETURNING ${SESSION_COLUMNS}`,
        [amountSats, now, id, amountSats],
      ),
    );
    return row === undefined ? undefined : toSession(row);
  }

  /** {@inheritDoc ApertureStore.deleteSession} */
  async deleteSession(id: string): Promise<boolean> {
    return this.#do('deleteSession', () => this.#run('DELETE FROM mpp_sessions WHERE id = ?', [id]).changes > 0);
  }

  /** {@inheritDoc ApertureStore.collectGarbage} */
  async collectGarbage(now: number, graceMs: number): Promise<GarbageReport> {
    const cutoff = now - graceMs;
    return this.#do('collectGarbage', () =>
      this.#db.transaction(() => {
        const rootKeys = this.#run(
          `DELETE FROM root_keys WHERE id_hash IN (SELECT unhex(id_hash) FROM transactions WHERE state = 'pending' AND expires_at < ? AND id_hash IS NOT NULL)`,
          [cutoff],
        ).changes;
        const transactions = this.#run(`DELETE FROM transactions WHERE state = 'pending' AND expires_at < ?`, [cutoff]).changes;
        const charges = this.#run('DELETE FROM mpp_charges WHERE expires_at IS NOT NULL AND expires_at < ?', [cutoff]).changes;
        return { rootKeys, transactions, charges };
      }).immediate(),
    );
  }

  /** {@inheritDoc ApertureStore.health} */
  async health(): Promise<StoreHealth> {
    if (this.#closed) return { ok: false, backend: 'sqlite', detail: 'closed' };
    try {
      this.#get('SELECT 1 AS ok', []);
      return { ok: true, backend: 'sqlite' };
    } catch (error) {
      return { ok: false, backend: 'sqlite', detail: (error as Error).message };
    }
  }

  /** {@inheritDoc ApertureStore.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#listeners.clear();
    const peers = sameFile.get(this.path);
    peers?.delete(this);
    if (peers?.size === 0) sameFile.delete(this.path);
    this.#statements.clear();
    this.#db.close();
  }
}

/**
 * Applies pending migrations inside one IMMEDIATE transaction, so that two
 * processes opening a new file at once do not both apply them.
 * @param db - the connection
 * @param now - time recorded with each version
 * @throws L402Error `L402_ERR_STORE_SCHEMA_TOO_NEW` when the file is newer than this code
 */
function migrate(db: Database.Database, now: number): void {
  db.transaction(() => {
    db.exec(MIGRATIONS_TABLE);
    const current = Number((db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM aperture_migrations').get() as Row)['v']);
    if (current > LATEST_VERSION) {
      throw new L402Error(STORE_SCHEMA_TOO_NEW, `the database is at schema version ${current}; this version of aperture-ts knows up to ${LATEST_VERSION}`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sqlite);
      db.prepare('INSERT INTO aperture_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now);
    }
  }).immediate();
}
