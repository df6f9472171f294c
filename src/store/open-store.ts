/**
 * The factory the proxy calls: one configuration object, one store.
 */
import type { ApertureStore } from './aperture-store.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { invalidArgument } from './store-errors.js';

/** Which store to open and how; `backend` picks the implementation. */
export type StoreConfig =
  | ({ backend: 'memory' } & MemoryStoreOptions)
  | ({ backend: 'sqlite' } & SqliteStoreOptions)
  | ({ backend: 'postgres' } & PostgresStoreOptions);

/**
 * Opens the store a configuration names, with migrations applied.
 * @param config - `{ backend: 'memory' | 'sqlite' | 'postgres', …options }`
 * @returns the open store
 * @throws L402Error `L402_ERR_STORE_UNAVAILABLE` when the database cannot be opened,
 *   `L402_ERR_STORE_SCHEMA_TOO_NEW`, `L402_ERR_STORE_INVALID_ARGUMENT` for an unknown backend
 * @example
 * const store = await openStore({ backend: 'sqlite', baseDir: '/var/lib/aperture' });
 */
export async function openStore(config: StoreConfig): Promise<ApertureStore> {
  switch (config.backend) {
    case 'memory': {
      const { backend: _backend, ...options } = config;
      return new MemoryStore(options);
    }
    case 'sqlite': {
      const { backend: _backend, ...options } = config;
      return new SqliteStore(options);
    }
    case 'postgres': {
      const { backend: _backend, ...options } = config;
      return PostgresStore.open(options);
    }
    default:
      throw invalidArgument(`unknown store backend '${(config as { backend?: unknown }).backend as string}'`);
  }
}
