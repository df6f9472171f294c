/**
 * An in-memory {@link SecretStore}: root keys live in a Map and vanish with the
 * process. For tests, development and single-process servers that accept that
 * every token is invalidated by a restart.
 */
import { randomBytes } from 'node:crypto';
import { L402Error } from './errors.js';
import { toHex } from './bytes.js';
import type { SecretStore } from './types.js';

/** Options of {@link MemorySecretStore}. */
export interface MemorySecretStoreOptions {
  /** Most root keys kept; the oldest is dropped beyond it (its token stops verifying). Default unbounded. */
  maxEntries?: number;
}

/**
 * Root keys in memory, keyed by the hex of sha256(identifier). `getSecret`
 * answers synchronously, so verification needs no await.
 */
export class MemorySecretStore implements SecretStore {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly maxEntries: number;

  /**
   * @param options - optional bound on the number of keys
   * @throws L402Error `L402_ERR_CONFIG_INVALID` when `maxEntries` is not a positive integer
   */
  constructor(options: MemorySecretStoreOptions = {}) {
    const max = options.maxEntries ?? Infinity;
    if (max !== Infinity && (!Number.isInteger(max) || max < 1)) {
      throw new L402Error('L402_ERR_CONFIG_INVALID', `maxEntries must be a positive integer, got ${max}`);
    }
    this.maxEntries = max;
  }

  /**
   * Creates and stores a fresh 32-byte root key.
   * @param idHash - sha256 of the identifier
   * @returns the new root key
   */
  newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    const key = randomBytes(32);
    const name = toHex(idHash);
    this.keys.delete(name);
    this.keys.set(name, key);
    if (this.keys.size > this.maxEntries) {
      const oldest = this.keys.keys().next();
      if (oldest.done !== true) this.keys.delete(oldest.value);
    }
    return Promise.resolve(key);
  }

  /**
   * The stored root key, synchronously.
   * @param idHash - sha256 of the identifier
   * @returns the root key, or `undefined` when none is stored
   */
  getSecret(idHash: Uint8Array): Uint8Array | undefined {
    return this.keys.get(toHex(idHash));
  }

  /**
   * Deletes a root key: its token no longer verifies.
   * @param idHash - sha256 of the identifier
   * @returns `true` when a key existed
   */
  revokeSecret(idHash: Uint8Array): Promise<boolean> {
    return Promise.resolve(this.keys.delete(toHex(idHash)));
  }

  /** Number of stored keys. */
  get size(): number {
    return this.keys.size;
  }
}
