/**
 * A {@link TokenStore} on disk, one token per file in the reference client's
 * token-file format. Writes are atomic and durable: a temporary file (mode
 * 0600) is written, fsynced and renamed over the old one, then the directory is
 * fsynced, so a crash leaves either the old or the new token, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeTokenFile, encodeTokenFile } from './token-file-codec.js';
import type { StoredToken, TokenStore } from './token-store.js';

/**
 * Where {@link FileTokenStore} keeps tokens:
 * - `directory`: one file per key, named `<base64url(key)>.token`;
 * - `file`: a single token file used for every key, as the reference client
 *   (and `aperturecli fetch --token-file`) does. Use it for one server only:
 *   whatever token it holds is sent to whichever server is called.
 */
export type FileTokenStoreOptions = { directory: string } | { file: string };

const SUFFIX = '.token';

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Tokens in files, written atomically with mode 0600. */
export class FileTokenStore implements TokenStore {
  readonly #directory: string;
  readonly #file: string | undefined;

  /**
   * @param options - a directory (one file per key) or a single file
   */
  constructor(options: FileTokenStoreOptions) {
    if ('file' in options) {
      this.#file = options.file;
      this.#directory = dirname(options.file);
    } else {
      this.#file = undefined;
      this.#directory = options.directory;
    }
  }

  #path(key: string): string {
    return this.#file ?? join(this.#directory, Buffer.from(key, 'utf8').toString('base64url') + SUFFIX);
  }

  /**
   * @inheritDoc
   * @throws L402Error `L402_ERR_CLIENT_TOKEN_FILE_INVALID` when the file exists but is not a token file
   */
  async get(key: string): Promise<StoredToken | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#path(key));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return decodeTokenFile(bytes);
  }

  /** @inheritDoc */
  async put(key: string, token: StoredToken): Promise<void> {
    const bytes = encodeTokenFile(token);
    const path = this.#path(key);
    await mkdir(this.#directory, { recursive: true, mode: 0o700 });
    const temp = join(this.#directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await this.#syncDirectory();
  }

  /** @inheritDoc */
  async delete(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
    } catch (error) {
      if (!isMissing(error)) throw error;
      return;
    }
    await this.#syncDirectory();
  }

  /** @inheritDoc */
  async keys(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#directory);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    if (this.#file !== undefined) return names.includes(basename(this.#file)) ? [this.#file] : [];
    return names
      .filter((name) => name.endsWith(SUFFIX) && !name.startsWith('.'))
      .map((name) => Buffer.from(name.slice(0, -SUFFIX.length), 'base64url').toString('utf8'));
  }

  /** Makes the rename itself durable. Directories cannot be opened for fsync on every platform; there it is skipped. */
  async #syncDirectory(): Promise<void> {
    let handle;
    try {
      handle = await open(this.#directory, 'r');
      await handle.sync();
    } catch {
      // Windows refuses to open a directory; its rename is durable enough.
    } finally {
      await handle?.close();
    }
  }
}
