/**
 * SQL shared by the SQLite and PostgreSQL stores, written once: every statement
 * uses PostgreSQL's numbered placeholders (`$1`, `$2`, …), which the SQLite
 * store rewrites to `?` with {@link positional}. What really differs between
 * the dialects (hex decoding, collation names, NOTIFY) is chosen by
 * {@link sqlFor}. Operations of several statements are written once as
 * {@link Script}s, which each store runs inside one transaction of its own.
 *
 * Row decoding lives here too: `pg` returns BIGINT as strings, SQLite as
 * numbers; both pass through `Number`.
 */
import { L402Error } from '../core/errors.js';
import type { ChargeRecord } from './charge-store.js';
import type { PendingCursor, RevenueStats, TokenFilter, TransactionFilter, TransactionRecord } from './ledger.js';
import type { ServiceRecord } from './service-registry.js';
import type { CreditOutcome, OpenOutcome, RefundStatus, SessionCursor, SessionRecord } from './session-store.js';
import { STORE_QUERY_FAILED } from './store-errors.js';
import { deriveState, revenueTotals, type Page } from './store-support.js';

/** A database row. */
export type Row = Record<string, unknown>;

/** A statement with its parameters. */
export interface Query {
  text: string;
  values: unknown[];
}

/** What a statement of a {@link Script} gave back. */
export interface StepResult {
  /** Rows (of a SELECT or a RETURNING clause). */
  rows: Row[];
  /** Rows changed (or returned, for a statement with RETURNING). */
  changes: number;
}

/** A script's way of ending with the transaction rolled back and a result. */
export class Rollback<T> {
  /**
   * @param value - what the operation returns
   */
  constructor(readonly value: T) {}
}

/**
 * An operation of several statements: yields each statement, receives its
 * result, and returns the operation's result (or a {@link Rollback} of it).
 * The store runs it inside one transaction.
 */
export type Script<T> = Generator<Query, T | Rollback<T>, StepResult>;

/** The two SQL dialects. */
export type Dialect = 'sqlite' | 'postgres';

/**
 * A statement with `$n` placeholders as SQLite takes it: `?` in order of
 * appearance, and for each `?` the index of the value it takes (a `$n` used
 * twice becomes two `?`).
 * @param text - statement with `$1`… placeholders
 * @returns the rewritten text and the value order; `order` is undefined when
 *   the values can be passed as they are
 */
export function positional(text: string): { text: string; order: number[] | undefined } {
  const order: number[] = [];
  const out = text.replace(/\$(\d+)/g, (_, n: string) => {
    order.push(Number(n) - 1);
    return '?';
  });
  const identity = order.every((v, i) => v === i);
  return { text: out, order: identity ? undefined : order };
}

/** Columns of a ledger row, as {@link toTransaction} reads them. */
export const TX_COLUMNS =
  'id, token_id, payment_hash, service, price_sats, auth_type, state, created_at, expires_at, settled_at, amount_paid_sats, revoked_at';

/** Columns of a session row, as {@link toSession} reads them. */
export const SESSION_COLUMNS =
  'id, payment_hash, deposit_sats, spent_sats, return_invoice, status, created_at, updated_at, closed_at, refund_status, refund_attempts, refund_error, refund_updated_at';

/** Columns of a service row, as {@link toService} reads them. */
export const SERVICE_COLUMNS = 'name, config, version, created_at, updated_at';

/** The statements of one dialect. */
export type Statements = ReturnType<typeof sqlFor>;

/** Options of {@link sqlFor}. */
export interface StatementOptions {
  /**
   * The database holds the Go aperture's `secrets` table (src/store/go-aperture-schema.ts):
   * root keys are read from `root_keys` and then `secrets`, written to both, deleted from both.
   */
  goSecrets?: boolean;
}

/**
 * Every fixed statement, for one dialect.
 * @param dialect - `sqlite` or `postgres`
 * @param options - whether the Go aperture's `secrets` table is adopted
 * @returns the statements
 */
export function sqlFor(dialect: Dialect, options: StatementOptions = {}) {
  // Code-unit order for text keys, so that every backend pages and sorts alike.
  const binary = dialect === 'postgres' ? ' COLLATE "C"' : '';
  const unhex = (column: string): string => (dialect === 'postgres' ? `decode(${column}, 'hex')` : `unhex(${column})`);
  const goSecrets = options.goSecrets === true;
  // Keys of unpaid challenges past their expiry; rows imported from the Go aperture are
  // never collected (it records settlements only with its admin API on, so they may be paid).
  const expiredKeys = `SELECT ${unhex('id_hash')} FROM transactions WHERE state = 'pending' AND expires_at < $1 AND id_hash IS NOT NULL AND source IS NULL`;
  return {
    dialect,
    binary,
    goSecrets,
    newSecret:
      'INSERT INTO root_keys (id_hash, root_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (id_hash) DO UPDATE SET root_key = excluded.root_key, created_at = excluded.created_at',
    // With the Go aperture's `secrets` adopted, a key already there is the one copied (getSecret reads root_keys first).
    newSecretIfAbsent: goSecrets
      ? dialect === 'postgres'
        ? `INSERT INTO root_keys (id_hash, root_key, created_at)
        SELECT $1::bytea, COALESCE((SELECT secret FROM secrets WHERE hash = $1::bytea), $2::bytea), $3::bigint
        ON CONFLICT (id_hash) DO NOTHING`
        : `INSERT INTO root_keys (id_hash, root_key, created_at)
        SELECT $1, COALESCE((SELECT secret FROM secrets WHERE hash = $1), $2), $3 WHERE true
        ON CONFLICT (id_hash) DO NOTHING`
      : 'INSERT INTO root_keys (id_hash, root_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (id_hash) DO NOTHING',
    getSecret: goSecrets
      ? 'SELECT root_key FROM root_keys WHERE id_hash = $1 UNION ALL SELECT secret AS root_key FROM secrets WHERE hash = $1 LIMIT 1'
      : 'SELECT root_key FROM root_keys WHERE id_hash = $1',
    deleteSecret: 'DELETE FROM root_keys WHERE id_hash = $1',
    // The Go aperture's table: its created_at is a TIMESTAMP, written as its drivers write one
    // (SQLite: Go's time.Time.String() text, see goTimeText; PostgreSQL: UTC without time zone).
    newGoSecret:
      dialect === 'postgres'
        ? `INSERT INTO secrets (hash, secret, created_at) VALUES ($1, $2, to_timestamp($3::double precision / 1000) AT TIME ZONE 'UTC')
        ON CONFLICT (hash) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`
        : 'INSERT INTO secrets (hash, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at',
    newGoSecretIfAbsent:
      dialect === 'postgres'
        ? `INSERT INTO secrets (hash, secret, created_at) VALUES ($1, $2, to_timestamp($3::double precision / 1000) AT TIME ZONE 'UTC')
        ON CONFLICT (hash) DO NOTHING`
        : 'INSERT INTO secrets (hash, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING',
    deleteGoSecret: 'DELETE FROM secrets WHERE hash = $1',
    gcGoSecrets: `DELETE FROM secrets WHERE hash IN (${expiredKeys})`,
    markRevokedByIdHash: 'UPDATE transactions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL RETURNING token_id',
    markRevokedByToken: 'UPDATE transactions SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL',
    tokenOfIdHash: 'SELECT token_id FROM transactions WHERE id_hash = $1',
    revocationTarget: 'SELECT payment_hash, auth_type FROM transactions WHERE token_id = $1',
    logRevocation: 'INSERT INTO revocations (id_hash, token_id, origin, revoked_at) VALUES ($1, $2, $3, $4) RETURNING seq',
    revocationsAfter: 'SELECT seq, id_hash, token_id, origin FROM revocations WHERE seq > $1 ORDER BY seq',
    lastRevocation: 'SELECT COALESCE(MAX(seq), 0) AS n FROM revocations',

    recordChallenge: `INSERT INTO transactions (token_id, payment_hash, id_hash, service, price_sats, auth_type, state, created_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) ON CONFLICT (token_id) DO NOTHING`,
    markSettled: `UPDATE transactions SET state = 'settled', settled_at = $1, amount_paid_sats = $2 WHERE payment_hash = $3 AND state = 'pending'`,
    getTransaction: `SELECT ${TX_COLUMNS} FROM transactions WHERE token_id = $1`,
    gcRootKeys: `DELETE FROM root_keys WHERE id_hash IN (${expiredKeys})`,
    gcTransactions: `DELETE FROM transactions WHERE state = 'pending' AND expires_at < $1 AND source IS NULL`,

    listServices: `SELECT ${SERVICE_COLUMNS} FROM aperture_services ORDER BY name${binary}`,
    getService: `SELECT ${SERVICE_COLUMNS} FROM aperture_services WHERE name = $1`,
    bumpRegistry: 'UPDATE aperture_service_registry SET version = version + 1 WHERE id = 1 RETURNING version',
    registryVersion: 'SELECT version FROM aperture_service_registry WHERE id = 1',
    insertService:
      'INSERT INTO aperture_services (name, config, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING',
    updateService: 'UPDATE aperture_services SET config = $1, version = $2, updated_at = $3 WHERE name = $4',
    deleteService: 'DELETE FROM aperture_services WHERE name = $1',

    consumeCharge:
      'INSERT INTO aperture_charges (payment_hash, claim_id, challenge_id, expires_at, consumed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_hash) DO NOTHING',
    releaseCharge: 'DELETE FROM aperture_charges WHERE payment_hash = $1 AND claim_id = $2',
    getCharge: 'SELECT payment_hash, challenge_id, expires_at, consumed_at FROM aperture_charges WHERE payment_hash = $1',
    pruneCharges: 'DELETE FROM aperture_charges WHERE expires_at IS NOT NULL AND expires_at < $1',

    claimCredit:
      'INSERT INTO aperture_session_credits (payment_hash, session_id, amount_sats, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (payment_hash) DO NOTHING',
    creditOwner: 'SELECT session_id FROM aperture_session_credits WHERE payment_hash = $1',
    insertSession: `INSERT INTO aperture_sessions (id, payment_hash, deposit_sats, spent_sats, return_invoice, status, created_at, updated_at)
      VALUES ($1, $2, $3, 0, $4, 'open', $5, $5) ON CONFLICT (id) DO NOTHING`,
    addDeposit: `UPDATE aperture_sessions SET deposit_sats = deposit_sats + $1, updated_at = $2 WHERE id = $3 AND status = 'open'`,
    getSession: `SELECT ${SESSION_COLUMNS} FROM aperture_sessions WHERE id = $1`,
    debitSession: `UPDATE aperture_sessions SET spent_sats = spent_sats + $1, updated_at = $2
      WHERE id = $3 AND status = 'open' AND deposit_sats - spent_sats >= $1 RETURNING ${SESSION_COLUMNS}`,
    settleSession: `UPDATE aperture_sessions SET spent_sats = CASE
        WHEN spent_sats + $1 < 0 THEN 0
        WHEN spent_sats + $1 > deposit_sats THEN deposit_sats
        ELSE spent_sats + $1 END, updated_at = $2
      WHERE id = $3 AND status = 'open' RETURNING ${SESSION_COLUMNS}`,
    closeSession: `UPDATE aperture_sessions SET status = 'closed', closed_at = $1, updated_at = $1,
        refund_status = 'pending', refund_attempts = 0, refund_error = NULL, refund_updated_at = $1
      WHERE id = $2 AND status = 'open' RETURNING ${SESSION_COLUMNS}`,
    beginRefund: `UPDATE aperture_sessions SET refund_status = 'in-flight', refund_attempts = refund_attempts + 1, refund_updated_at = $1
      WHERE id = $2 AND status = 'closed'
        AND (refund_status IN ('pending', 'failed') OR (refund_status = 'in-flight' AND refund_updated_at <= $3))
      RETURNING ${SESSION_COLUMNS}`,
    finishRefund: `UPDATE aperture_sessions SET refund_status = $1, refund_error = $2, refund_updated_at = $3
      WHERE id = $4 AND refund_status = 'in-flight' RETURNING ${SESSION_COLUMNS}`,
    refundsDue: `SELECT ${SESSION_COLUMNS} FROM aperture_sessions
      WHERE status = 'closed' AND (refund_status IN ('pending', 'failed') OR (refund_status = 'in-flight' AND refund_updated_at <= $1))
      ORDER BY refund_updated_at, id${binary} LIMIT $2`,
  };
}

class Builder {
  readonly conditions: string[] = [];
  readonly values: unknown[] = [];
  add(sql: (p: string) => string, value: unknown): void {
    this.conditions.push(sql(this.param(value)));
  }
  raw(sql: string): void {
    this.conditions.push(sql);
  }
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
  where(): string {
    return this.conditions.length === 0 ? '' : ` WHERE ${this.conditions.join(' AND ')}`;
  }
}

/**
 * The page and count queries of a transaction listing.
 * @param filter - validated filter
 * @param page - validated page
 * @param now - instant separating pending from expired
 * @returns the rows query and the count query
 */
export function transactionQueries(filter: TransactionFilter, page: Page, now: number): { rows: Query; count: Query } {
  const b = new Builder();
  if (filter.service !== undefined) b.add((p) => `service = ${p}`, filter.service);
  if (filter.authType !== undefined) b.add((p) => `auth_type = ${p}`, filter.authType);
  if (filter.start !== undefined) b.add((p) => `created_at >= ${p}`, filter.start);
  if (filter.end !== undefined) b.add((p) => `created_at < ${p}`, filter.end);
  if (filter.settledStart !== undefined) b.add((p) => `settled_at >= ${p}`, filter.settledStart);
  if (filter.settledEnd !== undefined) b.add((p) => `settled_at < ${p}`, filter.settledEnd);
  if (filter.state === 'settled') b.raw(`state = 'settled'`);
  else if (filter.state === 'pending') b.add((p) => `state = 'pending' AND expires_at > ${p}`, now);
  else if (filter.state === 'expired') b.add((p) => `state = 'pending' AND expires_at <= ${p}`, now);
  return paged(b, page, REFUND_COLUMNS);
}

/** The refund of the session a deposit row opened (its payment hash is the session id), for `listTransactions`. */
const refundOf = (column: string): string =>
  `(SELECT ${column} FROM aperture_sessions s WHERE s.id = transactions.payment_hash AND transactions.auth_type = 'mpp' AND s.status = 'closed')`;
const REFUND_COLUMNS = `, ${refundOf('refund_status')} AS refund_status, ${refundOf('deposit_sats - spent_sats')} AS refund_sats, ${refundOf('refund_error')} AS refund_error`;

/**
 * The page and count queries of a token listing (settled L402 rows).
 * @param filter - validated filter
 * @param page - validated page
 * @returns the rows query and the count query
 */
export function tokenQueries(filter: TokenFilter, page: Page): { rows: Query; count: Query } {
  const b = new Builder();
  b.raw(`auth_type = 'l402' AND state = 'settled'`);
  if (filter.service !== undefined) b.add((p) => `service = ${p}`, filter.service);
  if (filter.includeRevoked !== true) b.raw('revoked_at IS NULL');
  return paged(b, page);
}

function paged(b: Builder, page: Page, extraColumns = ''): { rows: Query; count: Query } {
  const where = b.where();
  const countValues = [...b.values];
  const limit = b.param(page.limit);
  const offset = b.param(page.offset);
  return {
    rows: {
      text: `SELECT ${TX_COLUMNS}${extraColumns} FROM transactions${where} ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`,
      values: b.values,
    },
    count: { text: `SELECT COUNT(*) AS n FROM transactions${where}`, values: countValues },
  };
}

/**
 * The revenue query: settled rows per service, optionally within a range of
 * settlement times.
 * @param range - start (inclusive) and end (exclusive)
 * @returns the query
 */
export function revenueQuery(range: { start?: number; end?: number }): Query {
  const b = new Builder();
  b.raw(`state = 'settled'`);
  if (range.start !== undefined) b.add((p) => `settled_at >= ${p}`, range.start);
  if (range.end !== undefined) b.add((p) => `settled_at < ${p}`, range.end);
  return {
    text: `SELECT service, SUM(COALESCE(amount_paid_sats, price_sats)) AS total, COUNT(*) AS n FROM transactions${b.where()} GROUP BY service ORDER BY service`,
    values: b.values,
  };
}

/**
 * Pending, unexpired rows oldest first (ties by token ID), after a cursor:
 * keyset paging, so rows settled meanwhile do not shift later pages. The
 * comparison and the order use the same collation, so pages never overlap.
 * @param now - rows whose invoice expires after this instant
 * @param limit - page size
 * @param after - the last row of the previous page, when any
 * @returns the query
 */
export function pendingQuery(now: number, limit: number, after: PendingCursor | undefined): Query {
  const b = new Builder();
  b.add((p) => `state = 'pending' AND expires_at > ${p}`, now);
  if (after !== undefined) {
    const at = b.param(after.createdAt);
    b.add((p) => `(created_at > ${at} OR (created_at = ${at} AND token_id > ${p}))`, after.tokenId);
  }
  const lim = b.param(limit);
  return { text: `SELECT ${TX_COLUMNS} FROM transactions${b.where()} ORDER BY created_at, token_id LIMIT ${lim}`, values: b.values };
}

/**
 * Open sessions idle since before an instant, least recently used first, after
 * a cursor (keyset paging, ids in code-unit order on every backend).
 * @param sql - the dialect's statements
 * @param idleBefore - sessions whose `updated_at` is before this instant
 * @param limit - page size
 * @param after - the last session of the previous page, when any
 * @returns the query
 */
export function idleSessionsQuery(sql: Statements, idleBefore: number, limit: number, after: SessionCursor | undefined): Query {
  const b = new Builder();
  b.raw(`status = 'open'`);
  b.add((p) => `updated_at < ${p}`, idleBefore);
  if (after !== undefined) {
    const at = b.param(after.updatedAt);
    b.add((p) => `(updated_at > ${at} OR (updated_at = ${at} AND id${sql.binary} > ${p}))`, after.id);
  }
  const lim = b.param(limit);
  return {
    text: `SELECT ${SESSION_COLUMNS} FROM aperture_sessions${b.where()} ORDER BY updated_at, id${sql.binary} LIMIT ${lim}`,
    values: b.values,
  };
}

/**
 * Revokes a root key: deletes it, marks its ledger row, logs the revocation
 * and (PostgreSQL) announces it, in one transaction.
 * @param sql - the dialect's statements
 * @param idHash - sha256 of the identifier, hex
 * @param knownTokenId - the token ID, when the caller knows it
 * @param origin - this store instance's id, logged with the revocation
 * @param now - when
 * @param notify - PostgreSQL: the NOTIFY statement for the logged sequence number
 * @returns whether a key was deleted or a row marked, the token ID, and the log's sequence number (0 when nothing changed)
 */
export function* revokeScript(
  sql: Statements,
  idHash: string,
  knownTokenId: string | undefined,
  origin: string,
  now: number,
  notify?: (seq: number, tokenId: string | undefined) => Query,
): Script<{ deleted: boolean; marked: boolean; tokenId: string | undefined; seq: number }> {
  let deleted = (yield { text: sql.deleteSecret, values: [Buffer.from(idHash, 'hex')] }).changes > 0;
  if (sql.goSecrets) deleted = (yield { text: sql.deleteGoSecret, values: [Buffer.from(idHash, 'hex')] }).changes > 0 || deleted;
  const marked = yield { text: sql.markRevokedByIdHash, values: [now, idHash] };
  let tokenId = knownTokenId ?? optionalString(marked.rows[0]?.['token_id']);
  if (tokenId === undefined) tokenId = optionalString((yield { text: sql.tokenOfIdHash, values: [idHash] }).rows[0]?.['token_id']);
  const wasMarked = marked.changes > 0;
  if (!deleted && !wasMarked) return { deleted, marked: wasMarked, tokenId, seq: 0 };
  const logged = yield { text: sql.logRevocation, values: [idHash, tokenId ?? null, origin, now] };
  const seq = Number(logged.rows[0]?.['seq']);
  if (notify !== undefined) yield notify(seq, tokenId);
  return { deleted, marked: wasMarked, tokenId, seq };
}

/**
 * Stores a new root key: in `root_keys`, and also in the Go aperture's `secrets`
 * when it is adopted, in one transaction.
 * @param sql - the dialect's statements
 * @param idHash - sha256 of the identifier
 * @param key - the root key
 * @param now - when
 * @param goTime - `now` as the Go aperture's `secrets.created_at` takes it
 * @returns nothing
 */
export function* newSecretScript(sql: Statements, idHash: Buffer, key: Buffer, now: number, goTime: unknown): Script<void> {
  yield { text: sql.newSecret, values: [idHash, key, now] };
  if (sql.goSecrets) yield { text: sql.newGoSecret, values: [idHash, key, goTime] };
}

/**
 * A key created only when there is none (in `root_keys`, and in the Go
 * aperture's `secrets` when adopted), then the key the database kept.
 * @param sql - the dialect's statements
 * @param idHash - what the key is for
 * @param key - the key to store when there is none
 * @param now - created at, ms
 * @param goTime - created at, as the Go table stores it
 * @returns the stored key
 */
export function* newSecretIfAbsentScript(sql: Statements, idHash: Buffer, key: Buffer, now: number, goTime: unknown): Script<Buffer> {
  // Both inserts do nothing when a key exists; one already in `secrets` is the one `root_keys` gets.
  if (sql.goSecrets) yield { text: sql.newGoSecretIfAbsent, values: [idHash, key, goTime] };
  yield { text: sql.newSecretIfAbsent, values: [idHash, key, now] };
  const stored = (yield { text: sql.getSecret, values: [idHash] }).rows[0]?.['root_key'];
  if (stored === undefined) throw new L402Error(STORE_QUERY_FAILED, 'the key was written but cannot be read back', { status: 500 });
  return stored as Buffer;
}

/**
 * The ledger's garbage collection and the pruning of expired charges, in one
 * transaction.
 * @param sql - the dialect's statements
 * @param cutoff - rows that expired before this instant go
 * @returns the counts
 */
export function* garbageScript(sql: Statements, cutoff: number): Script<{ rootKeys: number; transactions: number; charges: number }> {
  // Every key minted since `secrets` was adopted is in both tables, so `root_keys` counts them.
  if (sql.goSecrets) yield { text: sql.gcGoSecrets, values: [cutoff] };
  const rootKeys = (yield { text: sql.gcRootKeys, values: [cutoff] }).changes;
  const transactions = (yield { text: sql.gcTransactions, values: [cutoff] }).changes;
  const charges = (yield { text: sql.pruneCharges, values: [cutoff] }).changes;
  return { rootKeys, transactions, charges };
}

/**
 * A change to the service registry: increments the registry version, then
 * applies the change with that version; rolls back when the change changed
 * nothing, so the version moves only with a change.
 * @param sql - the dialect's statements
 * @param change - the statement, given the new version
 * @returns whether the change applied
 */
export function* serviceChangeScript(sql: Statements, change: (version: number) => Query): Script<boolean> {
  const bumped = yield { text: sql.bumpRegistry, values: [] };
  const version = Number(bumped.rows[0]?.['version']);
  const applied = yield change(version);
  return applied.changes > 0 ? true : new Rollback(false);
}

/**
 * Opens a session: claims the deposit payment hash, then inserts the session.
 * @param sql - the dialect's statements
 * @param s - id, deposit hash and amount, return invoice, time
 * @returns the outcome
 */
export function* openSessionScript(
  sql: Statements,
  s: { id: string; paymentHash: string; depositSats: number; returnInvoice: string; now: number },
): Script<OpenOutcome> {
  const claimed = yield { text: sql.claimCredit, values: [s.paymentHash, s.id, s.depositSats, s.now] };
  if (claimed.changes === 0) {
    const owner = yield { text: sql.creditOwner, values: [s.paymentHash] };
    return String(owner.rows[0]?.['session_id']) === s.id ? 'replayed' : 'foreign';
  }
  const inserted = yield { text: sql.insertSession, values: [s.id, s.paymentHash, s.depositSats, s.returnInvoice, s.now] };
  return inserted.changes > 0 ? 'opened' : new Rollback<OpenOutcome>('foreign');
}

/**
 * Credits a top-up: claims the payment hash for the session, then adds to its
 * deposit; rolls the claim back when the session is not open.
 * @param sql - the dialect's statements
 * @param id - session id
 * @param paymentHash - payment hash of the top-up
 * @param amountSats - satoshis
 * @param now - when
 * @returns the outcome
 */
export function* creditSessionScript(
  sql: Statements,
  id: string,
  paymentHash: string,
  amountSats: number,
  now: number,
): Script<CreditOutcome> {
  const claimed = yield { text: sql.claimCredit, values: [paymentHash, id, amountSats, now] };
  if (claimed.changes === 0) {
    // Under READ COMMITTED (PostgreSQL) the insert waited for the claiming
    // transaction, so its row is visible to this next statement.
    const owner = yield { text: sql.creditOwner, values: [paymentHash] };
    return String(owner.rows[0]?.['session_id']) === id ? 'replayed' : 'foreign';
  }
  const added = yield { text: sql.addDeposit, values: [amountSats, now, id] };
  return added.changes > 0 ? 'applied' : new Rollback<CreditOutcome>('not-open');
}

/**
 * Decodes the rows of {@link revenueQuery} into the revenue summary.
 * @param rows - rows with `service`, `total` and `n`
 * @returns per-service sums and their totals
 */
export function toRevenueStats(rows: readonly Row[]): RevenueStats {
  return revenueTotals(rows.map((r) => ({ service: String(r['service']), totalSats: Number(r['total']), count: Number(r['n']) })));
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function optionalString(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

/**
 * Decodes a ledger row.
 * @param row - a row with {@link TX_COLUMNS}
 * @param now - instant separating pending from expired
 * @returns the record
 */
export function toTransaction(row: Row, now: number): TransactionRecord {
  const expiresAt = Number(row['expires_at']);
  const rec: TransactionRecord = {
    id: Number(row['id']),
    tokenId: String(row['token_id']),
    paymentHash: String(row['payment_hash']),
    service: String(row['service']),
    priceSats: Number(row['price_sats']),
    authType: row['auth_type'] === 'mpp' ? 'mpp' : 'l402',
    state: deriveState(String(row['state']), expiresAt, now),
    createdAt: Number(row['created_at']),
    expiresAt,
  };
  const settledAt = optionalNumber(row['settled_at']);
  const amount = optionalNumber(row['amount_paid_sats']);
  const revokedAt = optionalNumber(row['revoked_at']);
  if (settledAt !== undefined) rec.settledAt = settledAt;
  if (amount !== undefined) rec.amountPaidSats = amount;
  if (revokedAt !== undefined) rec.revokedAt = revokedAt;
  const refundStatus = optionalString(row['refund_status']);
  if (refundStatus !== undefined) {
    rec.refund = { status: refundStatus as RefundStatus, sats: Number(row['refund_sats']) };
    const error = optionalString(row['refund_error']);
    if (error !== undefined) rec.refund.error = error;
  }
  return rec;
}

/**
 * Decodes a session row.
 * @param row - a row with {@link SESSION_COLUMNS}
 * @returns the session
 */
export function toSession(row: Row): SessionRecord {
  const depositSats = Number(row['deposit_sats']);
  const spentSats = Number(row['spent_sats']);
  const s: SessionRecord = {
    id: String(row['id']),
    paymentHash: String(row['payment_hash']),
    depositSats,
    spentSats,
    balanceSats: depositSats - spentSats,
    returnInvoice: String(row['return_invoice']),
    status: row['status'] === 'open' ? 'open' : 'closed',
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
  const closedAt = optionalNumber(row['closed_at']);
  if (closedAt !== undefined) s.closedAt = closedAt;
  const refundStatus = optionalString(row['refund_status']);
  if (refundStatus !== undefined) {
    s.refund = {
      status: refundStatus as RefundStatus,
      attempts: Number(row['refund_attempts']),
      updatedAt: Number(row['refund_updated_at']),
    };
    const lastError = optionalString(row['refund_error']);
    if (lastError !== undefined) s.refund.lastError = lastError;
  }
  return s;
}

/**
 * Decodes a service row.
 * @param row - a row with {@link SERVICE_COLUMNS}
 * @returns the service
 */
export function toService(row: Row): ServiceRecord {
  return {
    name: String(row['name']),
    config: JSON.parse(String(row['config'])) as unknown,
    version: Number(row['version']),
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

/**
 * Decodes a charge row.
 * @param row - payment_hash, challenge_id, expires_at, consumed_at
 * @returns the charge
 */
export function toCharge(row: Row): ChargeRecord {
  const c: ChargeRecord = { paymentHash: String(row['payment_hash']), consumedAt: Number(row['consumed_at']) };
  const challengeId = optionalString(row['challenge_id']);
  const expiresAt = optionalNumber(row['expires_at']);
  if (challengeId !== undefined) c.challengeId = challengeId;
  if (expiresAt !== undefined) c.expiresAt = expiresAt;
  return c;
}
