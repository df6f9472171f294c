/**
 * A {@link TokenStore} in memory: tokens live as long as the process. The
 * default store of the client helpers.
 */
import type { StoredToken, TokenStore } from './token-store.js';

function copy(token: StoredToken): StoredToken {
  return { ...token, macaroon: Uint8Array.from(token.macaroon) };
}

/** Keeps tokens in a `Map`; entries are copied in and out so callers cannot alias them. */
export class MemoryTokenStore implements TokenStore {
  readonly #tokens = new Map<string, StoredToken>();

  /** @inheritDoc */
  async get(key: string): Promise<StoredToken | undefined> {
    const token = this.#tokens.get(key);
    return token === undefined ? undefined : copy(token);
  }

  /** @inheritDoc */
  async put(key: string, token: StoredToken): Promise<void> {
    this.#tokens.set(key, copy(token));
  }

  /** @inheritDoc */
  async delete(key: string): Promise<void> {
    this.#tokens.delete(key);
  }

  /** @inheritDoc */
  async keys(): Promise<string[]> {
    return [...this.#tokens.keys()];
  }
}
