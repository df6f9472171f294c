/**
 * SQL shared by the SQLite and PostgreSQL stores: the filtered ledger queries
 * (built once, with the dialect's placeholder style) and row decoding. `pg`
 * returns BIGINT as strings, SQLite as numbers; both pass through `Number`.
 */
import type {
  PendingCursor,
  RevenueStats,
  ServiceRecord,
  SessionRecord,
  SessionState,
  TokenFilter,
  TransactionFilter,
  TransactionRecord,
} from './aperture-store.js';
import { deriveState, revenueTotals, type Page } from './store-support.js';

/** A query with its parameters. */
export interface Query {
  text: string;
  values: unknown[];
}

/** Placeholder style: `?` for SQLite, `$n` for PostgreSQL. */
export type Placeholder = (index: number) => string;

/** SQLite placeholders. */
export const sqlitePlaceholder: Placeholder = () => '?';
/** PostgreSQL placeholders. */
export const pgPlaceholder: Placeholder = (i) => `$${i}`;

/** Columns of a ledger row, in the order {@link toTransaction} reads them. */
export const TX_COLUMNS =
  'id, token_id, payment_hash, service, price_sats, auth_type, state, created_at, expires_at, settled_at, amount_paid_sats, revoked_at';

/** Columns of a session row. */
export const SESSION_COLUMNS = 'id, payment_hash, deposit_sats, balance_sats, return_invoice, state, created_at, updated_at';

class Builder {
  readonly conditions: string[] = [];
  readonly values: unknown[] = [];
  constructor(private readonly ph: Placeholder) {}
  add(sql: (p: string) => string, value: unknown): void {
    this.values.push(value);
    this.conditions.push(sql(this.ph(this.values.length)));
  }
  raw(sql: string): void {
    this.conditions.push(sql);
  }
  param(value: unknown): string {
    this.values.push(value);
    return this.ph(this.values.length);
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
 * @param ph - placeholder style
 * @returns the rows query and the count query
 */
export function transactionQueries(filter: TransactionFilter, page: Page, now: number, ph: Placeholder): { rows: Query; count: Query } {
  const b = new Builder(ph);
  if (filter.service !== undefined) b.add((p) => `service = ${p}`, filter.service);
  if (filter.authType !== undefined) b.add((p) => `auth_type = ${p}`, filter.authType);
  if (filter.start !== undefined) b.add((p) => `created_at >= ${p}`, filter.start);
  if (filter.end !== undefined) b.add((p) => `created_at < ${p}`, filter.end);
  if (filter.state === 'settled') b.raw(`state = 'settled'`);
  else if (filter.state === 'pending') b.add((p) => `state = 'pending' AND expires_at > ${p}`, now);
  else if (filter.state === 'expired') b.add((p) => `state = 'pending' AND expires_at <= ${p}`, now);
  return paged(b, page);
}

/**
 * The page and count queries of a token listing (settled L402 rows).
 * @param filter - validated filter
 * @param page - validated page
 * @param ph - placeholder style
 * @returns the rows query and the count query
 */
export function tokenQueries(filter: TokenFilter, page: Page, ph: Placeholder): { rows: Query; count: Query } {
  const b = new Builder(ph);
  b.raw(`auth_type = 'l402' AND state = 'settled'`);
  if (filter.service !== undefined) b.add((p) => `service = ${p}`, filter.service);
  if (filter.includeRevoked !== true) b.raw('revoked_at IS NULL');
  return paged(b, page);
}

function paged(b: Builder, page: Page): { rows: Query; count: Query } {
  const where = b.where();
  const countValues = [...b.values];
  const limit = b.param(page.limit);
  const offset = b.param(page.offset);
  return {
    rows: { text: `SELECT ${TX_COLUMNS} FROM transactions${where} ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`, values: b.values },
    count: { text: `SELECT COUNT(*) AS n FROM transactions${where}`, values: countValues },
  };
}

/**
 * The revenue query: settled rows per service, optionally within a range of
 * settlement times.
 * @param range - start (inclusive) and end (exclusive)
 * @param ph - placeholder style
 * @returns the query
 */
export function revenueQuery(range: { start?: number; end?: number }, ph: Placeholder): Query {
  const b = new Builder(ph);
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
 * @param ph - placeholder style
 * @returns the query
 */
export function pendingQuery(now: number, limit: number, after: PendingCursor | undefined, ph: Placeholder): Query {
  const values: unknown[] = [now];
  let where = `state = 'pending' AND expires_at > ${ph(1)}`;
  if (after !== undefined) {
    values.push(after.createdAt, after.createdAt, after.tokenId);
    where += ` AND (created_at > ${ph(2)} OR (created_at = ${ph(3)} AND token_id > ${ph(4)}))`;
  }
  values.push(limit);
  return {
    text: `SELECT ${TX_COLUMNS} FROM transactions WHERE ${where} ORDER BY created_at, token_id LIMIT ${ph(values.length)}`,
    values,
  };
}

/**
 * Decodes the rows of {@link revenueQuery} into the revenue summary.
 * @param rows - rows with `service`, `total` and `n`
 * @returns per-service sums and their totals
 */
export function toRevenueStats(rows: readonly Record<string, unknown>[]): RevenueStats {
  return revenueTotals(rows.map((r) => ({ service: String(r['service']), totalSats: Number(r['total']), count: Number(r['n']) })));
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

/**
 * Decodes a ledger row.
 * @param row - a row with {@link TX_COLUMNS}
 * @param now - instant separating pending from expired
 * @returns the record
 */
export function toTransaction(row: Record<string, unknown>, now: number): TransactionRecord {
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
  return rec;
}

/**
 * Decodes a session row.
 * @param row - a row with {@link SESSION_COLUMNS}
 * @returns the session
 */
export function toSession(row: Record<string, unknown>): SessionRecord {
  return {
    id: String(row['id']),
    paymentHash: String(row['payment_hash']),
    depositSats: Number(row['deposit_sats']),
    balanceSats: Number(row['balance_sats']),
    returnInvoice: String(row['return_invoice']),
    state: String(row['state']) as SessionState,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

/**
 * Decodes a services row.
 * @param row - name, config, created_at, updated_at
 * @returns the service
 */
export function toService(row: Record<string, unknown>): ServiceRecord {
  return {
    name: String(row['name']),
    config: JSON.parse(String(row['config'])) as unknown,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

/**
 * The session update statement for a patch.
 * @param patch - validated patch
 * @param id - session id
 * @param now - new `updated_at`
 * @param ph - placeholder style
 * @returns the UPDATE … RETURNING query
 */
export function sessionUpdate(
  patch: { depositSats?: number; balanceSats?: number; returnInvoice?: string; state?: SessionState },
  id: string,
  now: number,
  ph: Placeholder,
): Query {
  const b = new Builder(ph);
  const sets: string[] = [];
  if (patch.depositSats !== undefined) sets.push(`deposit_sats = ${b.param(patch.depositSats)}`);
  if (patch.balanceSats !== undefined) sets.push(`balance_sats = ${b.param(patch.balanceSats)}`);
  if (patch.returnInvoice !== undefined) sets.push(`return_invoice = ${b.param(patch.returnInvoice)}`);
  if (patch.state !== undefined) sets.push(`state = ${b.param(patch.state)}`);
  sets.push(`updated_at = ${b.param(now)}`);
  return { text: `UPDATE mpp_sessions SET ${sets.join(', ')} WHERE id = ${b.param(id)} RETURNING ${SESSION_COLUMNS}`, values: b.values };
}
