/**
 * The PostgreSQL store (`pg` Pool), for many proxy instances sharing one
 * database. Revocations are announced with NOTIFY inside the revoking
 * transaction and received by every instance's LISTEN connection; after that
 * connection drops, it reconnects and replays the revocations it missed from
 * the `revocations` table. Every operation is one statement or one
 * transaction (READ COMMITTED), so it is atomic against every other instance.
 *
 * Connection failures never crash the process: pool and client `error` events
 * are caught, methods throw `L402_ERR_STORE_UNAVAILABLE`, and the pool opens
 * fresh connections once the database is back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { L402Error } from '../core/errors.js';
import { goSessionImportScript, goSessionStatements, type GoSessionStatements } from './go-session-import.js';
import { requireOptional } from '../core/optional-dependency.js';
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
import { LATEST_VERSION, MIGRATIONS_TABLE, pendingSteps } from './migrations.js';
import { STORE_SCHEMA_TOO_NEW, fromPgError, invalidArgument, unavailable } from './store-errors.js';
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
  addGoMigration,
  describeGoSchema,
  goColumnsQuery,
  goImportScript,
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
} from './sql-queries.js';
import { addLncSessionQuery, getLncSessionQuery, lncSessionFromRow, setLncExpiryQuery, setLncRemoteKeyQuery } from './lnc-session-sql.js';
import type { LncSessionRecord, LncSessionStore } from './lnc-session-store.js';

/** NOTIFY channel of revocations (payload names the schema, so schemas sharing a database stay apart). */
export const REVOCATION_CHANNEL = 'aperture_revocations';

// Any fixed number: serialises migrations of instances starting together.
const MIGRATION_LOCK = 4_020_402;

/**
 * Options of {@link PostgresStore}. The connection keys are the reference
 * proxy's `postgres` section (`host`, `port`, `user`, `password`, `dbname`,
 * `maxconnections`, `requiressl`); a `connectionString` may be given instead.
 */
export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db`; other connection keys override its parts. */
  connectionString?: string;
  /** Host; default `localhost` (or the connection string's). */
  host?: string;
  /** Port; default 5432. */
  port?: number;
  /** User name. */
  user?: string;
  /** Password. */
  password?: string;
  /** Database name. */
  dbname?: string;
  /** Pool size; default 10. */
  maxconnections?: number;
  /** Require TLS to the server. */
  requiressl?: boolean;
  /** Schema for every table (created when missing, unless `skipMigrations`); default the server's search_path. */
  schema?: string;
  /** Give up connecting after this long; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Give up on a query after this long (client side); default 15000 ms. */
  queryTimeoutMs?: number;
  /** Do not apply migrations (the schema is managed elsewhere). */
  skipMigrations?: boolean;
  /**
   * Adopt the Go aperture's tables when the schema holds them (docs/storage.md, "The Go
   * aperture's database"): root keys read from and written to its `secrets`, its
   * ledger and services imported. Default true.
   */
  adoptGoAperture?: boolean;
  /** Clock for timestamps and the default "now"; default the wall clock. */
  clock?: Clock;
}

/**
 * {@link ApertureStore} on PostgreSQL. Create it with {@link PostgresStore.open}.
 * @example
 * const store = await PostgresStore.open({ host: 'db', user: 'aperture', dbname: 'aperture' });
 */
export class PostgresStore implements ApertureStore, LncSessionStore {
  /** Always `postgres`. */
  readonly backend = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #clientConfig: pg.ClientConfig;
  readonly #clock: Clock;
  #sql: Statements = sqlFor('postgres');
  #goAperture: GoApertureAdoption | undefined;
  #goSessions: GoSessionStatements | undefined;
  readonly #origin = randomUUID();
  readonly #listeners = new RevocationListeners();
  #schema = '';
  #lastSeq = 0;
  readonly #seen = new Set<number>();
  #listener: pg.Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #backoffMs = 100;
  #lastError: string | undefined;
  #closed = false;

  readonly #pg: typeof pg;

  private constructor(driver: typeof pg, config: pg.ClientConfig, max: number, clock: Clock) {
    this.#pg = driver;
    this.#clientConfig = config;
    this.#clock = clock;
    this.#pool = new driver.Pool({ ...config, max });
    // An idle client losing its connection emits 'error' on the pool; without a
    // listener that would be an uncaught exception. The next query reports it.
    this.#pool.on('error', (error) => {
      this.#lastError = error.message;
    });
  }

  /**
   * Connects, applies pending migrations and starts listening for revocations.
   * @param options - connection and behaviour
   * @returns the open store
   * @throws L402Error `L402_ERR_STORE_UNAVAILABLE` when the database cannot be reached,
   *   `L402_ERR_STORE_SCHEMA_TOO_NEW`, `L402_ERR_STORE_INVALID_ARGUMENT` for a bad schema name,
   *   `L402_ERR_DEPENDENCY_MISSING` when the package pg is not installed
   */
  static async open(options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const [driver] = requireOptional(createRequire(import.meta.url), 'PostgresStore', ['pg']) as [typeof pg];
    if (options.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(options.schema)) {
      throw invalidArgument('schema must be a plain identifier (letters, digits, underscore)');
    }
    const config: pg.ClientConfig = {
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      query_timeout: options.queryTimeoutMs ?? 15000,
      keepAlive: true,
    };
    if (options.connectionString !== undefined) config.connectionString = options.connectionString;
    if (options.host !== undefined) config.host = options.host;
    if (options.port !== undefined) config.port = options.port;
    if (options.user !== undefined) config.user = options.user;
    if (options.password !== undefined) config.password = options.password;
    if (options.dbname !== undefined) config.database = options.dbname;
    if (options.requiressl === true) config.ssl = true;
    if (options.schema !== undefined) config.options = `-c search_path=${options.schema}`;
    const store = new PostgresStore(driver, config, options.maxconnections ?? 10, options.clock ?? systemClock);
    try {
      if (options.skipMigrations !== true) await store.#migrate(options.schema);
      if (options.adoptGoAperture !== false) await store.#adoptGoAperture();
      const info = await store.#query({ text: 'SELECT current_schema() AS s', values: [] }, 'open');
      store.#schema = String(info[0]?.['s'] ?? '');
      const max = await store.#query({ text: store.#sql.lastRevocation, values: [] }, 'open');
      store.#lastSeq = Number(max[0]?.['n'] ?? 0);
      await store.#listen();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async #query(q: Query, what: string): Promise<Row[]> {
    if (this.#closed) throw unavailable('the PostgreSQL store is closed');
    try {
      const result = await this.#pool.query(q.text, q.values);
      return result.rows as Row[];
    } catch (error) {
      throw fromPgError(error, what);
    }
  }

  async #count(q: Query, what: string): Promise<number> {
    if (this.#closed) throw unavailable('the PostgreSQL store is closed');
    try {
      return (await this.#pool.query(q.text, q.values)).rowCount ?? 0;
    } catch (error) {
      throw fromPgError(error, what);
    }
  }

  // Runs `body` in one transaction on one pooled client. A client whose
  // connection broke is destroyed rather than returned to the pool.
  async #transaction<T>(what: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw unavailable('the PostgreSQL store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw fromPgError(error, what);
    }
    const onError = (): void => {};
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (error instanceof Rollback) throw error;
      broken = error instanceof Error ? error : new Error(String(error));
      throw fromPgError(error, what);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  // Runs a script inside one READ COMMITTED transaction, whatever the server's
  // default: the scripts rely on a statement seeing rows committed while an
  // earlier one of the same transaction waited for them.
  async #script<T>(what: string, script: Script<T>): Promise<T> {
    try {
      return await this.#transaction(what, async (c) => {
        await c.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        let next = script.next();
        while (next.done !== true) {
          const result = await c.query(next.value.text, next.value.values);
          next = script.next({ rows: result.rows as Row[], changes: result.rowCount ?? 0 });
        }
        if (next.value instanceof Rollback) throw next.value;
        return next.value;
      });
    } catch (error) {
      if (error instanceof Rollback) return error.value as T;
      throw error;
    }
  }

  // Under an advisory lock, so that instances starting together neither race
  // to create the schema nor apply a version twice.
  async #migrate(schema: string | undefined): Promise<void> {
    await this.#transaction('migration', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      if (schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await c.query(MIGRATIONS_TABLE);
      const current = Number((await c.query('SELECT COALESCE(MAX(version), 0) AS v FROM aperture_migrations')).rows[0]?.v ?? 0);
      if (current > LATEST_VERSION) {
        throw new L402Error(
          STORE_SCHEMA_TOO_NEW,
          `the database is at schema version ${current}; this version of aperture-ts knows up to ${LATEST_VERSION}`,
        );
      }
      for (const step of pendingSteps(current)) {
        await c.query(step.postgres);
        for (const m of step.record) {
          await c.query('INSERT INTO aperture_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            this.#clock.now(),
          ]);
        }
      }
    });
  }

  // The Go aperture's tables, when the schema holds them: root keys through `secrets`, and its
  // ledger and services imported in one transaction under the migration lock
  // (src/store/go-aperture-schema.ts).
  async #adoptGoAperture(): Promise<void> {
    const schema = describeGoSchema(await this.#query(goColumnsQuery('postgres'), 'open'));
    if (schema === undefined) return;
    if (schema.tables.includes('schema_migrations')) {
      try {
        addGoMigration(schema, await this.#query(GO_MIGRATION_QUERY, 'open'));
      } catch {
        // Not golang-migrate's table after all: the version stays unknown.
      }
    }
    if (schema.secrets) this.#sql = sqlFor('postgres', { goSecrets: true });
    const ours = await this.#query(
      {
        text: "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'aperture_go_import'",
        values: [],
      },
      'open',
    );
    const imported =
      ours.length > 0
        ? await this.#script("import of the Go aperture's database", goImportScript('postgres', this.#sql, schema, this.#clock.now()))
        : undefined;
    this.#goAperture = { schema, secrets: schema.secrets, imported };
    this.#goSessions = goSessionStatements('postgres', schema);
  }

  /**
   * The Go aperture's database as found and adopted at open, or `undefined`
   * when the schema holds none of its tables (or adoption is off).
   */
  get goAperture(): GoApertureAdoption | undefined {
    return this.#goAperture;
  }

  // Opens the LISTEN connection and replays revocations missed while it was
  // down. On failure it schedules another attempt with capped backoff.
  async #listen(): Promise<void> {
    const client = new this.#pg.Client(this.#clientConfig);
    client.on('error', (error) => this.#listenerLost(client, error));
    client.on('end', () => this.#listenerLost(client, new Error('LISTEN connection ended')));
    client.on('notification', (message) => this.#onNotification(message.payload));
    this.#listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      const missed = await client.query(this.#sql.revocationsAfter, [this.#lastSeq]);
      for (const row of missed.rows as Row[])
        this.#receive(Number(row['seq']), String(row['origin']), String(row['id_hash']), row['token_id']);
      this.#backoffMs = 100;
    } catch (error) {
      this.#listenerLost(client, error instanceof Error ? error : new Error(String(error)));
      throw fromPgError(error, 'LISTEN');
    }
  }

  #listenerLost(client: pg.Client, error: Error): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    this.#lastError = error.message;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 5000);
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      if (!this.#closed) this.#listen().catch(() => undefined);
    }, delay);
    this.#reconnect.unref();
  }

  #onNotification(payload: string | undefined): void {
    if (payload === undefined) return;
    let message: { schema?: unknown; origin?: unknown; seq?: unknown; idHash?: unknown; tokenId?: unknown };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    if (message.schema !== this.#schema) return;
    this.#receive(Number(message.seq), String(message.origin), String(message.idHash), message.tokenId);
  }

  #receive(seq: number, origin: string, idHash: string, tokenId: unknown): void {
    // Sequence values may commit out of order, so deduplicate by value rather
    // than trusting the high-water mark alone.
    if (this.#seen.has(seq)) return;
    this.#seen.add(seq);
    if (this.#seen.size > 10_000) this.#seen.delete(this.#seen.values().next().value as number);
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    if (origin === this.#origin) return;
    this.#listeners.emit({ idHash, tokenId: typeof tokenId === 'string' ? tokenId : undefined, remote: true });
  }

  /** {@inheritDoc ApertureStore.newSecret} */
  async newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    checkIdHash(idHash);
    const key = new Uint8Array(randomBytes(32));
    const now = this.#clock.now();
    if (this.#sql.goSecrets) await this.#script('newSecret', newSecretScript(this.#sql, Buffer.from(idHash), Buffer.from(key), now, now));
    else await this.#query({ text: this.#sql.newSecret, values: [Buffer.from(idHash), Buffer.from(key), now] }, 'newSecret');
    return key;
  }

  /** {@inheritDoc ApertureStore.newSecretIfAbsent} */
  async newSecretIfAbsent(idHash: Uint8Array): Promise<Uint8Array> {
    checkIdHash(idHash);
    const now = this.#clock.now();
    const key = randomBytes(32);
    return new Uint8Array(await this.#script('newSecretIfAbsent', newSecretIfAbsentScript(this.#sql, Buffer.from(idHash), key, now, now)));
  }

  /** {@inheritDoc ApertureStore.getSecret} */
  async getSecret(idHash: Uint8Array): Promise<Uint8Array | undefined> {
    checkIdHash(idHash);
    const rows = await this.#query({ text: this.#sql.getSecret, values: [Buffer.from(idHash)] }, 'getSecret');
    const key = rows[0]?.['root_key'];
    return key === undefined ? undefined : new Uint8Array(key as Buffer);
  }

  /** {@inheritDoc ApertureStore.revokeSecret} */
  async revokeSecret(idHash: Uint8Array): Promise<boolean> {
    checkIdHash(idHash);
    return (await this.#revoke(Buffer.from(idHash).toString('hex'), undefined)).deleted;
  }

  /** {@inheritDoc ApertureStore.revokeToken} */
  async revokeToken(tokenId: string): Promise<boolean> {
    const row = (await this.#query({ text: this.#sql.revocationTarget, values: [tokenId] }, 'revokeToken'))[0];
    if (row === undefined) return false;
    const idHash = row['auth_type'] === 'l402' ? identifierHash(String(row['payment_hash']), tokenId) : undefined;
    if (idHash === undefined)
      return (await this.#count({ text: this.#sql.markRevokedByToken, values: [this.#clock.now(), tokenId] }, 'revokeToken')) > 0;
    const r = await this.#revoke(idHash, tokenId);
    return r.deleted || r.marked;
  }

  // Deletes the root key, marks the ledger row, logs and announces the
  // revocation in one transaction (NOTIFY is delivered only on commit).
  async #revoke(idHash: string, knownTokenId: string | undefined): Promise<{ deleted: boolean; marked: boolean }> {
    const notify = (seq: number, tokenId: string | undefined): Query => ({
      text: `SELECT pg_notify($1, json_build_object('schema', current_schema(), 'origin', $2::text, 'seq', $3::bigint, 'idHash', $4::text, 'tokenId', $5::text)::text)`,
      values: [REVOCATION_CHANNEL, this.#origin, seq, idHash, tokenId ?? null],
    });
    const result = await this.#script('revocation', revokeScript(this.#sql, idHash, knownTokenId, this.#origin, this.#clock.now(), notify));
    if (result.seq > 0) this.#listeners.emit({ idHash, tokenId: result.tokenId, remote: false });
    return result;
  }

  /** {@inheritDoc ApertureStore.onRevoked} */
  onRevoked(listener: (event: RevocationEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** {@inheritDoc ApertureStore.recordChallenge} */
  async recordChallenge(record: ChallengeRecord): Promise<boolean> {
    checkChallenge(record);
    const idHash = record.authType === 'l402' ? identifierHash(record.paymentHash, record.tokenId) : undefined;
    const values = [
      record.tokenId,
      record.paymentHash,
      idHash ?? null,
      record.service,
      record.priceSats,
      record.authType,
      record.createdAt,
      record.expiresAt,
    ];
    return (await this.#count({ text: this.#sql.recordChallenge, values }, 'recordChallenge')) > 0;
  }

  /** {@inheritDoc ApertureStore.markSettled} */
  async markSettled(paymentHash: string, settledAt: number, amountPaidSats: number): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    return (await this.#count({ text: this.#sql.markSettled, values: [settledAt, amountPaidSats, paymentHash] }, 'markSettled')) > 0;
  }

  /** {@inheritDoc ApertureStore.getTransaction} */
  async getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined> {
    const rows = await this.#query({ text: this.#sql.getTransaction, values: [tokenId] }, 'getTransaction');
    return rows[0] === undefined ? undefined : toTransaction(rows[0], now ?? this.#clock.now());
  }

  /** {@inheritDoc ApertureStore.listTransactions} */
  async listTransactions(filter: TransactionFilter = {}): Promise<TransactionPage> {
    const page = checkFilter(filter);
    const now = filter.now ?? this.#clock.now();
    return this.#page(transactionQueries(filter, page, now), now, 'listTransactions');
  }

  /** {@inheritDoc ApertureStore.listTokens} */
  async listTokens(filter: TokenFilter = {}): Promise<TransactionPage> {
    const page = checkPage(filter.limit, filter.offset);
    return this.#page(tokenQueries(filter, page), this.#clock.now(), 'listTokens');
  }

  async #page(q: { rows: Query; count: Query }, now: number, what: string): Promise<TransactionPage> {
    // One snapshot for the page and its count.
    return this.#transaction(what, async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rows = await c.query(q.rows.text, q.rows.values);
      const count = await c.query(q.count.text, q.count.values);
      return { items: (rows.rows as Row[]).map((r) => toTransaction(r, now)), total: Number(count.rows[0]?.n ?? 0) };
    });
  }

  /** {@inheritDoc ApertureStore.revenueStats} */
  async revenueStats(range: { start?: number; end?: number } = {}): Promise<RevenueStats> {
    return toRevenueStats(await this.#query(revenueQuery(range), 'revenueStats'));
  }

  /** {@inheritDoc ApertureStore.listPendingUnexpired} */
  async listPendingUnexpired(now: number, limit = 1000, after?: PendingCursor): Promise<TransactionRecord[]> {
    checkPendingPage(limit, after);
    const rows = await this.#query(pendingQuery(now, limit, after), 'listPendingUnexpired');
    return rows.map((r) => toTransaction(r, now));
  }

  /** {@inheritDoc ApertureStore.listServices} */
  async listServices(): Promise<ServiceRecord[]> {
    return (await this.#query({ text: this.#sql.listServices, values: [] }, 'listServices')).map(toService);
  }

  /** {@inheritDoc ApertureStore.getService} */
  async getService(name: string): Promise<ServiceRecord | undefined> {
    const rows = await this.#query({ text: this.#sql.getService, values: [name] }, 'getService');
    return rows[0] === undefined ? undefined : toService(rows[0]);
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
    const rows = await this.#query({ text: this.#sql.registryVersion, values: [] }, 'servicesVersion');
    return Number(rows[0]?.['version'] ?? 0);
  }

  /** {@inheritDoc ApertureStore.consumeCharge} */
  async consumeCharge(paymentHash: string, details: ChargeDetails = {}): Promise<ChargeClaim | undefined> {
    checkHash(paymentHash, 'paymentHash');
    checkChargeDetails(details);
    const claim: ChargeClaim = { paymentHash, claimId: randomUUID(), consumedAt: details.consumedAt ?? this.#clock.now() };
    const values = [paymentHash, claim.claimId, details.challengeId ?? null, details.expiresAt ?? null, claim.consumedAt];
    return (await this.#count({ text: this.#sql.consumeCharge, values }, 'consumeCharge')) > 0 ? claim : undefined;
  }

  /** {@inheritDoc ApertureStore.releaseCharge} */
  async releaseCharge(claim: ChargeClaim): Promise<boolean> {
    checkHash(claim.paymentHash, 'paymentHash');
    return (await this.#count({ text: this.#sql.releaseCharge, values: [claim.paymentHash, claim.claimId] }, 'releaseCharge')) > 0;
  }

  /** {@inheritDoc ApertureStore.getCharge} */
  async getCharge(paymentHash: string): Promise<ChargeRecord | undefined> {
    const rows = await this.#query({ text: this.#sql.getCharge, values: [paymentHash] }, 'getCharge');
    return rows[0] === undefined ? undefined : toCharge(rows[0]);
  }

  /** {@inheritDoc ApertureStore.goChargeConsumed} */
  async goChargeConsumed(paymentHash: string): Promise<boolean> {
    checkHash(paymentHash, 'paymentHash');
    if (this.#goAperture?.schema.tables.includes('mpp_consumed_charges') !== true) return false;
    const rows = await this.#query({ text: GO_CHARGE_CONSUMED_QUERY, values: [Buffer.from(paymentHash, 'hex')] }, 'goChargeConsumed');
    return rows.length > 0;
  }

  /** {@inheritDoc ApertureStore.importGoSession} */
  async importGoSession(id: string): Promise<boolean> {
    checkId(id, 'session id');
    if (this.#goSessions === undefined) return false;
    const now = this.#clock.now();
    return this.#script('importGoSession', goSessionImportScript(this.#goSessions, id, now, now));
  }

  /** {@inheritDoc ApertureStore.goCreditOwner} */
  async goCreditOwner(paymentHash: string): Promise<string | undefined> {
    checkHash(paymentHash, 'paymentHash');
    const text = this.#goSessions?.creditOwner;
    if (text === undefined) return undefined;
    const rows = await this.#query({ text, values: [Buffer.from(paymentHash, 'hex')] }, 'goCreditOwner');
    return rows[0] === undefined ? undefined : String(rows[0]['session_id']);
  }

  /** {@inheritDoc ApertureStore.pruneCharges} */
  async pruneCharges(expiredBefore: number): Promise<number> {
    return this.#count({ text: this.#sql.pruneCharges, values: [expiredBefore] }, 'pruneCharges');
  }

  /** {@inheritDoc ApertureStore.openSession} */
  async openSession(session: NewSession): Promise<OpenOutcome> {
    const now = checkNewSession(session, this.#clock.now());
    return this.#script('openSession', openSessionScript(this.#sql, { ...session, now }));
  }

  /** {@inheritDoc ApertureStore.getSession} */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    const rows = await this.#query({ text: this.#sql.getSession, values: [id] }, 'getSession');
    return rows[0] === undefined ? undefined : toSession(rows[0]);
  }

  /** {@inheritDoc ApertureStore.creditSession} */
  async creditSession(id: string, paymentHash: string, amountSats: number, now?: number): Promise<CreditOutcome> {
    checkId(id, 'session id');
    checkHash(paymentHash, 'paymentHash');
    checkPositive(amountSats, 'amountSats');
    const at = checkedTime(now, this.#clock.now(), 'now');
    return this.#script('creditSession', creditSessionScript(this.#sql, id, paymentHash, amountSats, at));
  }

  async #sessionUpdate(what: string, text: string, values: unknown[]): Promise<SessionRecord | undefined> {
    const rows = await this.#query({ text, values }, what);
    return rows[0] === undefined ? undefined : toSession(rows[0]);
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
    return (await this.#query(idleSessionsQuery(this.#sql, idleBefore, limit, after), 'listIdleSessions')).map(toSession);
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
    return (await this.#query({ text: this.#sql.refundsDue, values: [staleBefore, limit] }, 'listRefundsDue')).map(toSession);
  }

  /** {@inheritDoc ApertureStore.collectGarbage} */
  async collectGarbage(now: number, graceMs: number): Promise<GarbageReport> {
    return this.#script('collectGarbage', garbageScript(this.#sql, now - graceMs));
  }

  /** {@inheritDoc ApertureStore.health} */
  async health(): Promise<StoreHealth> {
    if (this.#closed) return { ok: false, backend: 'postgres', detail: 'closed' };
    try {
      await this.#query({ text: 'SELECT 1', values: [] }, 'health');
      if (this.#listener === undefined)
        return { ok: false, backend: 'postgres', detail: `revocation listener reconnecting: ${this.#lastError ?? 'unknown error'}` };
      return { ok: true, backend: 'postgres' };
    } catch (error) {
      return { ok: false, backend: 'postgres', detail: (error as Error).message };
    }
  }

  /** {@inheritDoc ApertureStore.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    if (this.#reconnect !== undefined) clearTimeout(this.#reconnect);
    const listener = this.#listener;
    this.#listener = undefined;
    await Promise.all([listener?.end().catch(() => undefined), this.#pool.end().catch(() => undefined)]);
  }

  /**
   * The LNC session of a pairing phrase.
   * @param entropy - the phrase's 14-byte entropy
   * @returns the session, or undefined when none is stored
   */
  async getLncSession(entropy: Uint8Array): Promise<LncSessionRecord | undefined> {
    const rows = await this.#query(getLncSessionQuery(entropy), 'getLncSession');
    return rows[0] === undefined ? undefined : lncSessionFromRow(rows[0]);
  }

  /**
   * Stores a new LNC session.
   * @param session - the session
   * @returns false when one with this phrase or entropy exists (it is left alone)
   */
  async addLncSession(session: LncSessionRecord): Promise<boolean> {
    return (await this.#query(addLncSessionQuery(session, 'postgres'), 'addLncSession')).length > 0;
  }

  /**
   * Records the node's static key, learnt by pairing.
   * @param entropy - the session's entropy
   * @param remoteStaticPubKey - 33 bytes
   * @returns false when no such session exists
   */
  async setLncRemoteKey(entropy: Uint8Array, remoteStaticPubKey: Uint8Array): Promise<boolean> {
    return (await this.#query(setLncRemoteKeyQuery(entropy, remoteStaticPubKey), 'setLncRemoteKey')).length > 0;
  }

  /**
   * Records when the LNC session expires.
   * @param entropy - the session's entropy
   * @param expiry - milliseconds since the epoch
   * @returns false when no such session exists
   */
  async setLncExpiry(entropy: Uint8Array, expiry: number): Promise<boolean> {
    return (await this.#query(setLncExpiryQuery(entropy, expiry), 'setLncExpiry')).length > 0;
  }
}
