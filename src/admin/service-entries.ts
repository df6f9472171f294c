/**
 * Services as the admin API keeps them. A service is a `services[]` entry of
 * aperture.yaml (JSON, keys as in the file), so that every field survives an
 * edit and a restart; the registry row of a name overrides the entry of that
 * name in the configuration file, and a row `{"name": …, "deleted": true}` (a
 * tombstone) hides it. The reference's eight message fields map to the entry's
 * keys; everything else is set through the `config` extension field.
 */
import { compileGoRegexp } from '../core/go-regexp.js';
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { JsonValue, LocatedConfigIssue } from '../proxy/config/raw-node.js';
import { resolveServiceEntry, type ResolveServiceEntryOptions } from '../proxy/config/resolve-config.js';
import type { ServiceRecord } from '../store/service-registry.js';
import type { MessageObject } from './admin-codec.js';
import { ADMIN_GRPC_PREFIX, ADMIN_METHODS, ADMIN_REST_PREFIX } from './admin-proto.js';

/** A `services[]` entry as JSON. */
export type ServiceEntry = { [key: string]: JsonValue };

/** Where a service of the running set comes from. */
export type ServiceSource = 'config' | 'api';

/** One service of the running set. */
export interface EffectiveService {
  /** The validated service (its `entry` is what is stored and shown). */
  config: ServiceConfig;
  /** `config`: the configuration file's entry; `api`: a registry row (created, or changed, through the admin API). */
  source: ServiceSource;
}

/** A registry row that could not be used. */
export interface ServiceRowProblem {
  /** The row's name. */
  name: string;
  /** What is wrong with its entry. */
  issues: LocatedConfigIssue[];
}

/** The running set of services, from the configuration file and the registry. */
export interface EffectiveServices {
  /**
   * In route order: the configuration file's services in file order (a registry
   * row of the same name in its place; a tombstone removes it), then services
   * only in the registry, oldest first (ties by name).
   */
  services: EffectiveService[];
  /** Names of configuration-file services hidden by a tombstone. */
  deleted: string[];
  /** Registry rows left out because their entries do not validate (e.g. an environment variable now unset). */
  problems: ServiceRowProblem[];
}

/** The message fields of the reference and the entry keys they set. */
export const FIELD_KEYS = {
  name: 'name',
  address: 'address',
  protocol: 'protocol',
  host_regexp: 'hostregexp',
  path_regexp: 'pathregexp',
  price: 'price',
  auth: 'auth',
  auth_scheme: 'authscheme',
} as const;

const KEY_FIELDS: Record<string, string> = Object.fromEntries(Object.entries(FIELD_KEYS).map(([f, k]) => [k, f]));

/** `auth_scheme` enum names by the entry's `authscheme`. */
const SCHEME_NAMES = { l402: 'AUTH_SCHEME_L402', mpp: 'AUTH_SCHEME_MPP', 'l402+mpp': 'AUTH_SCHEME_L402_MPP' } as const;

/**
 * The entry's `authscheme` for an `auth_scheme` enum value.
 * @param value - enum name or number
 * @returns the scheme, or undefined for a value the enum does not have
 */
export function schemeOf(value: unknown): string | undefined {
  switch (value) {
    case 'AUTH_SCHEME_L402':
    case 0:
      return 'l402';
    case 'AUTH_SCHEME_MPP':
    case 1:
      return 'mpp';
    case 'AUTH_SCHEME_L402_MPP':
    case 2:
      return 'l402+mpp';
    default:
      return undefined;
  }
}

/** Whether a registry row's config is a tombstone. */
export function isTombstone(config: unknown): boolean {
  return typeof config === 'object' && config !== null && (config as Record<string, unknown>)['deleted'] === true;
}

/**
 * A tombstone row's config.
 * @param name - the service name
 * @returns `{ name, deleted: true }`
 */
export function tombstone(name: string): ServiceEntry {
  return { name, deleted: true };
}

/** Keys under which the keys are service keys (matched without case); under other maps (constraints) keys are data. */
const CASELESS_MAPS = new Set(['', 'dynamicprice', 'rewrite', 'headers']);

function isObject(value: unknown): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * An entry with the structural keys lower-cased (`hostRegexp` → `hostregexp`,
 * also inside `dynamicprice`, `rewrite` and each `ratelimits` item); header
 * names and constraint keys stay as written.
 * @param entry - an entry
 * @returns the canonical entry, or the first key that is given twice (differing only in case)
 */
export function canonicalEntry(entry: ServiceEntry): { ok: true; entry: ServiceEntry } | { ok: false; duplicate: string } {
  const lower = (obj: { [key: string]: JsonValue }, path: string): { [key: string]: JsonValue } | string => {
    const out: { [key: string]: JsonValue } = {};
    for (const [key, value] of Object.entries(obj)) {
      const k = key.toLowerCase();
      if (Object.hasOwn(out, k)) return path === '' ? key : `${path}.${key}`;
      out[k] = value;
    }
    return out;
  };
  const top = lower(entry, '');
  if (typeof top === 'string') return { ok: false, duplicate: top };
  for (const key of ['dynamicprice', 'rewrite']) {
    const v = top[key];
    if (isObject(v)) {
      const l = lower(v, key);
      if (typeof l === 'string') return { ok: false, duplicate: l };
      top[key] = l;
    }
  }
  const rules = top['ratelimits'];
  if (Array.isArray(rules)) {
    const out: JsonValue[] = [];
    for (const [i, rule] of rules.entries()) {
      if (!isObject(rule)) {
        out.push(rule);
        continue;
      }
      const l = lower(rule, `ratelimits[${i}]`);
      if (typeof l === 'string') return { ok: false, duplicate: l };
      out.push(l);
    }
    top['ratelimits'] = out;
  }
  return { ok: true, entry: top };
}

/**
 * Applies a JSON merge patch (RFC 7396) to an entry: `null` removes a key,
 * an object merges into the object there, anything else replaces. Service keys
 * and header names match without case (a header set as `x-key` replaces
 * `X-Key`).
 * @param target - the canonical entry
 * @param patch - the canonical patch
 * @returns the patched entry (the inputs are not changed)
 */
export function mergePatch(target: ServiceEntry, patch: ServiceEntry): ServiceEntry {
  const merge = (base: { [key: string]: JsonValue }, change: { [key: string]: JsonValue }, path: string): { [key: string]: JsonValue } => {
    const out: { [key: string]: JsonValue } = { ...base };
    const caseless = CASELESS_MAPS.has(path);
    for (const [key, value] of Object.entries(change)) {
      const existing = caseless
        ? Object.keys(out).find((k) => k.toLowerCase() === key.toLowerCase())
        : Object.hasOwn(out, key)
          ? key
          : undefined;
      const prior = existing === undefined ? undefined : out[existing];
      if (existing !== undefined) delete out[existing];
      if (value === null) continue;
      out[key] = isObject(value) ? merge(isObject(prior) ? prior : {}, value, path === '' ? key.toLowerCase() : `${path}.${key}`) : value;
    }
    return out;
  };
  return merge(target, patch, '');
}

/**
 * The message field an issue path inside an entry belongs to: a key with a
 * field of its own names that field (`price`), any other `config.<path>`.
 * @param path - the issue's path in the entry (`price`, `headers.X-Key`, `ratelimits[0].per`)
 * @returns e.g. `price`, `host_regexp`, `config.ratelimits[0].per`
 */
export function fieldOfIssue(path: string): string {
  if (path === '$' || path === '') return 'config';
  const first = path.split(/[.[]/, 1)[0] ?? path;
  const field = KEY_FIELDS[first.toLowerCase()];
  return field !== undefined && first.length === path.length ? field : `config.${path}`;
}

/**
 * Paths of the admin API (and the dashboard's, as the reference reserves them)
 * that a service's path expression must not match: every route this API
 * answers, with sample names, and each prefix.
 */
export const RESERVED_PATHS: readonly string[] = [
  ADMIN_REST_PREFIX,
  ...['info', 'health', 'services', 'services/example', 'transactions', 'tokens', `tokens/${'0'.repeat(64)}`, 'stats'].map(
    (p) => `${ADMIN_REST_PREFIX}${p}`,
  ),
  ADMIN_GRPC_PREFIX,
  ...ADMIN_METHODS.map((m) => `${ADMIN_GRPC_PREFIX}${m}`),
  '/api/proxy/',
  '/_next/',
  '/_dashboard/', // this package's dashboard's files (src/dashboard/)
];

/**
 * The first reserved path a path expression would capture. An absent or empty
 * expression matches every path, so it captures them all.
 * @param source - the `pathregexp`, or undefined
 * @returns the path, or undefined when it captures none
 */
export function reservedPathCaptured(source: string | undefined): string | undefined {
  if (source === undefined || source === '') return RESERVED_PATHS[0];
  let test: (path: string) => boolean;
  try {
    const re = compileGoRegexp(source);
    test = (p) => re.test(p);
  } catch {
    return undefined; // reported as an invalid expression elsewhere
  }
  return RESERVED_PATHS.find(test);
}

/**
 * Validates an entry as a configuration-file entry is validated, refusing
 * unknown keys.
 * @param entry - the canonical entry
 * @param options - context and inherited defaults
 * @returns the service, or the issues with paths inside the entry
 */
export function validateEntry(
  entry: ServiceEntry,
  options: ResolveServiceEntryOptions = {},
): { ok: true; service: ServiceConfig } | { ok: false; issues: LocatedConfigIssue[] } {
  const resolved = resolveServiceEntry(entry, { ...options, strict: true });
  if (resolved.service === undefined) return { ok: false, issues: resolved.issues };
  return { ok: true, service: resolved.service };
}

/**
 * The running set of services: the configuration file's, overridden and
 * extended by the registry's rows, in a deterministic route order (see
 * {@link EffectiveServices.services}). What the admin API applies after every
 * change, and what a program applies at start-up and whenever
 * `servicesVersion()` moved.
 *
 * @param configServices - the configuration file's services, in file order
 * @param records - every registry row
 * @param options - context and inherited defaults for validating rows
 * @returns the services in route order, hidden names, and rows that do not validate
 */
export function effectiveServices(
  configServices: readonly ServiceConfig[],
  records: readonly ServiceRecord[],
  options: ResolveServiceEntryOptions = {},
): EffectiveServices {
  const rows = new Map<string, ServiceRecord>();
  for (const r of records) rows.set(r.name, r);
  const problems: ServiceRowProblem[] = [];
  const resolved = new Map<string, ServiceConfig | null>();
  const resolveRow = (row: ServiceRecord): ServiceConfig | null => {
    const cached = resolved.get(row.name);
    if (cached !== undefined) return cached;
    let service: ServiceConfig | null = null;
    if (isTombstone(row.config)) {
      service = null;
    } else if (!isObject(row.config)) {
      problems.push({ name: row.name, issues: [{ path: '$', message: 'the stored entry is not a JSON object' }] });
    } else {
      const canonical = canonicalEntry(row.config);
      const result = canonical.ok ? resolveServiceEntry(canonical.entry, options) : undefined;
      if (!canonical.ok) problems.push({ name: row.name, issues: [{ path: canonical.duplicate, message: 'key given twice' }] });
      else if (result?.service === undefined) problems.push({ name: row.name, issues: result?.issues ?? [] });
      else if (result.service.name !== row.name)
        problems.push({ name: row.name, issues: [{ path: 'name', message: `the stored entry is named "${result.service.name}"` }] });
      else service = result.service;
    }
    resolved.set(row.name, service);
    return service;
  };

  const services: EffectiveService[] = [];
  const deleted: string[] = [];
  const configNames = new Set<string>();
  for (const config of configServices) {
    configNames.add(config.name);
    const row = rows.get(config.name);
    if (row === undefined) {
      services.push({ config, source: 'config' });
      continue;
    }
    const service = resolveRow(row);
    if (service !== null) services.push({ config: service, source: 'api' });
    else if (isTombstone(row.config)) deleted.push(config.name);
    else services.push({ config, source: 'config' }); // a broken row does not take a working service away
  }
  const extra = records
    .filter((r) => !configNames.has(r.name))
    .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const row of extra) {
    const service = resolveRow(row);
    if (service !== null) services.push({ config: service, source: 'api' });
  }
  return { services, deleted, problems };
}

/** What header values look like to a caller that may not change services. */
export const REDACTED = '<redacted>';

/**
 * The `Service` message of a running service: the reference's fields from the
 * validated service (effective values: `price` 1 for a written 0, `auth` as
 * `on`/`off`/`freebie N`), plus the entry (`config`) and its `source`.
 * @param service - the service
 * @param redactHeaders - replace header values (for callers that may only read)
 * @returns the message object
 */
export function serviceMessage(service: EffectiveService, redactHeaders: boolean): MessageObject {
  const c = service.config;
  let entry: ServiceEntry = { ...c.entry };
  if (redactHeaders && isObject(entry['headers'])) {
    entry = { ...entry, headers: Object.fromEntries(Object.keys(entry['headers']).map((k) => [k, REDACTED])) };
  }
  return {
    name: c.name,
    address: c.address,
    protocol: c.protocol,
    host_regexp: c.hostRegexp.source,
    path_regexp: c.pathRegexp?.source ?? '',
    price: String(c.price),
    auth: c.auth.mode === 'freebie' ? `freebie ${c.auth.count}` : c.auth.mode,
    auth_scheme: SCHEME_NAMES[c.authScheme],
    config: entry,
    source: service.source,
  };
}

/**
 * Header values set or changed through the API must be literal: a `${NAME}`
 * or `!file+…:PATH` reference would be resolved on the server, from its
 * environment or any file it can read, and sent to a backend the caller
 * chooses. References already in the entry (from the configuration file)
 * may stay.
 * @param before - the entry before the change (undefined for a new service)
 * @param after - the entry after it
 * @returns the header whose value is a new reference, or undefined
 */
export function newHeaderReference(before: ServiceEntry | undefined, after: ServiceEntry): string | undefined {
  const headers = after['headers'];
  if (!isObject(headers)) return undefined;
  const old = before !== undefined && isObject(before['headers']) ? before['headers'] : {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string' || !(value.includes('${') || value.trimStart().startsWith('!file'))) continue;
    const prior = Object.entries(old).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    if (prior !== value) return name;
  }
  return undefined;
}
