/**
 * Keeps a node private key in a file, so that a backend signs its invoices with
 * the same node key across restarts.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { L402Error } from '../core/errors.js';

/**
 * Reads the 32-byte private key in `path` (64 hex characters), or creates the
 * file with a fresh random key, mode 0600, when it does not exist.
 * @param path - the key file
 * @returns the private key
 * @throws L402Error `L402_ERR_DEV_KEY_INVALID` when the file exists but does not hold a key,
 *   or cannot be read or written
 */
export function loadOrCreateNodeKey(path: string): Uint8Array {
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new L402Error('L402_ERR_DEV_KEY_INVALID', `cannot read node key file ${path}: ${(cause as Error).message}`, { cause });
    }
  }
  if (text !== undefined) {
    const hex = text.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new L402Error('L402_ERR_DEV_KEY_INVALID', `node key file ${path} does not hold 64 hex characters`);
    }
    return Buffer.from(hex, 'hex');
  }
  const key = randomBytes(32);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // `wx`: never overwrite a key another process created meanwhile.
    writeFileSync(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateNodeKey(path);
    throw new L402Error('L402_ERR_DEV_KEY_INVALID', `cannot create node key file ${path}: ${(cause as Error).message}`, { cause });
  }
  return key;
}
