/**
 * Mapping of database driver errors to coded {@link L402Error}s: "cannot reach
 * the database" becomes `L402_ERR_STORE_UNAVAILABLE` (503) so that callers
 * answer 503 and retry later; anything else is `L402_ERR_STORE_QUERY_FAILED`.
 */
import { L402Error } from '../core/errors.js';

/** Code of "the database cannot be reached right now". */
export const STORE_UNAVAILABLE = 'L402_ERR_STORE_UNAVAILABLE';
/** Code of any other database failure. */
export const STORE_QUERY_FAILED = 'L402_ERR_STORE_QUERY_FAILED';
/** Code of malformed input to a store method. */
export const STORE_INVALID_ARGUMENT = 'L402_ERR_STORE_INVALID_ARGUMENT';
/** Code of a database migrated by a newer version of this package. */
export const STORE_SCHEMA_TOO_NEW = 'L402_ERR_STORE_SCHEMA_TOO_NEW';

/**
 * A "database unavailable" error.
 * @param message - what failed
 * @param cause - the driver error
 * @returns an L402Error with status 503
 */
export function unavailable(message: string, cause?: unknown): L402Error {
  return new L402Error(STORE_UNAVAILABLE, message, { status: 503, cause });
}

/**
 * An "invalid argument" error.
 * @param message - what is wrong
 * @returns an L402Error with status 400
 */
export function invalidArgument(message: string): L402Error {
  return new L402Error(STORE_INVALID_ARGUMENT, message, { status: 400 });
}

// SQLite result codes (primary code prefix of better-sqlite3's `code`) that
// mean the file cannot be used right now rather than that the query is wrong.
const SQLITE_UNAVAILABLE = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_PROTOCOL',
  'SQLITE_NOLFS',
];

/**
 * Wraps an error thrown by better-sqlite3.
 * @param error - the thrown value
 * @param what - the operation, for the message
 * @returns a coded L402Error (the input itself when it already is one)
 */
export function fromSqliteError(error: unknown, what: string): L402Error {
  if (error instanceof L402Error) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  const message = error instanceof Error ? error.message : String(error);
  if (SQLITE_UNAVAILABLE.some((c) => code === c || code.startsWith(`${c}_`)) || /database connection is not open/.test(message)) {
    return unavailable(`SQLite unavailable during ${what}: ${code || message}`, error);
  }
  return new L402Error(STORE_QUERY_FAILED, `SQLite ${what} failed: ${message}`, { status: 500, cause: error });
}

// Node socket errors seen when PostgreSQL is down or the connection drops.
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Whether a `pg` error means "cannot reach the database" (connection class 08,
 * shutdown / crash classes 57P0x and 53xxx resources, socket errors, pool
 * connect timeouts, connections that ended).
 * @param error - the thrown value
 * @returns true when the database is unreachable
 */
export function isPgUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NET_CODES.has(code)) return true;
    if (code.startsWith('08') || code.startsWith('57P') || code.startsWith('53')) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection terminated unexpectedly|Client was closed|Cannot use a pool after calling end/i.test(
    message,
  );
}

/**
 * Wraps an error thrown by `pg`.
 * @param error - the thrown value
 * @param what - the operation, for the message
 * @returns a coded L402Error (the input itself when it already is one)
 */
export function fromPgError(error: unknown, what: string): L402Error {
  if (error instanceof L402Error) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isPgUnavailable(error)) return unavailable(`PostgreSQL unavailable during ${what}: ${message}`, error);
  return new L402Error(STORE_QUERY_FAILED, `PostgreSQL ${what} failed: ${message}`, { status: 500, cause: error });
}
