/**
 * The services a program runs, replaceable live: one service, or the whole set
 * at once. A service whose definition did not change keeps its running parts
 * (limiter, freebie counter, pricer) and so its state; a changed or new one is
 * built afresh; a replaced or removed one is closed once no request is using
 * it, so requests in flight finish on the definition they started with.
 */
import { isPromise } from '../core/is-promise.js';
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { AuthorizeContext, AuthorizeResult } from '../proxy/proxy.js';
import type { AppService } from './app-service.js';
import { sameDefinition, type BuiltService } from './service-builder.js';

/** What a replacement changed, by service name. */
export interface ServicesChange {
  /** Services that were not running before. */
  added: string[];
  /** Services rebuilt from a new definition. */
  changed: string[];
  /** Services no longer running. */
  removed: string[];
  /** Services kept as they were (state included). */
  kept: string[];
}

/** Options of {@link RunningServices}. */
export interface RunningServicesOptions {
  /** Builds one service (see `ServiceBuilder.build`). */
  build: (config: ServiceConfig) => BuiltService;
  /**
   * Makes a list the routing table (`Proxy.replaceServices`); may throw, in
   * which case nothing changes. Set later with {@link RunningServices.route}.
   */
  route?: (services: readonly AppService[]) => void;
  /** Told after every replacement that changed something. */
  onChange?: (change: ServicesChange, services: readonly AppService[]) => void;
}

interface Slot {
  built: BuiltService;
  /** Requests using the service right now. */
  refs: number;
  /** No longer in the running set: closed when `refs` drops to 0. */
  retired: boolean;
}

/**
 * The running set of services.
 */
export class RunningServices {
  readonly #o: RunningServicesOptions;
  #route: ((services: readonly AppService[]) => void) | undefined;
  #services: readonly AppService[] = [];
  readonly #slots = new Map<AppService, Slot>();
  readonly #closing = new Set<Promise<void>>();

  /** @param options - how to build and route services */
  constructor(options: RunningServicesOptions) {
    this.#o = options;
    this.#route = options.route;
  }

  /** The running services, in route order. */
  get services(): readonly AppService[] {
    return this.#services;
  }

  /**
   * Sets the routing table later replacements are written to.
   * @param route - e.g. `(s) => proxy.replaceServices(s)`
   */
  route(route: (services: readonly AppService[]) => void): void {
    this.#route = route;
  }

  /**
   * Makes `configs` the running set, at once. Services of unchanged definition
   * are kept as they are; on any failure (a service that cannot be built, a
   * routing table that refuses the set) nothing changes.
   * @param configs - every service, in route order
   * @returns what changed
   * @throws what building a service or routing throws (e.g. `L402_ERR_PRICER_TLS`)
   */
  replaceAll(configs: readonly ServiceConfig[]): ServicesChange {
    const byName = new Map(this.#services.map((s) => [s.name, s]));
    const change: ServicesChange = { added: [], changed: [], removed: [], kept: [] };
    const fresh: BuiltService[] = [];
    const next: AppService[] = [];
    try {
      for (const config of configs) {
        const old = byName.get(config.name);
        if (old !== undefined && sameDefinition(old.config, config)) {
          next.push(old);
          change.kept.push(config.name);
          continue;
        }
        const built = this.#o.build(config);
        fresh.push(built);
        next.push(built.service);
        (old === undefined ? change.added : change.changed).push(config.name);
      }
      this.#route?.(next);
    } catch (error) {
      for (const built of fresh) this.#close(built);
      throw error;
    }
    const keep = new Set(next);
    for (const old of this.#services) {
      if (keep.has(old)) continue;
      if (!configs.some((c) => c.name === old.name)) change.removed.push(old.name);
      this.#retire(old);
    }
    for (const built of fresh) this.#slots.set(built.service, { built, refs: 0, retired: false });
    this.#services = next;
    if (change.added.length + change.changed.length + change.removed.length > 0) this.#o.onChange?.(change, next);
    return change;
  }

  /**
   * Replaces one service by name, or adds it at the end of the route order.
   * @param config - the service
   * @returns what changed
   * @throws as {@link RunningServices.replaceAll}
   */
  replaceOne(config: ServiceConfig): ServicesChange {
    const configs = this.#services.map((s) => s.config);
    const at = configs.findIndex((c) => c.name === config.name);
    if (at >= 0) configs[at] = config;
    else configs.push(config);
    return this.replaceAll(configs);
  }

  /**
   * Marks a service in use by one request; {@link RunningServices.release}
   * when the request no longer needs its parts.
   * @param service - the service the request matched
   */
  hold(service: AppService): void {
    const slot = this.#slots.get(service);
    if (slot !== undefined) slot.refs++;
  }

  /**
   * Ends one {@link RunningServices.hold}; a retired service's parts are closed
   * with its last request.
   * @param service - the service
   */
  release(service: AppService): void {
    const slot = this.#slots.get(service);
    if (slot === undefined) return;
    slot.refs--;
    if (slot.retired && slot.refs <= 0) {
      this.#slots.delete(service);
      this.#close(slot.built);
    }
  }

  /**
   * The authorize hook with the matched service held for as long as the hook
   * runs: a service replaced meanwhile keeps its limiter, freebies and pricer
   * open until its last request is decided. A hook that answers synchronously
   * (a cached verification, auth off) cannot see the service replaced while it
   * runs, so only an answer still pending holds it: the hold starts in the
   * same turn, before anything else can retire the service. The synchronous
   * path (most paid requests, every auth-off one) thus costs no lookups here.
   * @param authorize - the hook
   * @returns the hook holding the services of pending answers
   */
  holding(
    authorize: (context: AuthorizeContext<AppService>) => AuthorizeResult | Promise<AuthorizeResult>,
  ): (context: AuthorizeContext<AppService>) => AuthorizeResult | Promise<AuthorizeResult> {
    return (context) => {
      const result = authorize(context);
      if (!isPromise(result)) return result;
      const service = context.service;
      this.hold(service);
      return result.finally(() => this.release(service));
    };
  }

  #retire(service: AppService): void {
    const slot = this.#slots.get(service);
    if (slot === undefined) return;
    slot.retired = true;
    if (slot.refs <= 0) {
      this.#slots.delete(service);
      this.#close(slot.built);
    }
  }

  #close(built: BuiltService): void {
    const closing = built.close().finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }

  /** Closes every service's parts, running or retired. */
  async close(): Promise<void> {
    for (const slot of this.#slots.values()) this.#close(slot.built);
    this.#slots.clear();
    this.#services = [];
    await Promise.allSettled([...this.#closing]);
  }
}
