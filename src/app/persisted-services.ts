/**
 * Services kept in the store's service registry — imported from the Go
 * aperture's `services` table, or written through the admin API — merged with
 * the configuration's at start-up. A registry row is a `services[]` entry of
 * aperture.yaml as JSON (what the admin API stores, see
 * src/admin/service-entries.ts) and is validated like one.
 *
 * The rule is the admin API's (`effectiveServices`, which this layer may not
 * import): a row overrides the configuration's service of its name, in that
 * service's place; a tombstone row (`{ name, deleted: true }`) hides it; a row
 * that does not validate leaves the configured service in place; rows of other
 * names follow, oldest first (ties by name). The Go aperture overrides by name
 * too, but its order follows Go's map iteration.
 */
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { JsonValue } from '../proxy/config/raw-node.js';
import { resolveServiceEntry, type ResolveConfigContext } from '../proxy/config/resolve-config.js';
import type { ServiceRecord, ServiceRegistry } from '../store/service-registry.js';

/** What {@link mergePersistedServices} did. */
export interface MergedServices {
  /** The services to run, in route order. */
  services: ServiceConfig[];
  /** Names whose definition comes from the registry. */
  fromRegistry: string[];
  /** Configured services hidden by a tombstone row. */
  deleted: string[];
  /** Registry rows that are not valid service definitions, with why; they are not served. */
  invalid: Array<{ name: string; reason: string }>;
}

const isObject = (value: unknown): value is { [key: string]: JsonValue } => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The configuration's services with the registry's merged in (see the module
 * comment for the rule and the order).
 * @param config - the configuration's services and the defaults they inherit
 * @param registry - the store's service registry
 * @param context - environment and file access for resolving entries
 * @returns the merged list, where each came from, and the rows refused
 */
export async function mergePersistedServices(
  config: { services: readonly ServiceConfig[]; freebieWindowMs: number; upstreamTimeoutMs: number },
  registry: Pick<ServiceRegistry, 'listServices'>,
  context: Partial<ResolveConfigContext> = {},
): Promise<MergedServices> {
  const records = await registry.listServices();
  const invalid: MergedServices['invalid'] = [];
  const resolve = (row: ServiceRecord): ServiceConfig | 'deleted' | undefined => {
    if (isObject(row.config) && row.config['deleted'] === true) return 'deleted';
    if (!isObject(row.config)) {
      invalid.push({ name: row.name, reason: 'the stored entry is not a JSON object' });
      return undefined;
    }
    const resolved = resolveServiceEntry(row.config, { context, defaults: { freebieWindowMs: config.freebieWindowMs, upstreamTimeoutMs: config.upstreamTimeoutMs } });
    if (resolved.service === undefined) {
      invalid.push({ name: row.name, reason: resolved.issues.map((i) => `${i.path}: ${i.message}`).join('; ') || 'not a valid service' });
      return undefined;
    }
    if (resolved.service.name !== row.name) {
      invalid.push({ name: row.name, reason: `the stored entry is named "${resolved.service.name}"` });
      return undefined;
    }
    return resolved.service;
  };

  const rows = new Map(records.map((r) => [r.name, r]));
  const services: ServiceConfig[] = [];
  const fromRegistry: string[] = [];
  const deleted: string[] = [];
  for (const configured of config.services) {
    const row = rows.get(configured.name);
    const stored = row === undefined ? undefined : resolve(row);
    if (stored === 'deleted') deleted.push(configured.name);
    else if (stored === undefined) services.push(configured);
    else {
      services.push(stored);
      fromRegistry.push(stored.name);
    }
  }
  const configured = new Set(config.services.map((s) => s.name));
  const extra = records.filter((r) => !configured.has(r.name)).sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const row of extra) {
    const stored = resolve(row);
    if (stored === undefined || stored === 'deleted') continue;
    services.push(stored);
    fromRegistry.push(stored.name);
  }
  return { services, fromRegistry, deleted, invalid };
}
