/**
 * The program's side of the admin API: what it runs (`GetInfo`), whether its
 * store answers (`GetHealth`), its store's ledger and service registry, and
 * live replacement of its services. Changes made on other instances sharing
 * the database are followed by polling the registry's version.
 */
import type { Logger } from 'pino';
import type { AdminBackend, AdminInfo } from '../admin/admin-backend.js';
import { effectiveServices } from '../admin/service-entries.js';
import type { ApertureConfig, ServiceConfig } from '../proxy/config/aperture-config.js';
import type { ResolveServiceEntryOptions } from '../proxy/config/resolve-config.js';
import type { ApertureStore } from '../store/aperture-store.js';
import type { RunningServices } from './running-services.js';

/** Default interval between two reads of the registry's version: 2 s. */
export const DEFAULT_SERVICES_POLL_MS = 2000;

/** Options of {@link ProgramAdminBackend}. */
export interface ProgramAdminBackendOptions {
  /** The configuration the program runs. */
  config: ApertureConfig;
  /** Ledger and registry. */
  store: ApertureStore;
  /** The running services. */
  running: RunningServices;
  /** The Lightning network when the configuration does not name it (the dev backend's). */
  network: string;
  /** The Payment scheme as served: its realm and whether sessions are on; `undefined` when it is off. */
  mpp?: { realm: string; sessions: boolean } | undefined;
  /** Registry changes and failures (`ADMN`). */
  log: Logger;
  /** The registry version the running set was built from at start (-1 when unknown). */
  startVersion: number;
}

/**
 * {@link AdminBackend} of the `aperture` program. Every replacement of the
 * running set goes through one queue, so a set read earlier never replaces
 * one read later.
 */
export class ProgramAdminBackend implements AdminBackend {
  readonly ledger: ApertureStore;
  readonly registry: ApertureStore;
  readonly entryOptions: ResolveServiceEntryOptions;
  readonly #o: ProgramAdminBackendOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #version: number;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;
  /** The last poll failed (logged once until one succeeds). */
  #failing = false;

  /** @param options - configuration, store, running services */
  constructor(options: ProgramAdminBackendOptions) {
    this.#o = options;
    this.ledger = options.store;
    this.registry = options.store;
    this.#version = options.startVersion;
    this.entryOptions = { defaults: serviceDefaults(options.config) };
  }

  /** {@inheritDoc AdminBackend.info} */
  info(): AdminInfo {
    const { config } = this.#o;
    return {
      network: config.authenticator.network ?? this.#o.network,
      listenAddr: config.listenAddr,
      insecure: config.insecure,
      mppEnabled: this.#o.mpp !== undefined,
      sessionsEnabled: this.#o.mpp?.sessions ?? false,
      mppRealm: this.#o.mpp?.realm ?? '',
    };
  }

  /** {@inheritDoc AdminBackend.health} */
  async health(): Promise<{ ok: boolean }> {
    try {
      return { ok: (await this.#o.store.health()).ok };
    } catch {
      return { ok: false };
    }
  }

  /** {@inheritDoc AdminBackend.configServices} */
  configServices(): readonly ServiceConfig[] {
    return this.#o.config.services;
  }

  /** {@inheritDoc AdminBackend.applyServices} */
  applyServices(services: readonly ServiceConfig[]): Promise<void> {
    return this.#serialized(async () => {
      this.#o.running.replaceAll(services);
      // The set was read before this turn of the queue: make the next poll read the registry again.
      this.#version = -1;
    });
  }

  /**
   * Starts following the registry: every `intervalMs`, its version is read and,
   * when it moved, the running set is rebuilt from the configuration and every row.
   * @param intervalMs - poll interval; 0 = never
   */
  follow(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#polling ??= this.poll()
        .then(() => undefined)
        .finally(() => {
          this.#polling = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /**
   * Reads the registry's version once and applies the registry when it moved.
   * @returns whether the running set was rebuilt
   */
  poll(): Promise<boolean> {
    return this.#serialized(async () => {
      if (this.#closed) return false;
      const { store, config, running, log } = this.#o;
      let version: number;
      try {
        version = await store.servicesVersion();
        if (version === this.#version) {
          if (this.#failing) log.info('following the services stored in the database again');
          this.#failing = false;
          return false;
        }
        const merged = effectiveServices(config.services, await store.listServices(), this.entryOptions);
        for (const bad of merged.problems) {
          log.warn(
            { service: bad.name, reason: bad.issues.map((i) => `${i.path}: ${i.message}`).join('; ') },
            'a service stored in the database is not a valid definition; it is not served',
          );
        }
        running.replaceAll(merged.services.map((s) => s.config));
      } catch (error) {
        if (!this.#failing) log.warn({ err: error }, 'cannot follow the services stored in the database; retrying at every poll');
        this.#failing = true;
        return false;
      }
      if (this.#failing) log.info('following the services stored in the database again');
      this.#failing = false;
      this.#version = version;
      return true;
    });
  }

  /** Stops following the registry; waits for a poll in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#polling;
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The services to run at start: the configuration's, with the store's registry rows
 * merged in by the admin API's rule (`effectiveServices`: a row overrides the
 * configured service of its name in its place, a tombstone hides it, rows of
 * other names follow, oldest first). Without the registry, the configured ones.
 * @param config - the configuration
 * @param store - the registry
 * @param logger - what was loaded, hidden or refused
 * @returns the services in route order, and the registry version they were read at (-1 when unread)
 */
export async function storedServices(
  config: ApertureConfig,
  store: ApertureStore,
  logger: Logger,
): Promise<{ services: ServiceConfig[]; version: number }> {
  let records;
  let version;
  try {
    // The version first: a change made while the rows are read moves it, and the next poll applies it.
    version = await store.servicesVersion();
    records = await store.listServices();
  } catch (error) {
    // As the Go aperture: without the stored services, the configured ones still run.
    logger.warn({ err: error }, 'cannot read the services stored in the database; serving the configured services only');
    return { services: [...config.services], version: -1 };
  }
  const merged = effectiveServices(config.services, records, { defaults: serviceDefaults(config) });
  for (const bad of merged.problems) {
    logger.warn(
      { service: bad.name, reason: bad.issues.map((i) => `${i.path}: ${i.message}`).join('; ') },
      'a service stored in the database is not a valid definition; it is not served',
    );
  }
  const fromRegistry = merged.services.filter((s) => s.source === 'api').map((s) => s.config.name);
  if (fromRegistry.length > 0) logger.info({ services: fromRegistry }, 'services loaded from the database');
  if (merged.deleted.length > 0) logger.info({ services: merged.deleted }, 'configured services deleted in the database are not served');
  return { services: merged.services.map((s) => s.config), version };
}

/** What a stored or admin-defined service entry inherits from the configuration. */
function serviceDefaults(config: ApertureConfig): { freebieWindowMs: number; upstreamTimeoutMs: number; mppEnabled?: boolean } {
  const defaults = { freebieWindowMs: config.freebieWindowMs, upstreamTimeoutMs: config.upstreamTimeoutMs };
  return config.authenticator.disable ? defaults : { ...defaults, mppEnabled: config.authenticator.enableMpp };
}
