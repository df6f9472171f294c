/**
 * The handler table of `adminrpc.Admin`: one function per method, shared by
 * the gRPC and REST transports. Handlers take and return message objects (see
 * admin-codec.ts) and answer refusals by throwing {@link AdminStatusError}.
 */
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { JsonValue } from '../proxy/config/raw-node.js';
import type { TransactionRecord, TransactionState } from '../store/ledger.js';
import type { AdminBackend } from './admin-backend.js';
import type { MessageObject } from './admin-codec.js';
import type { AdminGrant } from './admin-macaroon.js';
import type { AdminMethod } from './admin-proto.js';
import { Code, status, AdminStatusError } from './admin-status.js';
import { formatRfc3339, parseRfc3339 } from './rfc3339.js';
import {
  canonicalEntry,
  effectiveServices,
  FIELD_KEYS,
  fieldOfIssue,
  mergePatch,
  newHeaderReference,
  reservedPathCaptured,
  RESERVED_PATHS,
  schemeOf,
  serviceMessage,
  tombstone,
  validateEntry,
  type EffectiveService,
  type EffectiveServices,
  type ServiceEntry,
} from './service-entries.js';

/** Page size of listings when the request gives none (the reference's). */
export const DEFAULT_LIMIT = 50;
/** Largest page (the reference's). */
export const MAX_LIMIT = 1000;

/** What a handler knows about its call. */
export interface CallContext {
  /** What the caller's macaroon allows; undefined for `GetHealth`, which needs none. */
  grant: AdminGrant | undefined;
  /** The current time, ms. */
  now: number;
}

/** A handler of one method. */
export type AdminHandler = (request: MessageObject, context: CallContext) => Promise<MessageObject>;

const invalid = (message: string): AdminStatusError => status(Code.INVALID_ARGUMENT, message);

function text(request: MessageObject, field: string): string {
  const v = request[field];
  return typeof v === 'string' ? v : '';
}

function int(request: MessageObject, field: string): number {
  const v = request[field];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return 0;
}

function page(request: MessageObject): { limit: number; offset: number } {
  const requested = int(request, 'limit');
  const limit = requested <= 0 ? DEFAULT_LIMIT : Math.min(requested, MAX_LIMIT);
  const offset = int(request, 'offset');
  if (offset < 0) throw invalid('offset must be >= 0');
  return { limit, offset };
}

/** Parses an optional RFC 3339 field; `what` names it in the message. */
function time(value: string, what: string): number | undefined {
  if (value === '') return undefined;
  const ms = parseRfc3339(value);
  if (ms === undefined) throw invalid(`invalid ${what} format (RFC 3339, e.g. 2026-01-31T00:00:00Z)`);
  return ms;
}

function transactionMessage(row: TransactionRecord): MessageObject {
  return {
    id: row.id,
    token_id: row.tokenId,
    payment_hash: row.paymentHash,
    service_name: row.service,
    price_sats: String(row.priceSats),
    state: row.state,
    created_at: formatRfc3339(row.createdAt),
    settled_at: row.settledAt === undefined ? '' : formatRfc3339(row.settledAt),
    revoked_at: row.revokedAt === undefined ? '' : formatRfc3339(row.revokedAt),
    auth_type: row.authType,
    refund_status: row.refund?.status ?? '',
    refund_sats: String(row.refund?.sats ?? 0),
    refund_error: row.refund?.error ?? '',
  };
}

/** Names a service created through the API may have: no caveat separators, no `/` (it is a REST path segment). */
function checkNewName(name: string): void {
  if (name.length > 200) throw invalid('name: at most 200 characters');
  if (/[,:=\s/\u0000-\u001f\u007f]/.test(name))
    throw invalid(`name: "${name}" may not contain ',', ':', '=', '/', spaces or control characters`);
}

/** The `config` extension field of a request, canonical, or an empty entry. */
function requestEntry(request: MessageObject): ServiceEntry {
  const config = request['config'];
  if (config === undefined || config === null) return {};
  const canonical = canonicalEntry(config as ServiceEntry);
  if (!canonical.ok) throw invalid(`config.${canonical.duplicate}: key given twice (keys are case-insensitive)`);
  return canonical.entry;
}

/** Sets an entry key from a message field, refusing a `config` key that says otherwise. */
function setField(entry: ServiceEntry, patch: ServiceEntry, field: keyof typeof FIELD_KEYS, value: JsonValue): void {
  const key = FIELD_KEYS[field];
  if (Object.hasOwn(patch, key) && patch[key] !== null && String(patch[key]) !== String(value)) {
    throw invalid(`config.${key} conflicts with ${field}; set it once`);
  }
  entry[key] = value;
}

/** The `price` of a request as an integer (a decimal string from the wire). */
function priceOf(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw invalid(`price: ${String(value)} is out of range`);
  return n;
}

/** Reports an entry's issues as one `INVALID_ARGUMENT`, each naming its field. */
function validated(entry: ServiceEntry, backend: AdminBackend): ServiceConfig {
  const result = validateEntry(entry, backend.entryOptions);
  if (!result.ok) throw invalid(result.issues.map((i) => `${fieldOfIssue(i.path)}: ${i.message}`).join('; '));
  return result.service;
}

function checkReserved(pathRegexp: JsonValue | undefined): void {
  const captured = reservedPathCaptured(typeof pathRegexp === 'string' ? pathRegexp : undefined);
  if (captured !== undefined) {
    throw invalid(
      `path_regexp must not match reserved paths (${RESERVED_PATHS.filter((p) => p.endsWith('/')).join(', ')}): it would capture ${captured}`,
    );
  }
}

function checkHeaders(before: ServiceEntry | undefined, after: ServiceEntry): void {
  const header = newHeaderReference(before, after);
  if (header !== undefined) {
    throw invalid(`config.headers.${header}: \${NAME} and !file references are read only from aperture.yaml; set the value itself`);
  }
}

/**
 * The handlers of every method.
 * @param backend - the program side
 * @returns the table
 */
export function adminHandlers(backend: AdminBackend): Record<AdminMethod, AdminHandler> {
  let queue: Promise<unknown> = Promise.resolve();
  /** Runs service changes of this process one after another. */
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };
  const running = async (): Promise<EffectiveServices> =>
    effectiveServices(backend.configServices(), await backend.registry.listServices(), backend.entryOptions);
  const apply = async (name: string | undefined): Promise<EffectiveService | undefined> => {
    const now = await running();
    try {
      await backend.applyServices(now.services.map((s) => s.config));
    } catch (cause) {
      throw new AdminStatusError(Code.INTERNAL, 'the change is saved but could not be applied now; it applies at the next reload', {
        cause,
      });
    }
    return name === undefined ? undefined : now.services.find((s) => s.config.name === name);
  };
  const answer = (service: EffectiveService | undefined, fallback: ServiceConfig, grant: AdminGrant | undefined): MessageObject =>
    serviceMessage(service ?? { config: fallback, source: 'api' }, grant?.canWrite !== true);
  /** Writes an entry as the registry row of `name`, whether or not a row exists. */
  const put = async (name: string, entry: ServiceEntry, exists: boolean): Promise<void> => {
    const registry = backend.registry;
    if (exists ? await registry.updateService(name, entry) : await registry.createService(name, entry)) return;
    if (!(exists ? await registry.createService(name, entry) : await registry.updateService(name, entry))) {
      throw new AdminStatusError(Code.ABORTED, 'the service changed at the same time; try again');
    }
  };

  return {
    async GetInfo() {
      const info = backend.info();
      return {
        network: info.network,
        listen_addr: info.listenAddr,
        insecure: info.insecure,
        mpp_enabled: info.mppEnabled,
        sessions_enabled: info.sessionsEnabled,
        mpp_realm: info.mppRealm,
      };
    },

    async GetHealth() {
      const health = await backend.health();
      if (!health.ok) throw status(Code.UNAVAILABLE, 'unhealthy');
      return { status: 'ok' };
    },

    async ListServices(_request, context) {
      const now = await running();
      return { services: now.services.map((s) => serviceMessage(s, context.grant?.canWrite !== true)) };
    },

    async CreateService(request, context) {
      const name = text(request, 'name');
      if (name === '') throw invalid('name is required');
      checkNewName(name);
      const patch = requestEntry(request);
      if (Object.hasOwn(patch, 'name') && patch['name'] !== name) throw invalid('config.name conflicts with name; set it once');
      const entry: ServiceEntry = { name, ...patch };
      const address = text(request, 'address');
      if (address !== '') setField(entry, patch, 'address', address);
      if (typeof entry['address'] !== 'string' || entry['address'] === '') throw invalid('address is required');
      const protocol = text(request, 'protocol');
      if (protocol !== '') setField(entry, patch, 'protocol', protocol.toLowerCase());
      else entry['protocol'] ??= 'http';
      const host = text(request, 'host_regexp');
      if (host !== '') setField(entry, patch, 'host_regexp', host);
      else entry['hostregexp'] ??= '.*';
      const pathRegexp = text(request, 'path_regexp');
      if (pathRegexp !== '') setField(entry, patch, 'path_regexp', pathRegexp);
      if (request['price'] !== undefined) setField(entry, patch, 'price', priceOf(request['price']));
      const auth = text(request, 'auth');
      if (auth !== '') setField(entry, patch, 'auth', auth.toLowerCase());
      if (request['auth_scheme'] !== undefined) {
        const scheme = schemeOf(request['auth_scheme']);
        if (scheme === undefined) throw invalid(`auth_scheme: unknown value ${String(request['auth_scheme'])}`);
        setField(entry, patch, 'auth_scheme', scheme);
      }
      checkHeaders(undefined, entry);
      const service = validated(entry, backend);
      checkReserved(entry['pathregexp']);
      return serialized(async () => {
        const records = await backend.registry.listServices();
        const now = effectiveServices(backend.configServices(), records, backend.entryOptions);
        if (now.services.some((s) => s.config.name === name)) throw status(Code.ALREADY_EXISTS, 'service already exists');
        const row = records.find((r) => r.name === name);
        // A row without a running service is a tombstone (or a broken row): the new entry replaces it.
        if (row !== undefined) await put(name, entry, true);
        else if (!(await backend.registry.createService(name, entry))) throw status(Code.ALREADY_EXISTS, 'service already exists');
        return answer(await apply(name), service, context.grant);
      });
    },

    async UpdateService(request, context) {
      const name = text(request, 'name');
      if (name === '') throw invalid('missing service name');
      const patch = requestEntry(request);
      if (Object.hasOwn(patch, 'name') && patch['name'] !== name)
        throw invalid('config.name: a service cannot be renamed (create the new name, then delete the old one)');
      return serialized(async () => {
        const records = await backend.registry.listServices();
        const now = effectiveServices(backend.configServices(), records, backend.entryOptions);
        const current = now.services.find((s) => s.config.name === name);
        if (current === undefined) throw status(Code.NOT_FOUND, 'service not found');
        const canonical = canonicalEntry({ ...current.config.entry });
        if (!canonical.ok) throw invalid(`the stored entry gives ${canonical.duplicate} twice`);
        const before = canonical.entry;
        const after = mergePatch(before, patch);
        after['name'] = name;
        for (const field of ['address', 'protocol', 'host_regexp', 'path_regexp', 'auth'] as const) {
          const value = text(request, field);
          if (value !== '') setField(after, patch, field, field === 'protocol' || field === 'auth' ? value.toLowerCase() : value);
        }
        if (request['price'] !== undefined) setField(after, patch, 'price', priceOf(request['price']));
        if (request['auth_scheme'] !== undefined) {
          const scheme = schemeOf(request['auth_scheme']);
          if (scheme === undefined) throw invalid(`auth_scheme: unknown value ${String(request['auth_scheme'])}`);
          setField(after, patch, 'auth_scheme', scheme);
        }
        checkHeaders(before, after);
        const service = validated(after, backend);
        if (after['pathregexp'] !== before['pathregexp']) checkReserved(after['pathregexp']);
        const unchanged = current.source === 'api' && JSON.stringify(after) === JSON.stringify(before);
        if (!unchanged)
          await put(
            name,
            after,
            records.some((r) => r.name === name),
          );
        return answer(await apply(name), service, context.grant);
      });
    },

    async DeleteService(request) {
      const name = text(request, 'name');
      if (name === '') throw invalid('missing service name');
      return serialized(async () => {
        const records = await backend.registry.listServices();
        const now = effectiveServices(backend.configServices(), records, backend.entryOptions);
        if (!now.services.some((s) => s.config.name === name)) throw status(Code.NOT_FOUND, 'service not found');
        const inConfig = backend.configServices().some((s) => s.name === name);
        if (inConfig)
          await put(
            name,
            tombstone(name),
            records.some((r) => r.name === name),
          );
        else await backend.registry.deleteService(name);
        await apply(undefined);
        return { status: 'deleted' };
      });
    },

    async ListTransactions(request, context) {
      const { limit, offset } = page(request);
      const state = text(request, 'state');
      if (state !== '' && state !== 'pending' && state !== 'settled' && state !== 'expired') {
        throw invalid(`invalid state "${state}", must be 'pending', 'settled' or 'expired'`);
      }
      const start = time(text(request, 'start_date'), 'start_date');
      const end = time(text(request, 'end_date'), 'end_date');
      if (start !== undefined && end !== undefined && end < start) throw invalid('end_date must be >= start_date');
      const service = text(request, 'service');
      const result = await backend.ledger.listTransactions({
        ...(service === '' ? {} : { service }),
        ...(state === '' ? {} : { state: state as TransactionState }),
        ...(start === undefined ? {} : { settledStart: start }),
        // The reference's range includes its end.
        ...(end === undefined ? {} : { settledEnd: end + 1 }),
        limit,
        offset,
        now: context.now,
      });
      return { transactions: result.items.map(transactionMessage), total_count: String(result.total) };
    },

    async ListTokens(request) {
      const { limit, offset } = page(request);
      const result = await backend.ledger.listTokens({ limit, offset });
      return { tokens: result.items.map(transactionMessage), total_count: String(result.total) };
    },

    async RevokeToken(request) {
      const id = text(request, 'token_id');
      if (id === '') throw invalid('missing token ID');
      if (!/^[0-9a-fA-F]*$/.test(id) || id.length % 2 !== 0) throw invalid('invalid token ID');
      if (id.length !== 64) throw invalid(`token ID must be 32 bytes, got ${id.length / 2}`);
      const tokenId = id.toLowerCase();
      const row = await backend.ledger.getTransaction(tokenId);
      if (row === undefined || row.authType !== 'l402') throw status(Code.NOT_FOUND, 'token not found');
      await backend.ledger.revokeToken(tokenId);
      return { status: 'revoked' };
    },

    async GetStats(request) {
      const from = time(text(request, 'from'), "'from' time");
      const to = time(text(request, 'to'), "'to' time");
      if (from !== undefined && to !== undefined && to < from) throw invalid("'to' must be greater than or equal to 'from'");
      const stats = await backend.ledger.revenueStats({
        ...(from === undefined ? {} : { start: from }),
        ...(to === undefined ? {} : { end: to + 1 }),
      });
      return {
        total_revenue_sats: String(stats.totalSats),
        transaction_count: String(stats.count),
        service_breakdown: stats.services.map((s) => ({
          service_name: s.service,
          total_revenue_sats: String(s.totalSats),
          transaction_count: String(s.count),
        })),
      };
    },
  };
}
