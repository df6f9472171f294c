/**
 * The SQLite store (better-sqlite3): one file, synchronous, so that `getSecret`
 * answers without an await on the hot path. WAL journal with `synchronous=FULL`
 * (a commit survives power loss), a busy timeout for other processes on the
 * same file, and a poll of the revocations table so that revocations made by
 * another process reach this one's listeners. Every operation is one statement
 * or one `BEGIN IMMEDIATE` transaction, so it is atomic against every other
 * connection to the file, in this process or another.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import type { Clock } from '../core/types.js';
import { systemClock } from '../core/types.js';
import type { ApertureStore, GarbageReport, StoreHealth } from './aperture-store.js';
import type { ChargeClaim, ChargeDetails, ChargeRecord } from './charge-store.js';
import type {
  ChallengeRecord,
  PendingCursor,
  RevenueStats,
  TokenFilter,
  TransactionFilter,
  TransactionPage,
  TransactionRecord,
} from './ledger.js';
import type { RevocationEvent } from './root-key-store.js';
import type { ServiceRecord } from './service-registry.js';
import type { CreditOutcome, NewSession, OpenOutcome, RefundOutcome, RefundTiming, SessionCursor, SessionRecord } from './session-store.js';
import { MIGRATIONS_TABLE, LATEST_VERSION, pendingSteps } from './migrations.js';
import { STORE_SCHEMA_TOO_NEW, fromSqliteError, invalidArgument, unavailable } from './store-errors.js';
import { L402Error } from '../core/errors.js';
import { goSessionImportScript, goSessionStatements, type GoSessionStatements } from './go-session-import.js';
import { requireOptional } from '../core/optional-dependency.js';
import {
  RevocationListeners,
  checkChallenge,
  checkChargeDetails,
  checkDelta,
  checkFilter,
  checkHash,
  checkId,
  checkIdHash,
  checkIdlePage,
  checkNewSession,
  checkPage,
  checkPendingPage,
  checkPositive,
  checkedTime,
  identifierHash,
  refundError,
  refundTiming,
  serviceJson,
} from './store-support.js';
import {
  GO_MIGRATION_QUERY,
  SQLITE_GO_TIME_FUNCTION,
  addGoMigration,
  describeGoSchema,
  goColumnsQuery,
  goImportScript,
  goTimeText,
  parseGoTime,
  type GoApertureAdoption,
  GO_CHARGE_CONSUMED_QUERY,
} from './go-aperture-schema.js';
import {
  Rollback,
  creditSessionScript,
  garbageScript,
  idleSessionsQuery,
  newSecretIfAbsentScript,
  newSecretScript,
  openSessionScript,
  pendingQuery,
  positional,
  revenueQuery,
  revokeScript,
  serviceChangeScript,
  sqlFor,
  toCharge,
  toRevenueStats,
  toService,
  toSession,
  toTransaction,
  tokenQueries,
  transactionQueries,
  type Query,
  type Row,
  type Script,
  type Statements,
  type StepResult,
} from './sql-queries.js';
import { addLncSessionQuery, getLncSessionQuery, lncSessionFromRow, setLncExpiryQuery, setLncRemoteKeyQuery } from './lnc-session-sql.js';
import type { LncSessionRecord, LncSessionStore } from './lnc-session-store.js';

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
  /**
   * Adopt the Go aperture's tables when the file holds them (docs/storage.md, "The Go
   * aperture's database"): root keys read from and written to its `secrets`, its
   * ledger and services imported. Default true.
   */
  adoptGoAperture?: boolean;
  /** Clock for timestamps and the default "now"; default the wall clock. */
  clock?: Clock;
}

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
export class SqliteStore implements ApertureStore, LncSessionStore {
  /** Always `sqlite`. */
  readonly backend = 'sqlite' as const;
  /** Absolute path of the database file. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  #sql: Statements = sqlFor('sqlite');
  #goAperture: GoApertureAdoption | undefined;
  #goSessions: GoSessionStatements | undefined;
  readonly #origin = randomUUID();
  readonly #listeners = new RevocationListeners();
  readonly #statements = new Map<string, { stmt: Database.Statement; order: number[] | undefined }>();
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
      if (options.adoptGoAperture !== false) this.#adoptGoAperture();
      // With skipMigrations the table may not exist yet; polling then starts from 0.
      const max =
        db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'revocations'").get() === undefined
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

  // The Go aperture's tables, when the file holds them: root keys through `secrets`, and
  // its ledger and services imported in one IMMEDIATE transaction (src/store/go-aperture-schema.ts).
  #adoptGoAperture(): void {
    const db = this.#db;
    db.function(SQLITE_GO_TIME_FUNCTION, { deterministic: true }, (value: unknown) => parseGoTime(value));
    const schema = describeGoSchema(db.prepare(goColumnsQuery('sqlite').text).all() as Row[]);
    if (schema === undefined) return;
    if (schema.tables.includes('schema_migrations')) {
      try {
        addGoMigration(schema, db.prepare(GO_MIGRATION_QUERY.text).all() as Row[]);
      } catch {
        // Not golang-migrate's table after all: the version stays unknown.
      }
    }
    if (schema.secrets) this.#sql = sqlFor('sqlite', { goSecrets: true });
    const ours = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'aperture_go_import'").get() !== undefined;
    const imported = ours
      ? this.#script("import of the Go aperture's database", goImportScript('sqlite', this.#sql, schema, this.#clock.now()))
      : undefined;
    this.#goAperture = { schema, secrets: schema.secrets, imported };
    this.#goSessions = goSessionStatements('sqlite', schema);
  }

  /**
   * The Go aperture's database as found and adopted at open, or `undefined`
   * when the file holds none of its tables (or adoption is off).
   */
  get goAperture(): GoApertureAdoption | undefined {
    return this.#goAperture;
  }

  // Prepared statements by their `$n` text; SQLite gets `?` placeholders and
  // the values in the order those appear.
  #stmt(sql: string): { stmt: Database.Statement; order: number[] | undefined } {
    if (this.#closed) throw unavailable('the SQLite store is closed');
    let s = this.#statements.get(sql);
    if (s === undefined) {
      const p = positional(sql);
      s = { stmt: this.#db.prepare(p.text), order: p.order };
      this.#statements.set(sql, s);
    }
    return s;
  }

  #step(q: Query): StepResult {
    const { stmt, order } = this.#stmt(q.text);
    const values = order === undefined ? q.values : order.map((i) => q.values[i]);
    if (stmt.reader) {
      const rows = stmt.all(...values) as Row[];
      return { rows, changes: rows.length };
    }
    return { rows: [], changes: stmt.run(...values).changes };
  }

  #run(text: string, values: unknown[]): number {
    return this.#step({ text, values }).changes;
  }

  // One row: `get` rather than `all`, so that the hot path (getSecret) builds no array.
  #get(text: string, values: unknown[]): Row | undefined {
    const { stmt, order } = this.#stmt(text);
    return stmt.get(...(order === undefined ? values : order.map((i) => values[i]))) as Row | undefined;
  }

  #all(q: Query): Row[] {
    return this.#step(q).rows;
  }

  // Runs `body` and maps any driver error to a coded L402Error.
  #do<T>(what: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw fromSqliteError(error, what);
    }
  }

  // Runs a script inside one IMMEDIATE transaction (the write lock taken at
  // BEGIN, so that scripts of other connections queue instead of failing).
  #script<T>(what: string, script: Script<T>): T {
    return this.#do(what, () => {
      try {
        return this.#db
          .transaction(() => {
            let next = script.next();
            while (next.done !== true) next = script.next(this.#step(next.value));
            if (next.value instanceof Rollback) throw next.value;
            return next.value;
          })
          .immediate();
      } catch (error) {
        if (error instanceof Rollback) return error.value as T;
        throw error;
      }
    });
  }

  /** {@inheritDoc ApertureStore.newSecret} */
  async newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    checkIdHash(idHash);
    const key = new Uint8Array(randomBytes(32));
    const now = this.#clock.now();
    if (this.#sql.goSecrets)
      this.#script('newSecret', newSecretScript(this.#sql, Buffer.from(idHash), Buffer.from(key), now, goTimeText(now)));
    else this.#do('newSecret', () => this.#run(this.#sql.newSecret, [Buffer.from(idHash), Buffer.from(key), now]));
    return key;
  }

  /** {@inheritDoc ApertureStore.newSecretIfAbsent} */
  async newSecretIfAbsent(idHash: Uint8Array): Promise<Uint8Array> {
    checkIdHash(idHash);
    const now = this.#clock.now();
    const key = randomBytes(32);
    return new Uint8Array(
      this.#script('newSecretIfAbsent', newSecretIfAbsentScript(this.#sql, Buffer.from(idHash), key, now, goTimeText(now))),
    );
  }

  /** {@inheritDoc ApertureStore.getSecret} */
  getSecret(idHash: Uint8Array): Uint8Array | undefined {
    checkIdHash(idHash);
    const row = this.#do('getSecret', () => this.#get(this.#sql.getSecret, [Buffer.from(idHash)]));
    return row === undefined ? undefined : new Uint8Array(row['root_key'] as Buffer);
  }

  /** {@inheritDoc ApertureStore.revokeSecret} */
  async revokeSecret(idHash: Uint8Array): Promise<boolean> {
    checkIdHash(idHash);
    return this.#revoke(Buffer.from(idHash).toString('hex'), undefined).deleted;
  }

  /** {@inheritDoc ApertureStore.revokeToken} */
  async revokeToken(tokenId: string): Promise<boolean> {
    const row = this.#do('revokeToken', () => this.#get(this.#sql.revocationTarget, [tokenId]));
    if (row === undefined) return false;
    const idHash = row['auth_type'] === 'l402' ? identifierHash(String(row['payment_hash']), tokenId) : undefined;
    if (idHash === undefined)
      return this.#do('revokeToken', () => this.#run(this.#sql.markRevokedByToken, [this.#clock.now(), tokenId]) > 0);
    const r = this.#revoke(idHash, tokenId);
    return r.deleted || r.marked;
  }

  // Deletes the root key, marks the ledger row and logs the revocation in one
  // transaction, then tells listeners here and in this process's other stores.
  #revoke(idHash: string, knownTokenId: string | undefined): { deleted: boolean; marked: boolean } {
    const result = this.#script('revocation', revokeScript(this.#sql, idHash, knownTokenId, this.#origin, this.#clock.now()));
    if (result.seq > 0) {
      const tokenId = result.tokenId;
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
      rows = this.#all({ text: this.#sql.revocationsAfter, values: [this.#lastSeq] });
    } catch {
      // The file is busy or failing; the next poll tries again and health() reports it.
      return;
    }
    for (const row of rows) {
      const seq = Number(row['seq']);
      this.#lastSeq = Math.max(this.#lastSeq, seq);
      if (this.#delivered.delete(seq) || row['origin'] === this.#origin) continue;
      this.#listeners.emit({
        idHash: String(row['id_hash']),
        tokenId: row['token_id'] === null ? undefined : String(row['token_id']),
        remote: true,
      });
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
    return this.#do(
      'recordChallenge',
      () =>
        this.#run(this.#sql.recordChallenge, [
          record.tokenId,
          record.paymentHash,
          idHash ?? null,
          record.service,
          record.priceSats,
          record.authType,
          record.createdAt,
          record.expiresAt,
        ]) > 0,
    );
  }

  /** {@inheritDoc ApertureStore.markSettled} */
  async markSettled(paymentHash: string, settledAt: number, amountPaidSats: number): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    return this.#do('markSettled', () => this.#run(this.#sql.markSettled, [settledAt, amountPaidSats, paymentHash]) > 0);
  }

  /** {@inheritDoc ApertureStore.getTransaction} */
  async getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined> {
    const row = this.#do('getTransaction', () => this.#get(this.#sql.getTransaction, [tokenId]));
    return row === undefined ? undefined : toTransaction(row, now ?? this.#clock.now());
  }

  /** {@inheritDoc ApertureStore.listTransactions} */
  async listTransactions(filter: TransactionFilter = {}): Promise<TransactionPage> {
    const page = checkFilter(filter);
    const now = filter.now ?? this.#clock.now();
    return this.#do('listTransactions', () => this.#page(transactionQueries(filter, page, now), now));
  }

  /** {@inheritDoc ApertureStore.listTokens} */
  async listTokens(filter: TokenFilter = {}): Promise<TransactionPage> {
    const page = checkPage(filter.limit, filter.offset);
    return this.#do('listTokens', () => this.#page(tokenQueries(filter, page), this.#clock.now()));
  }

  #page(q: { rows: Query; count: Query }, now: number): TransactionPage {
    return this.#db.transaction(() => ({
      items: this.#all(q.rows).map((r) => toTransaction(r, now)),
      total: Number(this.#all(q.count)[0]?.['n'] ?? 0),
    }))();
  }

  /** {@inheritDoc ApertureStore.revenueStats} */
  async revenueStats(range: { start?: number; end?: number } = {}): Promise<RevenueStats> {
    return toRevenueStats(this.#do('revenueStats', () => this.#all(revenueQuery(range))));
  }

  /** {@inheritDoc ApertureStore.listPendingUnexpired} */
  async listPendingUnexpired(now: number, limit = 1000, after?: PendingCursor): Promise<TransactionRecord[]> {
    checkPendingPage(limit, after);
    const rows = this.#do('listPendingUnexpired', () => this.#all(pendingQuery(now, limit, after)));
    return rows.map((r) => toTransaction(r, now));
  }

  /** {@inheritDoc ApertureStore.listServices} */
  async listServices(): Promise<ServiceRecord[]> {
    return this.#do('listServices', () => this.#all({ text: this.#sql.listServices, values: [] })).map(toService);
  }

  /** {@inheritDoc ApertureStore.getService} */
  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = this.#do('getService', () => this.#get(this.#sql.getService, [name]));
    return row === undefined ? undefined : toService(row);
  }

  /** {@inheritDoc ApertureStore.createService} */
  async createService(name: string, config: unknown): Promise<boolean> {
    const json = serviceJson(name, config);
    const now = this.#clock.now();
    return this.#script(
      'createService',
      serviceChangeScript(this.#sql, (v) => ({ text: this.#sql.insertService, values: [name, json, v, now] })),
    );
  }

  /** {@inheritDoc ApertureStore.updateService} */
  async updateService(name: string, config: unknown): Promise<boolean> {
    const json = serviceJson(name, config);
    const now = this.#clock.now();
    return this.#script(
      'updateService',
      serviceChangeScript(this.#sql, (v) => ({ text: this.#sql.updateService, values: [json, v, now, name] })),
    );
  }

  /** {@inheritDoc ApertureStore.deleteService} */
  async deleteService(name: string): Promise<boolean> {
    return this.#script(
      'deleteService',
      serviceChangeScript(this.#sql, () => ({ text: this.#sql.deleteService, values: [name] })),
    );
  }

  /** {@inheritDoc ApertureStore.servicesVersion} */
  async servicesVersion(): Promise<number> {
    return Number(this.#do('servicesVersion', () => this.#get(this.#sql.registryVersion, []))?.['version'] ?? 0);
  }

  /** {@inheritDoc ApertureStore.consumeCharge} */
  async consumeCharge(paymentHash: string, details: ChargeDetails = {}): Promise<ChargeClaim | undefined> {
    checkHash(paymentHash, 'paymentHash');
    checkChargeDetails(details);
    const claim: ChargeClaim = { paymentHash, claimId: randomUUID(), consumedAt: details.consumedAt ?? this.#clock.now() };
    const inserted = this.#do('consumeCharge', () =>
      this.#run(this.#sql.consumeCharge, [
        paymentHash,
        claim.claimId,
        details.challengeId ?? null,
        details.expiresAt ?? null,
        claim.consumedAt,
      ]),
    );
    return inserted > 0 ? claim : undefined;
  }

  /** {@inheritDoc ApertureStore.releaseCharge} */
  async releaseCharge(claim: ChargeClaim): Promise<boolean> {
    checkHash(claim.paymentHash, 'paymentHash');
    return this.#do('releaseCharge', () => this.#run(this.#sql.releaseCharge, [claim.paymentHash, claim.claimId]) > 0);
  }

  /** {@inheritDoc ApertureStore.getCharge} */
  async getCharge(paymentHash: string): Promise<ChargeRecord | undefined> {
    const row = this.#do('getCharge', () => this.#get(this.#sql.getCharge, [paymentHash]));
    return row === undefined ? undefined : toCharge(row);
  }

  /** {@inheritDoc ApertureStore.goChargeConsumed} */
  async goChargeConsumed(paymentHash: string): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    if (this.#goAperture?.schema.tables.includes('mpp_consumed_charges') !== true) return false;
    return this.#do('goChargeConsumed', () => this.#get(GO_CHARGE_CONSUMED_QUERY, [Buffer.from(paymentHash, 'hex')])) !== undefined;
  }

  /** {@inheritDoc ApertureStore.importGoSession} */
  async importGoSession(id: string): Promise<boolean> {
    checkId(id, 'session id');
    if (this.#goSessions === undefined) return false;
    const now = this.#clock.now();
    return this.#script('importGoSession', goSessionImportScript(this.#goSessions, id, now, goTimeText(now)));
  }

  /** {@inheritDoc ApertureStore.goCreditOwner} */
  async goCreditOwner(paymentHash: string): Promise<string | undefined> {
    checkHash(paymentHash, 'paymentHash');
    const text = this.#goSessions?.creditOwner;
    if (text === undefined) return undefined;
    const row = this.#do('goCreditOwner', () => this.#get(text, [Buffer.from(paymentHash, 'hex')]));
    return row === undefined ? undefined : String(row['session_id']);
  }

  /** {@inheritDoc ApertureStore.pruneCharges} */
  async pruneCharges(expiredBefore: number): Promise<number> {
    return this.#do('pruneCharges', () => this.#run(this.#sql.pruneCharges, [expiredBefore]));
  }

  /** {@inheritDoc ApertureStore.openSession} */
  async openSession(session: NewSession): Promise<OpenOutcome> {
    const now = checkNewSession(session, this.#clock.now());
    return this.#script('openSession', openSessionScript(this.#sql, { ...session, now }));
  }

  /** {@inheritDoc ApertureStore.getSession} */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.#do('getSession', () => this.#get(this.#sql.getSession, [id]));
    return row === undefined ? undefined : toSession(row);
  }

  /** {@inheritDoc ApertureStore.creditSession} */
  async creditSession(id: string, paymentHash: string, amountSats: number, now?: number): Promise<CreditOutcome> {
    checkId(id, 'session id');
    checkHash(paymentHash, 'paymentHash');
    checkPositive(amountSats, 'amountSats');
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#script('creditSession', creditSessionScript(this.#sql, id, paymentHash, amountSats, at));
  }

  #sessionUpdate(what: string, text: string, values: unknown[]): SessionRecord | undefined {
    const row = this.#do(what, () => this.#get(text, values));
    return row === undefined ? undefined : toSession(row);
  }

  /** {@inheritDoc ApertureStore.debitSession} */
  async debitSession(id: string, amountSats: number, now?: number): Promise<SessionRecord | undefined> {
    checkPositive(amountSats, 'amountSats');
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#sessionUpdate('debitSession', this.#sql.debitSession, [amountSats, at, id]);
  }

  /** {@inheritDoc ApertureStore.settleSession} */
  async settleSession(id: string, deltaSats: number, now?: number): Promise<SessionRecord | undefined> {
    checkDelta(deltaSats);
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#sessionUpdate('settleSession', this.#sql.settleSession, [deltaSats, at, id]);
  }

  /** {@inheritDoc ApertureStore.closeSession} */
  async closeSession(id: string, now?: number): Promise<SessionRecord | undefined> {
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#sessionUpdate('closeSession', this.#sql.closeSession, [at, id]);
  }

  /** {@inheritDoc ApertureStore.listIdleSessions} */
  async listIdleSessions(idleBefore: number, limit = 100, after?: SessionCursor): Promise<SessionRecord[]> {
    checkIdlePage(idleBefore, limit, after);
    return this.#do('listIdleSessions', () => this.#all(idleSessionsQuery(this.#sql, idleBefore, limit, after))).map(toSession);
  }

  /** {@inheritDoc ApertureStore.beginRefund} */
  async beginRefund(id: string, timing: RefundTiming = {}): Promise<SessionRecord | undefined> {
    const { now, staleBefore } = refundTiming(timing, this.#clock.now());
    return this.#sessionUpdate('beginRefund', this.#sql.beginRefund, [now, id, staleBefore]);
  }

  /** {@inheritDoc ApertureStore.finishRefund} */
  async finishRefund(id: string, outcome: RefundOutcome, now?: number): Promise<SessionRecord | undefined> {
    const error = refundError(outcome);
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#sessionUpdate('finishRefund', this.#sql.finishRefund, [outcome.status, error, at, id]);
  }

  /** {@inheritDoc ApertureStore.listRefundsDue} */
  async listRefundsDue(limit = 100, timing: RefundTiming = {}): Promise<SessionRecord[]> {
    checkPage(limit, 0);
    const { staleBefore } = refundTiming(timing, this.#clock.now());
    return this.#do('listRefundsDue', () => this.#all({ text: this.#sql.refundsDue, values: [staleBefore, limit] })).map(toSession);
  }

  /** {@inheritDoc ApertureStore.collectGarbage} */
  async collectGarbage(now: number, graceMs: number): Promise<GarbageReport> {
    return this.#script('collectGarbage', garbageScript(this.#sql, now - graceMs));
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

  /**
   * The LNC session of a pairing phrase.
   * @param entropy - the phrase's 14-byte entropy
   * @returns the session, or undefined when none is stored
   */
  async getLncSession(entropy: Uint8Array): Promise<LncSessionRecord | undefined> {
    const rows = this.#lnc(getLncSessionQuery(entropy), 'getLncSession');
    return rows[0] === undefined ? undefined : lncSessionFromRow(rows[0]);
  }

  /**
   * Stores a new LNC session.
   * @param session - the session
   * @returns false when one with this phrase or entropy exists (it is left alone)
   */
  async addLncSession(session: LncSessionRecord): Promise<boolean> {
    return this.#lnc(addLncSessionQuery(session, 'sqlite'), 'addLncSession').length > 0;
  }

  /**
   * Records the node's static key, learnt by pairing.
   * @param entropy - the session's entropy
   * @param remoteStaticPubKey - 33 bytes
   * @returns false when no such session exists
   */
  async setLncRemoteKey(entropy: Uint8Array, remoteStaticPubKey: Uint8Array): Promise<boolean> {
    return this.#lnc(setLncRemoteKeyQuery(entropy, remoteStaticPubKey), 'setLncRemoteKey').length > 0;
  }

  /**
   * Records when the LNC session expires.
   * @param entropy - the session's entropy
   * @param expiry - milliseconds since the epoch
   * @returns false when no such session exists
   */
  async setLncExpiry(entropy: Uint8Array, expiry: number): Promise<boolean> {
    return this.#lnc(setLncExpiryQuery(entropy, expiry), 'setLncExpiry').length > 0;
  }

  #lnc(q: Query, what: string): Row[] {
    return this.#do(what, () => this.#all(q));
  }
}

/**
 * Applies pending migrations (the baseline on a new file) inside one IMMEDIATE
 * transaction, so that two processes opening a new file at once do not both
 * apply them.
 * @param db - the connection
 * @param now - time recorded with each version
 * @throws L402Error `L402_ERR_STORE_SCHEMA_TOO_NEW` when the file is newer than this code
 */
function migrate(db: Database.Database, now: number): void {
  db.transaction(() => {
    db.exec(MIGRATIONS_TABLE);
    const current = Number((db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM aperture_migrations').get() as Row)['v']);
    if (current > LATEST_VERSION) {
      throw new L402Error(
        STORE_SCHEMA_TOO_NEW,
        `the database is at schema version ${current}; this version of aperture-ts knows up to ${LATEST_VERSION}`,
      );
    }
    const record = db.prepare('INSERT INTO aperture_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const step of pendingSteps(current)) {
      db.exec(step.sqlite);
      for (const m of step.record) record.run(m.version, m.name, now);
    }
  }).immediate();
}
