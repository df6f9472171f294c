/**
 * Services kept in the store's service registry — imported from the Go
 * aperture's `services` table, or (later) written through the admin API — merged
 * with the configuration's. A registry entry is an `aperture.yaml` service entry
 * (lower-case keys) and is validated exactly like one.
 *
 * Merge rule, as the Go aperture's: a registry service overrides the
 * configuration's service of the same name; the others are kept. Order (which
 * decides the first match): registry services first, by name (the Go aperture
 * puts them first too, in map order), then the configuration's in file order.
 */
import type { ApertureConfig, ServiceConfig } from '../config/aperture-config.js';
import { rawFromValue } from '../config/raw-node.js';
import { resolveConfig, type ResolveConfigContext } from '../config/resolve-config.js';
import type { ServiceRegistry } from '../../store/service-registry.js';

/** What {@link mergePersistedServices} did. */
export interface MergedServices {
  /** The services to run, in match order. */
  services: ServiceConfig[];
  /** Names taken from the registry (a configured service of that name was replaced). */
  fromRegistry: string[];
  /** Registry entries that are not valid service definitions, with why; they are not served. */
  invalid: Array<{ name: string; reason: string }>;
}

/**
 * Validates one registry entry as a `services[]` entry of `aperture.yaml`.
 * @param entry - the stored definition
 * @param config - the running configuration (its service defaults apply)
 * @param context - environment and file access for headers and paths
 * @returns the service, or the reasons it is refused
 */
export function resolveServiceEntry(entry: unknown, config: ApertureConfig, context: Partial<ResolveConfigContext> = {}): { service: ServiceConfig } | { reasons: string[] } {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return { reasons: ['not a mapping of service keys'] };
  const root = rawFromValue({
    listenaddr: '127.0.0.1:1',
    authenticator: { disable: true },
    freebiewindow: `${config.freebieWindowMs}ms`,
    upstreamtimeout: `${config.upstreamTimeoutMs}ms`,
    services: [entry],
  });
  const resolved = resolveConfig(root, context);
  const service = resolved.config?.services[0];
  if (service !== undefined) return { service };
  const reasons = resolved.issues.map((i) => `${i.path.replace(/^services\[0\]\.?/, '') || 'service'}: ${i.message}`);
  return { reasons: reasons.length > 0 ? reasons : ['not a valid service definition'] };
}

/**
 * The configuration's services with the registry's merged in (see the module
 * comment for the rule and the order).
 * @param config - the running configuration
 * @param registry - the store's service registry
 * @param context - environment and file access for resolving entries
 * @returns the merged list, the names taken from the registry, and the entries refused
 */
export async function mergePersistedServices(
  config: ApertureConfig,
  registry: Pick<ServiceRegistry, 'listServices'>,
  context: Partial<ResolveConfigContext> = {},
): Promise<MergedServices> {
  const fromRegistry: ServiceConfig[] = [];
  const invalid: MergedServices['invalid'] = [];
  for (const record of await registry.listServices()) {
    const entry = record.config !== null && typeof record.config === 'object' && !Array.isArray(record.config)
      ? { ...(record.config as Record<string, unknown>), name: record.name }
      : record.config;
    const resolved = resolveServiceEntry(entry, config, context);
    if ('service' in resolved) fromRegistry.push(resolved.service);
    else invalid.push({ name: record.name, reason: resolved.reasons.join('; ') });
  }
  const names = new Set(fromRegistry.map((s) => s.name));
  return {
    services: [...fromRegistry, ...config.services.filter((s) => !names.has(s.name))],
    fromRegistry: [...names],
    invalid,
  };
}
