/**
 * The service-registry role of the store: service definitions persisted for
 * the admin API, with a registry version so that every instance on the same
 * database can tell cheaply that something changed and reload.
 */

/** A service definition as the admin API stores it. */
export interface ServiceRecord {
  /** Unique name, 1–200 characters. */
  name: string;
  /** The service configuration, any JSON value (stored as JSON text). */
  config: unknown;
  /** The registry version of the change that wrote this definition last. */
  version: number;
  /** When it was created. */
  createdAt: number;
  /** When it was last changed. */
  updatedAt: number;
}

/**
 * Persisted service definitions.
 *
 * Every create, update and delete increments one registry-wide version in the
 * same transaction as the change, so the version never moves without the
 * change being visible and concurrent changes (from any instance) get distinct
 * versions. An instance that wants to follow changes made elsewhere polls
 * {@link ServiceRegistry.servicesVersion} and calls
 * {@link ServiceRegistry.listServices} when it moved.
 */
export interface ServiceRegistry {
  /**
   * Every service, sorted by name (code-unit order).
   * @returns the services
   */
  listServices(): Promise<ServiceRecord[]>;

  /**
   * One service, or `undefined`.
   * @param name - service name
   * @returns the service
   */
  getService(name: string): Promise<ServiceRecord | undefined>;

  /**
   * Creates a service.
   * @param name - unique name, 1–200 characters
   * @param config - any JSON-serialisable value
   * @returns `false` when the name is taken (nothing changed, version unchanged)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad name or a config that is not JSON
   */
  createService(name: string, config: unknown): Promise<boolean>;

  /**
   * Replaces the configuration of a service.
   * @param name - service name
   * @param config - any JSON-serialisable value
   * @returns `false` when there is no such service (version unchanged)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a config that is not JSON
   */
  updateService(name: string, config: unknown): Promise<boolean>;

  /**
   * Deletes a service.
   * @param name - service name
   * @returns `false` when there was no such service (version unchanged)
   */
  deleteService(name: string): Promise<boolean>;

  /**
   * The registry version: 0 for a registry never changed, incremented by every
   * successful create, update and delete.
   * @returns the version
   */
  servicesVersion(): Promise<number>;
}
