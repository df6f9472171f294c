/**
 * The in-memory store: the whole {@link ApertureStore} in Maps, for the library
 * and tests. Nothing survives the process; revocations reach only this
 * instance's listeners.
 */
import { randomBytes } from 'node:crypto';
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
import { unavailable } from './store-errors.js';
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
  deriveState,
  identifierHash,
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
  readonly #services = new Map<string, { json: string; createdAt: number; updatedAt: number }>();
  readonly #charges = new Map<string, number | undefined>();
  readonly #sessions = new Map<string, SessionRecord>();
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
      if (filter.state !== undefined && deriveState(r.stored, r.expiresAt, now) !== filter.state) return false;
      return true;
    });
    return {
      items: matching.slice(page.offset, page.offset + page.limit).map((r) => toRecord(r, now)),
      total: matching.length,
    };
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
    return revenueTotals([...per.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([service, v]) => ({ service, totalSats: v.totalSats, count: v.count })));
  }

  /** {@inheritDoc ApertureStore.listPendingUnexpired} */
  async listPendingUnexpired(now: number, limit = 1000, after?: PendingCursor): Promise<TransactionRecord[]> {
    this.#open();
    checkPendingPage(limit, after);
    const byToken = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    return [...this.#rows.values()]
      .filter((r) => r.stored === 'pending' && r.expiresAt > now)
      .filter((r) => after === undefined || r.createdAt > after.createdAt || (r.createdAt === after.createdAt && byToken(r.tokenId, after.tokenId) > 0))
      .sort((a, b) => a.createdAt - b.createdAt || byToken(a.tokenId, b.tokenId))
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
    return [...this.#services.keys()].sort().map((name) => this.#service(name)).filter((s) => s !== undefined);
  }

  #service(name: string): ServiceRecord | undefined {
    const s = this.#services.get(name);
    return s === undefined ? undefined : { name, config: JSON.parse(s.json) as unknown, createdAt: s.createdAt, updatedAt: s.updatedAt };
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
    this.#services.set(name, { json, createdAt: now, updatedAt: now });
    return true;
  }

  /** {@inheritDoc ApertureStore.updateService} */
  async updateService(name: string, config: unknown): Promise<boolean> {
    this.#open();
    const json = serviceJson(name, config);
    const s = this.#services.get(name);
    if (s === undefined) return false;
    this.#services.set(name, { json, createdAt: s.createdAt, updatedAt: this.#clock.now() });
    return true;
  }

  /** {@inheritDoc ApertureStore.deleteService} */
  async deleteService(name: string): Promise<boolean> {
    this.#open();
    return this.#services.delete(name);
  }

  /** {@inheritDoc ApertureStore.consumeCharge} */
  async consumeCharge(paymentHash: string, details: ChargeDetails = {}): Promise<boolean> {
    this.#open();
    checkHash(paymentHash, 'paymentHash');
    if (this.#charges.has(paymentHash)) return false;
    this.#charges.set(paymentHash, details.expiresAt);
    return true;
  }

  /** {@inheritDoc ApertureStore.createSession} */
  async createSession(session: SessionRecord): Promise<boolean> {
    this.#open();
    checkSession(session);
    if (this.#sessions.has(session.id)) return false;
    this.#sessions.set(session.id, { ...session });
    return true;
  }

  /** {@inheritDoc ApertureStore.getSession} */
  async getSession(id: string): Promise<SessionRecord | undefined> {
    this.#open();
    const s = this.#sessions.get(id);
    return s === undefined ? undefined : { ...s };
  }

  /** {@inheritDoc ApertureStore.updateSession} */
  async updateSession(id: string, patch: SessionPatch, now: number): Promise<SessionRecord | undefined> {
    this.#open();
    checkSessionPatch(patch);
    const s = this.#sessions.get(id);
    if (s === undefined) return undefined;
    if (patch.depositSats !== undefined) s.depositSats = patch.depositSats;
    if (patch.balanceSats !== undefined) s.balanceSats = patch.balanceSats;
    if (patch.returnInvoice !== undefined) s.returnInvoice = patch.returnInvoice;
    if (patch.state !== undefined) s.state = patch.state;
    s.updatedAt = now;
    return { ...s };
  }

  /** {@inheritDoc ApertureStore.debitSession} */
  async debitSession(id: string, amountSats: number, now: number): Promise<SessionRecord | undefined> {
    this.#open();
    checkDebit(amountSats);
    const s = this.#sessions.get(id);
    if (s === undefined || s.state !== 'open' || s.balanceSats < amountSats) return undefined;
    s.balanceSats -= amountSats;
    s.updatedAt = now;
    return { ...s };
  }

  /** {@inheritDoc ApertureStore.deleteSession} */
  async deleteSession(id: string): Promise<boolean> {
    this.#open();
    return this.#sessions.delete(id);
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
    for (const [hash, expiresAt] of this.#charges) {
      if (expiresAt !== undefined && expiresAt < cutoff) {
        this.#charges.delete(hash);
        report.charges += 1;
      }
    }
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
