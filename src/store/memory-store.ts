/**
 * The in-memory store: every role of {@link ApertureStore} in Maps, for the
 * library and tests. Nothing survives the process; revocations reach only this
 * instance's listeners. Every method changes its Maps without an `await` in
 * between, so each operation is atomic against the others.
 */
import { randomBytes, randomUUID } from 'node:crypto';
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
import { unavailable } from './store-errors.js';
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
  deriveState,
  identifierHash,
  refundError,
  refundTiming,
  revenueTotals,
  serviceJson,
} from './store-support.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Clock for timestamps and the default "now"; default the wall clock. */
  clock?: Clock;
}

interface Row {
  id: number;
  tokenId: string;
  paymentHash: string;
  idHash: string | undefined;
  service: string;
  priceSats: number;
  authType: 'l402' | 'mpp';
  stored: 'pending' | 'settled';
  createdAt: number;
  expiresAt: number;
  settledAt: number | undefined;
  amountPaidSats: number | undefined;
  revokedAt: number | undefined;
}

/**
 * {@link ApertureStore} in memory. `getSecret` answers synchronously.
 * @example
 * const store = new MemoryStore();
 * const key = await store.newSecret(idHash);
 */
export class MemoryStore implements ApertureStore {
  /** Always `memory`. */
  readonly backend = 'memory' as const;
  readonly #clock: Clock;
  readonly #keys = new Map<string, Uint8Array>();
  readonly #rows = new Map<string, Row>();
  readonly #services = new Map<string, { json: string; version: number; createdAt: number; updatedAt: number }>();
  #registryVersion = 0;
  readonly #charges = new Map<string, ChargeRecord & { claimId: string }>();
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #credits = new Map<string, string>();
  readonly #listeners = new RevocationListeners();
  #nextId = 1;
  #closed = false;

  /**
   * @param options - the clock
   */
  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  #open(): void {
    if (this.#closed) throw unavailable('the memory store is closed');
  }

  /** {@inheritDoc ApertureStore.newSecret} */
  async newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    this.#open();
    checkIdHash(idHash);
    const key = new Uint8Array(randomBytes(32));
    this.#keys.set(Buffer.from(idHash).toString('hex'), key);
    return key.slice();
  }

  /** {@inheritDoc ApertureStore.newSecretIfAbsent} */
  async newSecretIfAbsent(idHash: Uint8Array): Promise<Uint8Array> {
    this.#open();
    checkIdHash(idHash);
    const hex = Buffer.from(idHash).toString('hex');
    let key = this.#keys.get(hex);
    if (key === undefined) {
      key = new Uint8Array(randomBytes(32));
      this.#keys.set(hex, key);
    }
    return key.slice();
  }

  /** {@inheritDoc ApertureStore.getSecret} */
  getSecret(idHash: Uint8Array): Uint8Array | undefined {
    this.#open();
    checkIdHash(idHash);
    return this.#keys.get(Buffer.from(idHash).toString('hex'))?.slice();
  }

  /** {@inheritDoc ApertureStore.revokeSecret} */
  async revokeSecret(idHash: Uint8Array): Promise<boolean> {
    this.#open();
    checkIdHash(idHash);
    const hex = Buffer.from(idHash).toString('hex');
    const row = [...this.#rows.values()].find((r) => r.idHash === hex);
    const deleted = this.#keys.delete(hex);
    let marked = false;
    if (row !== undefined && row.revokedAt === undefined) {
      row.revokedAt = this.#clock.now();
      marked = true;
    }
    if (deleted || marked) this.#listeners.emit({ idHash: hex, tokenId: row?.tokenId, remote: false });
    return deleted;
  }

  /** {@inheritDoc ApertureStore.recordChallenge} */
  async recordChallenge(record: ChallengeRecord): Promise<boolean> {
    this.#open();
    checkChallenge(record);
    if (this.#rows.has(record.tokenId)) return false;
    this.#rows.set(record.tokenId, {
      id: this.#nextId++,
      tokenId: record.tokenId,
      paymentHash: record.paymentHash,
      idHash: record.authType === 'l402' ? identifierHash(record.paymentHash, record.tokenId) : undefined,
      service: record.service,
      priceSats: record.priceSats,
      authType: record.authType,
      stored: 'pending',
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      settledAt: undefined,
      amountPaidSats: undefined,
      revokedAt: undefined,
    });
    return true;
  }

  /** {@inheritDoc ApertureStore.markSettled} */
  async markSettled(paymentHash: string, settledAt: number, amountPaidSats: number): Promise<boolean> {
    this.#open();
    checkHash(paymentHash, 'paymentHash');
    let changed = false;
    for (const row of this.#rows.values()) {
      if (row.paymentHash === paymentHash && row.stored === 'pending') {
        row.stored = 'settled';
        row.settledAt = settledAt;
        row.amountPaidSats = amountPaidSats;
        changed = true;
      }
    }
    return changed;
  }

  /** {@inheritDoc ApertureStore.getTransaction} */
  async getTransaction(tokenId: string, now?: number): Promise<TransactionRecord | undefined> {
    this.#open();
    const row = this.#rows.get(tokenId);
    return row === undefined ? undefined : toRecord(row, now ?? this.#clock.now());
  }

  /** {@inheritDoc ApertureStore.listTransactions} */
  async listTransactions(filter: TransactionFilter = {}): Promise<TransactionPage> {
    this.#open();
    const page = checkFilter(filter);
    const now = filter.now ?? this.#clock.now();
    const matching = this.#newestFirst().filter((r) => {
      if (filter.service !== undefined && r.service !== filter.service) return false;
      if (filter.authType !== undefined && r.authType !== filter.authType) return false;
      if (filter.start !== undefined && r.createdAt < filter.start) return false;
      if (filter.end !== undefined && r.createdAt >= filter.end) return false;
      if (filter.settledStart !== undefined && (r.settledAt === undefined || r.settledAt < filter.settledStart)) return false;
      if (filter.settledEnd !== undefined && (r.settledAt === undefined || r.settledAt >= filter.settledEnd)) return false;
      if (filter.state !== undefined && deriveState(r.stored, r.expiresAt, now) !== filter.state) return false;
      return true;
    });
    return {
      items: matching.slice(page.offset, page.offset + page.limit).map((r) => this.#withRefund(toRecord(r, now))),
      total: matching.length,
    };
  }

  /** A deposit row with the refund of the closed session it opened. */
  #withRefund(record: TransactionRecord): TransactionRecord {
    const session = record.authType === 'mpp' ? this.#sessions.get(record.paymentHash) : undefined;
    if (session?.status !== 'closed' || session.refund === undefined) return record;
    record.refund = { status: session.refund.status, sats: session.balanceSats };
    if (session.refund.lastError !== undefined) record.refund.error = session.refund.lastError;
    return record;
  }

  /** {@inheritDoc ApertureStore.listTokens} */
  async listTokens(filter: TokenFilter = {}): Promise<TransactionPage> {
    this.#open();
    const page = checkPage(filter.limit, filter.offset);
    const now = this.#clock.now();
    const matching = this.#newestFirst().filter(
      (r) =>
        r.authType === 'l402' &&
        r.stored === 'settled' &&
        (filter.service === undefined || r.service === filter.service) &&
        (filter.includeRevoked === true || r.revokedAt === undefined),
    );
    return {
      items: matching.slice(page.offset, page.offset + page.limit).map((r) => toRecord(r, now)),
      total: matching.length,
    };
  }

  #newestFirst(): Row[] {
    return [...this.#rows.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
  }

  /** {@inheritDoc ApertureStore.revenueStats} */
  async revenueStats(range: { start?: number; end?: number } = {}): Promise<RevenueStats> {
    this.#open();
    const per = new Map<string, { totalSats: number; count: number }>();
    for (const r of this.#rows.values()) {
      if (r.stored !== 'settled' || r.settledAt === undefined) continue;
      if (range.start !== undefined && r.settledAt < range.start) continue;
      if (range.end !== undefined && r.settledAt >= range.end) continue;
      const entry = per.get(r.service) ?? { totalSats: 0, count: 0 };
      entry.totalSats += r.amountPaidSats ?? r.priceSats;
      entry.count += 1;
      per.set(r.service, entry);
    }
    return revenueTotals(
      [...per.entries()].sort(([a], [b]) => byCodeUnit(a, b)).map(([service, v]) => ({ service, totalSats: v.totalSats, count: v.count })),
    );
  }

  /** {@inheritDoc ApertureStore.listPendingUnexpired} */
  async listPendingUnexpired(now: number, limit = 1000, after?: PendingCursor): Promise<TransactionRecord[]> {
    this.#open();
    checkPendingPage(limit, after);
    return [...this.#rows.values()]
      .filter((r) => r.stored === 'pending' && r.expiresAt > now)
      .filter(
        (r) =>
          after === undefined ||
          r.createdAt > after.createdAt ||
          (r.createdAt === after.createdAt && byCodeUnit(r.tokenId, after.tokenId) > 0),
      )
      .sort((a, b) => a.createdAt - b.createdAt || byCodeUnit(a.tokenId, b.tokenId))
      .slice(0, limit)
      .map((r) => toRecord(r, now));
  }

  /** {@inheritDoc ApertureStore.revokeToken} */
  async revokeToken(tokenId: string): Promise<boolean> {
    this.#open();
    const row = this.#rows.get(tokenId);
    if (row === undefined) return false;
    const deleted = row.idHash !== undefined && this.#keys.delete(row.idHash);
    const marked = row.revokedAt === undefined;
    if (marked) row.revokedAt = this.#clock.now();
    if (!deleted && !marked) return false;
    if (row.idHash !== undefined) this.#listeners.emit({ idHash: row.idHash, tokenId, remote: false });
    return true;
  }

  /** {@inheritDoc ApertureStore.onRevoked} */
  onRevoked(listener: (event: RevocationEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** {@inheritDoc ApertureStore.listServices} */
  async listServices(): Promise<ServiceRecord[]> {
    this.#open();
    return [...this.#services.keys()]
      .sort(byCodeUnit)
      .map((name) => this.#service(name))
      .filter((s) => s !== undefined);
  }

  #service(name: string): ServiceRecord | undefined {
    const s = this.#services.get(name);
    return s === undefined
      ? undefined
      : { name, config: JSON.parse(s.json) as unknown, version: s.version, createdAt: s.createdAt, updatedAt: s.updatedAt };
  }

  /** {@inheritDoc ApertureStore.getService} */
  async getService(name: string): Promise<ServiceRecord | undefined> {
    this.#open();
    return this.#service(name);
  }

  /** {@inheritDoc ApertureStore.createService} */
  async createService(name: string, config: unknown): Promise<boolean> {
    this.#open();
    const json = serviceJson(name, config);
    if (this.#services.has(name)) return false;
    const now = this.#clock.now();
    this.#services.set(name, { json, version: ++this.#registryVersion, createdAt: now, updatedAt: now });
    return true;
  }

  /** {@inheritDoc ApertureStore.updateService} */
  async updateService(name: string, config: unknown): Promise<boolean> {
    this.#open();
    const json = serviceJson(name, config);
    const s = this.#services.get(name);
    if (s === undefined) return false;
    this.#services.set(name, { json, version: ++this.#registryVersion, createdAt: s.createdAt, updatedAt: this.#clock.now() });
    return true;
  }

  /** {@inheritDoc ApertureStore.deleteService} */
  async deleteService(name: string): Promise<boolean> {
    this.#open();
    if (!this.#services.delete(name)) return false;
    this.#registryVersion += 1;
    return true;
  }

  /** {@inheritDoc ApertureStore.servicesVersion} */
  async servicesVersion(): Promise<number> {
    this.#open();
    return this.#registryVersion;
  }

  /** {@inheritDoc ApertureStore.consumeCharge} */
  async consumeCharge(paymentHash: string, details: ChargeDetails = {}): Promise<ChargeClaim | undefined> {
    this.#open();
    checkHash(paymentHash, 'paymentHash');
    checkChargeDetails(details);
    if (this.#charges.has(paymentHash)) return undefined;
    const claim: ChargeClaim = { paymentHash, claimId: randomUUID(), consumedAt: details.consumedAt ?? this.#clock.now() };
    const row: ChargeRecord & { claimId: string } = { paymentHash, consumedAt: claim.consumedAt, claimId: claim.claimId };
    if (details.challengeId !== undefined) row.challengeId = details.challengeId;
    if (details.expiresAt !== undefined) row.expiresAt = details.expiresAt;
    this.#charges.set(paymentHash, row);
    return claim;
  }

  /** {@inheritDoc ApertureStore.releaseCharge} */
  async releaseCharge(claim: ChargeClaim): Promise<boolean> {
    this.#open();
    checkHash(claim.paymentHash, 'paymentHash');
    if (this.#charges.get(claim.paymentHash)?.claimId !== claim.claimId) return false;
    return this.#charges.delete(claim.paymentHash);
  }

  /** {@inheritDoc ApertureStore.getCharge} */
  async getCharge(paymentHash: string): Promise<ChargeRecord | undefined> {
    this.#open();
    const row = this.#charges.get(paymentHash);
    if (row === undefined) return undefined;
    const { claimId: _claimId, ...record } = row;
    return record;
  }

  /**
   * Whether the Go aperture recorded a charge as consumed: a memory store holds no Go database, so false.
   * @param paymentHash - the charge's payment hash
   * @returns false
   */
  async goChargeConsumed(paymentHash: string): Promise<boolean> {
    this.#open();
    checkHash(paymentHash, 'paymentHash');
    return false;
  }

  /**
   * Carries a Go aperture's open session over: a memory store holds no Go database, so false.
   * @param id - the session id
   * @returns false
   */
  async importGoSession(id: string): Promise<boolean> {
    this.#open();
    checkId(id, 'session id');
    return false;
  }

  /**
   * The session the Go aperture credited a payment to: a memory store holds no Go database, so none.
   * @param paymentHash - the payment hash
   * @returns undefined
   */
  async goCreditOwner(paymentHash: string): Promise<string | undefined> {
    this.#open();
    checkHash(paymentHash, 'paymentHash');
    return undefined;
  }

  /** {@inheritDoc ApertureStore.pruneCharges} */
  async pruneCharges(expiredBefore: number): Promise<number> {
    this.#open();
    return this.#pruneCharges(expiredBefore);
  }

  #pruneCharges(expiredBefore: number): number {
    let pruned = 0;
    for (const [hash, row] of this.#charges) {
      if (row.expiresAt !== undefined && row.expiresAt < expiredBefore) {
        this.#charges.delete(hash);
        pruned += 1;
      }
    }
    return pruned;
  }

  /** {@inheritDoc ApertureStore.openSession} */
  async openSession(session: NewSession): Promise<OpenOutcome> {
    this.#open();
    const now = checkNewSession(session, this.#clock.now());
    const owner = this.#credits.get(session.paymentHash);
    if (owner !== undefined) return owner === session.id ? 'replayed' : 'foreign';
    if (this.#sessions.has(session.id)) return 'foreign';
    this.#credits.set(session.paymentHash, session.id);
    this.#sessions.set(session.id, {
      id: session.id,
      paymentHash: session.paymentHash,
      depositSats: session.depositSats,
      spentSats: 0,
      balanceSats: session.depositSats,
      returnInvoice: session.returnInvoice,
      status: 'open',
      createdAt: now,
      updatedAt: now,
    });
    return 'opened';
  }

  /** {@inheritDoc ApertureStore.getSession} */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    this.#open();
    return copySession(this.#sessions.get(id));
  }

  /** {@inheritDoc ApertureStore.creditSession} */
  async creditSession(id: string, paymentHash: string, amountSats: number, now?: number): Promise<CreditOutcome> {
    this.#open();
    checkId(id, 'session id');
    checkHash(paymentHash, 'paymentHash');
    checkPositive(amountSats, 'amountSats');
    const at = checkedTime(now, this.#clock.now(), 'now');
    const owner = this.#credits.get(paymentHash);
    if (owner !== undefined) return owner === id ? 'replayed' : 'foreign';
    const s = this.#sessions.get(id);
    if (s === undefined || s.status !== 'open') return 'not-open';
    this.#credits.set(paymentHash, id);
    s.depositSats += amountSats;
    s.balanceSats = s.depositSats - s.spentSats;
    s.updatedAt = at;
    return 'applied';
  }

  /** {@inheritDoc ApertureStore.debitSession} */
  async debitSession(id: string, amountSats: number, now?: number): Promise<SessionRecord | undefined> {
    this.#open();
    checkPositive(amountSats, 'amountSats');
    const at = checkedTime(now, this.#clock.now(), 'now');
    const s = this.#sessions.get(id);
    if (s === undefined || s.status !== 'open' || s.depositSats - s.spentSats < amountSats) return undefined;
    s.spentSats += amountSats;
    s.balanceSats = s.depositSats - s.spentSats;
    s.updatedAt = at;
    return copySession(s);
  }

  /** {@inheritDoc ApertureStore.settleSession} */
  async settleSession(id: string, deltaSats: number, now?: number): Promise<SessionRecord | undefined> {
    this.#open();
    checkDelta(deltaSats);
    const at = checkedTime(now, this.#clock.now(), 'now');
    const s = this.#sessions.get(id);
    if (s === undefined || s.status !== 'open') return undefined;
    s.spentSats = Math.min(Math.max(s.spentSats + deltaSats, 0), s.depositSats);
    s.balanceSats = s.depositSats - s.spentSats;
    s.updatedAt = at;
    return copySession(s);
  }

  /** {@inheritDoc ApertureStore.closeSession} */
  async closeSession(id: string, now?: number): Promise<SessionRecord | undefined> {
    this.#open();
    const at = checkedTime(now, this.#clock.now(), 'now');
    const s = this.#sessions.get(id);
    if (s === undefined || s.status !== 'open') return undefined;
    s.status = 'closed';
    s.closedAt = at;
    s.updatedAt = at;
    s.refund = { status: 'pending', attempts: 0, updatedAt: at };
    return copySession(s);
  }

  /** {@inheritDoc ApertureStore.listIdleSessions} */
  async listIdleSessions(idleBefore: number, limit = 100, after?: SessionCursor): Promise<SessionRecord[]> {
    this.#open();
    checkIdlePage(idleBefore, limit, after);
    return [...this.#sessions.values()]
      .filter((s) => s.status === 'open' && s.updatedAt < idleBefore)
      .filter(
        (s) => after === undefined || s.updatedAt > after.updatedAt || (s.updatedAt === after.updatedAt && byCodeUnit(s.id, after.id) > 0),
      )
      .sort((a, b) => a.updatedAt - b.updatedAt || byCodeUnit(a.id, b.id))
      .slice(0, limit)
      .map((s) => copySession(s) as SessionRecord);
  }

  /** {@inheritDoc ApertureStore.beginRefund} */
  async beginRefund(id: string, timing: RefundTiming = {}): Promise<SessionRecord | undefined> {
    this.#open();
    const { now, staleBefore } = refundTiming(timing, this.#clock.now());
    const s = this.#sessions.get(id);
    if (s?.status !== 'closed' || s.refund === undefined || !refundDue(s, staleBefore)) return undefined;
    s.refund = { ...s.refund, status: 'in-flight', attempts: s.refund.attempts + 1, updatedAt: now };
    return copySession(s);
  }

  /** {@inheritDoc ApertureStore.finishRefund} */
  async finishRefund(id: string, outcome: RefundOutcome, now?: number): Promise<SessionRecord | undefined> {
    this.#open();
    const error = refundError(outcome);
    const at = checkedTime(now, this.#clock.now(), 'now');
    const s = this.#sessions.get(id);
    if (s?.refund?.status !== 'in-flight') return undefined;
    s.refund = { status: outcome.status, attempts: s.refund.attempts, updatedAt: at };
    if (error !== null) s.refund.lastError = error;
    return copySession(s);
  }

  /** {@inheritDoc ApertureStore.listRefundsDue} */
  async listRefundsDue(limit = 100, timing: RefundTiming = {}): Promise<SessionRecord[]> {
    this.#open();
    checkPage(limit, 0);
    const { staleBefore } = refundTiming(timing, this.#clock.now());
    return [...this.#sessions.values()]
      .filter((s) => s.status === 'closed' && refundDue(s, staleBefore))
      .sort((a, b) => (a.refund?.updatedAt ?? 0) - (b.refund?.updatedAt ?? 0) || byCodeUnit(a.id, b.id))
      .slice(0, limit)
      .map((s) => copySession(s) as SessionRecord);
  }

  /** {@inheritDoc ApertureStore.collectGarbage} */
  async collectGarbage(now: number, graceMs: number): Promise<GarbageReport> {
    this.#open();
    const cutoff = now - graceMs;
    const report: GarbageReport = { rootKeys: 0, transactions: 0, charges: 0 };
    for (const [tokenId, row] of this.#rows) {
      if (row.stored !== 'pending' || row.expiresAt >= cutoff) continue;
      if (row.idHash !== undefined && this.#keys.delete(row.idHash)) report.rootKeys += 1;
      this.#rows.delete(tokenId);
      report.transactions += 1;
    }
    report.charges = this.#pruneCharges(cutoff);
    return report;
  }

  /** {@inheritDoc ApertureStore.health} */
  async health(): Promise<StoreHealth> {
    return this.#closed ? { ok: false, backend: 'memory', detail: 'closed' } : { ok: true, backend: 'memory' };
  }

  /** {@inheritDoc ApertureStore.close} */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }
}

function toRecord(r: Row, now: number): TransactionRecord {
  const rec: TransactionRecord = {
    id: r.id,
    tokenId: r.tokenId,
    paymentHash: r.paymentHash,
    service: r.service,
    priceSats: r.priceSats,
    authType: r.authType,
    state: deriveState(r.stored, r.expiresAt, now),
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
  };
  if (r.settledAt !== undefined) rec.settledAt = r.settledAt;
  if (r.amountPaidSats !== undefined) rec.amountPaidSats = r.amountPaidSats;
  if (r.revokedAt !== undefined) rec.revokedAt = r.revokedAt;
  return rec;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function refundDue(s: SessionRecord, staleBefore: number): boolean {
  const r = s.refund;
  if (r === undefined) return false;
  return r.status === 'pending' || r.status === 'failed' || (r.status === 'in-flight' && r.updatedAt <= staleBefore);
}

function copySession(s: SessionRecord | undefined): SessionRecord | undefined {
  if (s === undefined) return undefined;
  const copy: SessionRecord = { ...s };
  if (s.refund !== undefined) copy.refund = { ...s.refund };
  return copy;
}
