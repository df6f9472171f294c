/**
 * The secrets role of the store: the core's {@link SecretStore} (one random
 * root key per token, under sha256 of its identifier) plus revocation events,
 * so that a verifier's cache in this or another instance can drop a token the
 * moment its key is deleted.
 */
import type { MaybePromise, SecretStore } from '../core/types.js';

/** A revocation, as delivered to {@link RootKeyStore.onRevoked} listeners. */
export interface RevocationEvent {
  /** sha256 of the identifier whose root key was deleted, hex. */
  idHash: string;
  /** The token ID, when the store knows it (always for `revokeToken`). */
  tokenId: string | undefined;
  /** `true` when another store instance (process or pool) made the revocation. */
  remote: boolean;
}

/**
 * Root keys and revocation events. `newSecret`, `getSecret` and `revokeSecret`
 * are the core's {@link SecretStore}; the verifier and minter need nothing
 * more.
 *
 * Guarantees: `getSecret` anywhere returns `undefined` from the commit of a
 * revocation on; a revocation reaches `onRevoked` listeners of this instance
 * synchronously after the change and those of other instances on the same
 * database as the backend allows (docs/storage.md).
 */
export interface RootKeyStore extends SecretStore {
  /**
   * The root key for `idHash`; synchronous for the memory and SQLite stores.
   * @param idHash - sha256 of the macaroon identifier (32 bytes)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `idHash` is not 32 bytes
   */
  getSecret(idHash: Uint8Array): MaybePromise<Uint8Array | undefined>;

  /**
   * The key under `idHash`, created only when there is none: of any number of
   * callers on any number of instances sharing the database, every one gets
   * the key the database kept (an insert that does nothing on conflict, then a
   * read). For a key every instance must share, such as the MPP HMAC secret.
   * @param idHash - sha256 of what the key is for (32 bytes)
   * @returns the stored key
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `idHash` is not 32 bytes; `L402_ERR_STORE_UNAVAILABLE`
   */
  newSecretIfAbsent(idHash: Uint8Array): Promise<Uint8Array>;

  /**
   * Registers a listener for revocations made through this store or another
   * instance on the same database; returns a function that removes it.
   * Listener errors are swallowed.
   * @param listener - called once per revocation
   * @returns a function that removes the listener
   */
  onRevoked(listener: (event: RevocationEvent) => void): () => void;
}
