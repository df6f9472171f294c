/**
 * Open MPP sessions of the Go aperture, carried over on first use. A client who
 * opened a session on the Go aperture before the operator switched presents
 * its id here (bearer, topUp, close); the Go aperture's `mpp_sessions` row
 * (Go migration 6) holds its balance. The import, in one transaction:
 *
 * 1. closes the Go row (`status = 'closed'`, `updated_at` now) only if it is
 *    still `open`, taking its deposit, spend, return invoice and opening time;
 *    a Go aperture still running on the database then refuses the session as
 *    closed rather than spending a balance that moved (it reads no other
 *    status: `'closed'` is the one value it understands besides `'open'`);
 * 2. inserts it into `aperture_sessions`, open, if no session has that id
 *    (otherwise everything is rolled back and the Go row stays as it was);
 * 3. claims in `aperture_session_credits` every payment hash the Go aperture
 *    credited to it (`mpp_session_credits`, Go migration 8) and the deposit's,
 *    so a top-up the Go aperture already credited is a replay here.
 *
 * The idle clock (`updated_at`) starts at the import: the client could not use
 * the session while the operator switched. Two first uses at once import it
 * once: the conditional update of the Go row serializes them (SQLite: one
 * writer; PostgreSQL: the row lock, the loser's update then matching no row).
 */
import { Rollback, type Dialect, type Script } from './sql-queries.js';
import { SQLITE_GO_TIME_FUNCTION, type GoApertureSchema } from './go-aperture-schema.js';

/**
 * The statements of a session import, for one dialect.
 * @param dialect - `sqlite` or `postgres`
 * @param schema - what the Go schema has
 * @returns the statements, or `undefined` when the Go schema has no sessions table
 */
export function goSessionStatements(dialect: Dialect, schema: GoApertureSchema) {
  if (!schema.sessions) return undefined;
  const sqlite = dialect === 'sqlite';
  const hex = (c: string): string => (sqlite ? `lower(hex(${c}))` : `encode(${c}, 'hex')`);
  const length = (c: string): string => (sqlite ? `length(${c})` : `octet_length(${c})`);
  const time = (c: string): string =>
    sqlite ? `${SQLITE_GO_TIME_FUNCTION}(${c})` : `CAST(FLOOR(EXTRACT(EPOCH FROM ${c}) * 1000) AS BIGINT)`;
  // The Go aperture's TIMESTAMP as its drivers write one (SQLite: Go's time.Time.String() text; PostgreSQL: UTC without zone).
  const goNow = sqlite ? '$2' : `to_timestamp($2::double precision / 1000) AT TIME ZONE 'UTC'`;
  return {
    closeGo: `UPDATE mpp_sessions SET status = 'closed', updated_at = ${goNow}
      WHERE session_id = $1 AND status = 'open' AND ${length('payment_hash')} = 32 AND deposit_sats >= 0 AND return_invoice <> ''
      RETURNING ${hex('payment_hash')} AS payment_hash, deposit_sats, spent_sats, return_invoice, ${time('created_at')} AS created_at`,
    insertSession: `INSERT INTO aperture_sessions (id, payment_hash, deposit_sats, spent_sats, return_invoice, status, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, 'open', $6, $7) ON CONFLICT (id) DO NOTHING`,
    claimGoCredits: schema.sessionCredits
      ? `INSERT INTO aperture_session_credits (payment_hash, session_id, amount_sats, created_at)
        SELECT ${hex('c.payment_hash')}, c.session_id, c.amount_sats, COALESCE(${time('c.created_at')}, $2)
        FROM mpp_session_credits c WHERE c.session_id = $1 AND ${length('c.payment_hash')} = 32 AND c.amount_sats >= 0
        ON CONFLICT (payment_hash) DO NOTHING`
      : undefined,
    creditOwner: schema.sessionCredits ? `SELECT session_id FROM mpp_session_credits WHERE payment_hash = $1` : undefined,
    claimDeposit:
      'INSERT INTO aperture_session_credits (payment_hash, session_id, amount_sats, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (payment_hash) DO NOTHING',
  };
}

/** The statements {@link goSessionImportScript} runs. */
export type GoSessionStatements = NonNullable<ReturnType<typeof goSessionStatements>>;

/**
 * Imports the Go aperture's open session `id`, as one script the store runs in one transaction.
 * @param g - the dialect's statements
 * @param id - session id
 * @param now - the time of the import, ms
 * @param goNow - the same time as the Go table's driver writes it (SQLite: {@link goTimeText}; PostgreSQL: ms)
 * @returns whether a session was imported
 */
export function* goSessionImportScript(g: GoSessionStatements, id: string, now: number, goNow: unknown): Script<boolean> {
  const row = (yield { text: g.closeGo, values: [id, goNow] }).rows[0];
  if (row === undefined) return false;
  const deposit = Number(row['deposit_sats']);
  const spent = Math.min(Math.max(Number(row['spent_sats']), 0), deposit);
  const paymentHash = String(row['payment_hash']);
  const createdAt = row['created_at'] === null || row['created_at'] === undefined ? now : Number(row['created_at']);
  const inserted = yield {
    text: g.insertSession,
    values: [id, paymentHash, deposit, spent, String(row['return_invoice']), createdAt, now],
  };
  // The id is taken here already: leave both tables as they were.
  if (inserted.changes === 0) return new Rollback(false);
  if (g.claimGoCredits !== undefined) yield { text: g.claimGoCredits, values: [id, now] };
  yield { text: g.claimDeposit, values: [paymentHash, id, deposit, now] };
  return true;
}
