/**
 * Input checks, identifier hashing and listener bookkeeping shared by the three
 * store implementations, so that they accept and reject exactly the same input.
 */
import { createHash } from 'node:crypto';
import type { ChargeDetails } from './charge-store.js';
import {
  MAX_PAGE_SIZE,
  type ChallengeRecord,
  type PendingCursor,
  type RevenueStats,
  type ServiceRevenue,
  type TransactionFilter,
  type TransactionState,
} from './ledger.js';
import type { RevocationEvent } from './root-key-store.js';
import type { NewSession, RefundOutcome, RefundTiming, SessionCursor } from './session-store.js';
import { invalidArgument } from './store-errors.js';

const HEX64 = /^[0-9a-f]{64}$/;
const STATES: readonly TransactionState[] = ['pending', 'settled', 'expired'];

/**
 * Checks a 64-character lower-case hex value.
 * @param value - the value
 * @param what - its name, for the message
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkHash(value: string, what: string): void {
  if (typeof value !== 'string' || !HEX64.test(value)) throw invalidArgument(`${what} must be 64 lower-case hex characters`);
}

/**
 * Checks a 32-byte identifier hash.
 * @param idHash - the hash
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkIdHash(idHash: Uint8Array): void {
  if (!(idHash instanceof Uint8Array) || idHash.length !== 32) throw invalidArgument('idHash must be 32 bytes');
}

function checkAmount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(`${what} must be a non-negative integer`);
}

function checkTime(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw invalidArgument(`${what} must be an integer number of milliseconds`);
}

function checkText(value: string, what: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw invalidArgument(`${what} must be a string of 1-${max} characters`);
  }
}

/**
 * Checks a challenge record.
 * @param record - the record
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkChallenge(record: ChallengeRecord): void {
  if (record.authType !== 'l402' && record.authType !== 'mpp') throw invalidArgument("authType must be 'l402' or 'mpp'");
  if (record.authType === 'l402') checkHash(record.tokenId, 'tokenId');
  else checkText(record.tokenId, 'tokenId', 200);
  checkHash(record.paymentHash, 'paymentHash');
  checkText(record.service, 'service', 200);
  checkAmount(record.priceSats, 'priceSats');
  checkTime(record.createdAt, 'createdAt');
  checkTime(record.expiresAt, 'expiresAt');
}

/**
 * sha256 of the v0 identifier `0x0000 ‖ payment_hash ‖ token_id`: the key the
 * root key is stored under, rebuilt from a ledger row. Computed here rather than
 * through the core codec because the store only needs the fixed layout.
 * @param paymentHash - payment hash, hex
 * @param tokenId - token ID, hex
 * @returns the hash as hex, or `undefined` when the row is not an L402 token
 */
export function identifierHash(paymentHash: string, tokenId: string): string | undefined {
  if (!HEX64.test(paymentHash) || !HEX64.test(tokenId)) return undefined;
  const identifier = Buffer.concat([Buffer.alloc(2), Buffer.from(paymentHash, 'hex'), Buffer.from(tokenId, 'hex')]);
  return createHash('sha256').update(identifier).digest('hex');
}

/** A validated page request. */
export interface Page {
  limit: number;
  offset: number;
}

/**
 * Validates paging input.
 * @param limit - page size, default 100
 * @param offset - rows to skip, default 0
 * @returns the page
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkPage(limit: number | undefined, offset: number | undefined): Page {
  const l = limit ?? 100;
  const o = offset ?? 0;
  if (!Number.isSafeInteger(l) || l < 1 || l > MAX_PAGE_SIZE) throw invalidArgument(`limit must be 1-${MAX_PAGE_SIZE}`);
  if (!Number.isSafeInteger(o) || o < 0) throw invalidArgument('offset must be a non-negative integer');
  return { limit: l, offset: o };
}

/**
 * Validates the paging input of `listPendingUnexpired`.
 * @param limit - page size, default 1000
 * @param after - the cursor, when given
 * @returns the page size
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkPendingPage(limit: number, after: PendingCursor | undefined): number {
  checkPage(limit, 0);
  if (after !== undefined) {
    checkTime(after.createdAt, 'after.createdAt');
    checkText(after.tokenId, 'after.tokenId', 200);
  }
  return limit;
}

/**
 * Validates a transaction filter (state, dates, page).
 * @param filter - the filter
 * @returns the page
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkFilter(filter: TransactionFilter): Page {
  if (filter.state !== undefined && !STATES.includes(filter.state)) throw invalidArgument('state must be pending, settled or expired');
  if (filter.authType !== undefined && filter.authType !== 'l402' && filter.authType !== 'mpp')
    throw invalidArgument("authType must be 'l402' or 'mpp'");
  if (filter.start !== undefined) checkTime(filter.start, 'start');
  if (filter.end !== undefined) checkTime(filter.end, 'end');
  if (filter.settledStart !== undefined) checkTime(filter.settledStart, 'settledStart');
  if (filter.settledEnd !== undefined) checkTime(filter.settledEnd, 'settledEnd');
  return checkPage(filter.limit, filter.offset);
}

/**
 * Checks a session id (and any other short key text).
 * @param id - the id
 * @param what - its name, for the message
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkId(id: string, what: string): void {
  checkText(id, what, 200);
}

/**
 * Checks a session to open.
 * @param s - the session
 * @param now - the default time
 * @returns the session's time
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkNewSession(s: NewSession, now: number): number {
  checkText(s.id, 'session id', 200);
  checkHash(s.paymentHash, 'paymentHash');
  checkAmount(s.depositSats, 'depositSats');
  checkText(s.returnInvoice, 'returnInvoice', 8000);
  return checkedTime(s.now, now, 'now');
}

/**
 * Checks a positive amount of satoshis (a credit or a debit).
 * @param value - satoshis
 * @param what - its name, for the message
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkPositive(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw invalidArgument(`${what} must be a positive integer`);
}

/**
 * Checks a settlement delta: any safe integer.
 * @param value - satoshis
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkDelta(value: number): void {
  if (!Number.isSafeInteger(value)) throw invalidArgument('deltaSats must be an integer');
}

/**
 * An optional time argument, checked, or its default.
 * @param value - the argument
 * @param fallback - the default (the store's clock)
 * @param what - its name, for the message
 * @returns the time
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkedTime(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  checkTime(value, what);
  return value;
}

/**
 * Checks charge details.
 * @param details - challenge id, expiry, consumption time
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkChargeDetails(details: ChargeDetails): void {
  if (details.challengeId !== undefined) checkText(details.challengeId, 'challengeId', 200);
  if (details.expiresAt !== undefined) checkTime(details.expiresAt, 'expiresAt');
  if (details.consumedAt !== undefined) checkTime(details.consumedAt, 'consumedAt');
}

/** Default of {@link RefundTiming.staleAfterMs}: 10 minutes. */
export const DEFAULT_REFUND_STALE_MS = 600_000;

/**
 * Resolves refund timing.
 * @param timing - now and the staleness limit
 * @param now - the store's clock
 * @returns now, and the instant before which an in-flight refund counts as abandoned
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function refundTiming(timing: RefundTiming, now: number): { now: number; staleBefore: number } {
  const at = checkedTime(timing.now, now, 'now');
  const stale = timing.staleAfterMs ?? DEFAULT_REFUND_STALE_MS;
  if (!Number.isSafeInteger(stale) || stale < 0) throw invalidArgument('staleAfterMs must be a non-negative integer');
  return { now: at, staleBefore: at - stale };
}

/**
 * Checks a refund outcome and returns the error to store.
 * @param outcome - status and error
 * @returns the error text, at most 1000 characters, or null
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function refundError(outcome: RefundOutcome): string | null {
  if (!['succeeded', 'failed', 'skipped', 'abandoned'].includes(outcome.status))
    throw invalidArgument('refund status must be succeeded, failed, skipped or abandoned');
  if (outcome.error !== undefined && typeof outcome.error !== 'string') throw invalidArgument('refund error must be a string');
  return outcome.error === undefined ? null : outcome.error.slice(0, 1000);
}

/**
 * Checks the paging input of `listIdleSessions`.
 * @param idleBefore - the instant
 * @param limit - page size
 * @param after - the cursor, when given
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function checkIdlePage(idleBefore: number, limit: number, after: SessionCursor | undefined): void {
  checkTime(idleBefore, 'idleBefore');
  checkPage(limit, 0);
  if (after !== undefined) {
    checkTime(after.updatedAt, 'after.updatedAt');
    checkText(after.id, 'after.id', 200);
  }
}

/**
 * Checks a service name and serialises its config.
 * @param name - service name
 * @param config - any JSON value
 * @returns the config as JSON text
 * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT`
 */
export function serviceJson(name: string, config: unknown): string {
  checkText(name, 'service name', 200);
  let text: string | undefined;
  try {
    text = JSON.stringify(config);
  } catch (error) {
    throw invalidArgument(`service config is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (text === undefined) throw invalidArgument('service config is not JSON-serialisable');
  return text;
}

/** The set of `onRevoked` listeners of one store. */
export class RevocationListeners {
  readonly #listeners = new Set<(event: RevocationEvent) => void>();

  /**
   * Adds a listener.
   * @param listener - called for every revocation
   * @returns a function that removes it
   */
  add(listener: (event: RevocationEvent) => void): () => void {
    // A wrapper, so that registering one function twice gives two registrations.
    const entry = (event: RevocationEvent): void => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Calls every listener; a throwing listener does not stop the others.
   * @param event - the revocation
   */
  emit(event: RevocationEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the revocation already happened.
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * Derived state of a stored row.
 * @param stored - `pending` or `settled`
 * @param expiresAt - invoice expiry
 * @param now - the current time
 * @returns the state to report
 */
export function deriveState(stored: string, expiresAt: number, now: number): TransactionState {
  if (stored === 'settled') return 'settled';
  return expiresAt <= now ? 'expired' : 'pending';
}

/**
 * The revenue summary of per-service sums: the grand totals over `services`.
 * @param services - per-service revenue, sorted by name
 * @returns `{ totalSats, count, services }`
 */
export function revenueTotals(services: ServiceRevenue[]): RevenueStats {
  let totalSats = 0;
  let count = 0;
  for (const s of services) {
    totalSats += s.totalSats;
    count += s.count;
  }
  return { totalSats, count, services };
}
