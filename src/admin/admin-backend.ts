/**
 * What the admin API needs from the program that serves it. The API itself
 * validates, persists (through the store's roles) and answers; the program
 * says what it is running and swaps its services live.
 */
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { ResolveServiceEntryOptions } from '../proxy/config/resolve-config.js';
import type { Ledger } from '../store/ledger.js';
import type { ServiceRegistry } from '../store/service-registry.js';

/** `GetInfo`: what the program runs with. */
export interface AdminInfo {
  /** Lightning network (`mainnet`, `regtest`, …), empty when unknown. */
  network: string;
  /** The proxy's listen address as configured. */
  listenAddr: string;
  /** Whether the listener is plaintext. */
  insecure: boolean;
  /** Whether MPP (the Payment scheme) is enabled. */
  mppEnabled: boolean;
  /** Whether MPP sessions are enabled. */
  sessionsEnabled: boolean;
  /** Realm of MPP challenges. */
  mppRealm: string;
}

/**
 * The program side of the admin API. `startAperture` (the program layer)
 * implements it from its configuration, its store and its proxy; tests
 * implement it from a real store and a recorder of applied services.
 */
export interface AdminBackend {
  /** `GetInfo`. */
  info(): AdminInfo;

  /**
   * `GetHealth`: whether the program can serve (its store answers). `GetHealth`
   * needs no macaroon, so only `ok` is shown (status `ok`, else `UNAVAILABLE`).
   */
  health(): Promise<{ ok: boolean }>;

  /** Transactions, tokens, revenue and revocation (`ListTransactions`, `ListTokens`, `GetStats`, `RevokeToken`). */
  readonly ledger: Ledger;

  /** Where services created or changed through the API are persisted. */
  readonly registry: ServiceRegistry;

  /** The configuration file's services, in file order (`ApertureConfig.services`). */
  configServices(): readonly ServiceConfig[];

  /**
   * How to validate entries: the environment, directories and files the
   * configuration was resolved with, and its top-level `freebiewindow` and
   * `upstreamtimeout`. The process's when absent.
   */
  readonly entryOptions?: ResolveServiceEntryOptions | undefined;

  /**
   * Makes `services` the running set, at once: requests in flight finish on the
   * definitions they started with; services whose definition did not change keep
   * their state (rate limiter, freebie counters, pricer). Called after every
   * successful change made through the API, with the whole set in route order
   * (`effectiveServices` of the configuration and every registry row, so it
   * also carries changes made on other instances). The change is already
   * persisted; a throw answers the call with `INTERNAL` (the definitions apply
   * at the next reload instead).
   * @param services - every service, in route order
   */
  applyServices(services: readonly ServiceConfig[]): Promise<void>;
}
