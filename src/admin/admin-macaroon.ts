/**
 * The admin API's credentials: a random 32-byte root key kept in a file next to
 * the admin macaroon (as the Go aperture keeps them: `admin.macaroon` and
 * `admin.rootkey`, both 0600, created once and never overwritten), the admin
 * macaroon itself (identifier `admin`, location `aperture`, no caveats: the
 * reference's), and macaroons of narrower power baked from the same root key.
 *
 * Caveats this API understands (any other caveat, and any third-party caveat,
 * makes the macaroon refused):
 * - `admin_methods=GetInfo,ListServices,…` — only these methods;
 * - `time-before 2026-01-01T00:00:00Z` — refused from that instant on (the
 *   caveat of go-macaroon-bakery's checkers, RFC 3339).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromHexStrict, utf8 } from '../core/bytes.js';
import { L402Error } from '../core/errors.js';
import { Macaroon, MAX_MACAROON_BYTES } from '../core/macaroon.js';
import { adminRootKeyPath } from '../proxy/config/resolve-config.js';
import { ADMIN_METHODS, type AdminMethod } from './admin-proto.js';
import { parseRfc3339 } from './rfc3339.js';

/** Size of the admin root key. */
export const ADMIN_ROOT_KEY_BYTES = 32;
/** Location of admin macaroons (the reference's). */
export const ADMIN_MACAROON_LOCATION = 'aperture';
/** Identifier of admin macaroons (the reference's). */
export const ADMIN_MACAROON_ID = 'admin';
/** The caveat that limits a macaroon to some methods: `admin_methods=GetInfo,ListServices`. */
export const METHODS_CAVEAT = 'admin_methods';
/** The caveat that ends a macaroon's validity: `time-before <RFC 3339>`. */
export const TIME_BEFORE_CAVEAT = 'time-before';

/** What a read-only macaroon may call: the methods that change nothing. `GetHealth` needs no macaroon. */
export const READ_ONLY_METHODS: readonly AdminMethod[] = [
  'GetInfo',
  'GetHealth',
  'ListServices',
  'ListTransactions',
  'ListTokens',
  'GetStats',
];

/** The methods that change something. */
export const WRITE_METHODS: readonly AdminMethod[] = ['CreateService', 'UpdateService', 'DeleteService', 'RevokeToken'];

/** Options of {@link bakeAdminMacaroon}. */
export interface BakeAdminMacaroonOptions {
  /** Methods the macaroon may call: a list, `read-only` ({@link READ_ONLY_METHODS}), or `all` (default). */
  methods?: readonly AdminMethod[] | 'read-only' | 'all';
  /** Instant (ms since the epoch, or a Date) from which the macaroon is refused. */
  expiresAt?: number | Date;
}

/**
 * Bakes an admin macaroon from the root key. Without options it is the admin
 * macaroon of the reference (no caveats, every method).
 *
 * @param rootKey - the admin root key
 * @param options - methods and expiry
 * @returns the macaroon; `toBinary()` is what a macaroon file holds, `toHex()` what a client sends
 * @throws L402Error `L402_ERR_ADMIN_INVALID_ARGUMENT` for an unknown method or a bad expiry
 * @example
 * ```ts
 * const rootKey = readAdminRootKey('/var/lib/aperture/admin.rootkey');
 * const dashboard = bakeAdminMacaroon(rootKey, { methods: 'read-only', expiresAt: Date.now() + 30 * 86_400_000 });
 * writeAdminMacaroonFile('/var/lib/aperture/readonly.macaroon', dashboard);
 * ```
 */
export function bakeAdminMacaroon(rootKey: Uint8Array, options: BakeAdminMacaroonOptions = {}): Macaroon {
  checkRootKey(rootKey, 'root key');
  let mac = Macaroon.mint(rootKey, utf8(ADMIN_MACAROON_ID), ADMIN_MACAROON_LOCATION);
  const methods = options.methods ?? 'all';
  if (methods !== 'all') {
    const list = methods === 'read-only' ? READ_ONLY_METHODS : methods;
    for (const m of list) {
      if (!(ADMIN_METHODS as readonly string[]).includes(m))
        throw new L402Error('L402_ERR_ADMIN_INVALID_ARGUMENT', `unknown admin method "${m}" (${ADMIN_METHODS.join(', ')})`);
    }
    mac = mac.withFirstPartyCaveat(`${METHODS_CAVEAT}=${[...new Set(list)].join(',')}`);
  }
  if (options.expiresAt !== undefined) {
    const ms = options.expiresAt instanceof Date ? options.expiresAt.getTime() : options.expiresAt;
    if (!Number.isFinite(ms)) throw new L402Error('L402_ERR_ADMIN_INVALID_ARGUMENT', 'expiresAt must be a valid time');
    mac = mac.withFirstPartyCaveat(`${TIME_BEFORE_CAVEAT} ${new Date(ms).toISOString()}`);
  }
  return mac;
}

/** What a verified macaroon allows. */
export interface AdminGrant {
  /** The methods it may call. */
  readonly methods: ReadonlySet<AdminMethod>;
  /** Whether it may call every method that changes something (full power). */
  readonly canWrite: boolean;
}

/** The outcome of {@link verifyAdminMacaroon}. */
export type AdminVerification = { ok: true; grant: AdminGrant } | { ok: false; reason: string };

/**
 * Checks a macaroon sent with a call: hex of its binary encoding, signed with
 * the root key, every caveat understood and satisfied.
 *
 * @param rootKey - the admin root key
 * @param macaroonHex - the `macaroon` metadata value (undefined when absent)
 * @param now - the current time (ms), for `time-before`
 * @returns the grant, or why the macaroon is refused (a message for the client; it never quotes the macaroon)
 */
export function verifyAdminMacaroon(rootKey: Uint8Array, macaroonHex: string | undefined, now: number): AdminVerification {
  if (macaroonHex === undefined || macaroonHex === '') return { ok: false, reason: 'missing macaroon' };
  if (macaroonHex.length > MAX_MACAROON_BYTES * 2) return { ok: false, reason: 'invalid macaroon' };
  const bytes = fromHexStrict(macaroonHex.trim());
  if (bytes === undefined) return { ok: false, reason: 'invalid macaroon encoding' };
  let mac: Macaroon;
  try {
    mac = Macaroon.fromBinary(bytes);
  } catch {
    return { ok: false, reason: 'invalid macaroon' };
  }
  if (!mac.verifySignature(rootKey)) return { ok: false, reason: 'macaroon verification failed' };
  if (mac.hasThirdPartyCaveats()) return { ok: false, reason: 'macaroon verification failed: third-party caveats are not supported' };
  let methods = new Set<AdminMethod>(ADMIN_METHODS);
  for (const caveat of mac.firstPartyCaveats()) {
    if (caveat.startsWith(`${METHODS_CAVEAT}=`)) {
      const listed = caveat
        .slice(METHODS_CAVEAT.length + 1)
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== '');
      if (listed.some((m) => !(ADMIN_METHODS as readonly string[]).includes(m))) {
        return { ok: false, reason: 'macaroon verification failed: unknown method in caveat' };
      }
      methods = new Set([...methods].filter((m) => listed.includes(m)));
    } else if (caveat.startsWith(`${TIME_BEFORE_CAVEAT} `)) {
      const until = parseRfc3339(caveat.slice(TIME_BEFORE_CAVEAT.length + 1).trim());
      if (until === undefined) return { ok: false, reason: 'macaroon verification failed: malformed time-before caveat' };
      if (now >= until) return { ok: false, reason: 'macaroon verification failed: macaroon expired' };
    } else {
      return { ok: false, reason: 'macaroon verification failed: unsupported caveat' };
    }
  }
  return { ok: true, grant: { methods, canWrite: WRITE_METHODS.every((m) => methods.has(m)) } };
}

// ---------------------------------------------------------------- files

function ioError(what: string, path: string, cause: unknown): L402Error {
  return new L402Error('L402_ERR_ADMIN_CREDENTIALS_IO', `cannot ${what} ${path}: ${(cause as Error).message}`, { cause });
}

function missing(path: string): L402Error {
  return new L402Error('L402_ERR_ADMIN_CREDENTIALS_IO', `cannot read ${path}: no such file`);
}

function checkRootKey(key: Uint8Array, where: string): void {
  if (key.length !== ADMIN_ROOT_KEY_BYTES) {
    throw new L402Error(
      'L402_ERR_ADMIN_ROOT_KEY_INVALID',
      `${where} has ${key.length} bytes, expected ${ADMIN_ROOT_KEY_BYTES}; restore it, or delete it and the admin macaroons baked from it to have a new one created`,
    );
  }
}

/**
 * Writes a file that must not exist yet, completely or not at all: the bytes go
 * to a private temporary file (0600) that is synced and then hard-linked to
 * `path`, which fails when `path` exists, so a file is never overwritten and
 * never seen half-written. Its directory is created (0700) when missing.
 * @returns `false` when `path` already existed (nothing written)
 */
function writeNewFile(path: string, bytes: Uint8Array): boolean {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw ioError('create the directory of', path, cause);
  }
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'EEXIST') return false;
      throw error;
    }
  } catch (cause) {
    throw ioError('write', path, cause);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw ioError('read', path, error);
  }
}

/**
 * Reads the admin root key.
 * @param path - the `.rootkey` file
 * @returns the 32-byte key
 * @throws L402Error `L402_ERR_ADMIN_ROOT_KEY_INVALID` when it is not 32 bytes,
 *   `L402_ERR_ADMIN_CREDENTIALS_IO` when it cannot be read
 */
export function readAdminRootKey(path: string): Uint8Array {
  const key = readIfExists(path);
  if (key === undefined) throw missing(path);
  checkRootKey(key, path);
  return Uint8Array.from(key);
}

/**
 * Writes a macaroon file (its binary encoding, as the reference's files and
 * lnd's hold it), 0600, only when the file does not exist.
 * @param path - the file
 * @param mac - the macaroon
 * @returns `false` when the file existed (left as it was)
 * @throws L402Error `L402_ERR_ADMIN_CREDENTIALS_IO`
 */
export function writeAdminMacaroonFile(path: string, mac: Macaroon): boolean {
  return writeNewFile(path, mac.toBinary());
}

/** Options of {@link ensureAdminCredentials}. */
export interface AdminCredentialsOptions {
  /** `admin.macaroonpath`, e.g. `<basedir>/admin.macaroon`. */
  macaroonPath: string;
  /** The root key's file; by default derived from the macaroon path as the reference does (`admin.rootkey`). */
  rootKeyPath?: string;
}

/** What {@link ensureAdminCredentials} found or made. */
export interface AdminCredentials {
  /** The root key every admin macaroon is checked against. */
  rootKey: Uint8Array;
  /** Where the root key is. */
  rootKeyPath: string;
  /** Where the admin macaroon is. */
  macaroonPath: string;
  /** Whether this call created the root key (first start). */
  createdRootKey: boolean;
  /** Whether this call wrote the admin macaroon. */
  createdMacaroon: boolean;
  /**
   * Whether the macaroon file verifies against the root key (false for a file
   * left from another root key, or not a macaroon): worth a warning, since the
   * file is never overwritten.
   */
  macaroonMatches: boolean;
}

/**
 * Start-up of the admin API's credentials, as the reference does it: reads the
 * root key, or creates a random one when its file is missing; writes the admin
 * macaroon when its file is missing. Existing files are never changed; both
 * are created 0600 (directories 0700), completely or not at all.
 *
 * @param options - the macaroon path (and optionally the root key's)
 * @returns the root key and what was created
 * @throws L402Error `L402_ERR_ADMIN_ROOT_KEY_INVALID` for a root key file of the wrong size,
 *   `L402_ERR_ADMIN_CREDENTIALS_IO` when a file cannot be read or written
 */
export function ensureAdminCredentials(options: AdminCredentialsOptions): AdminCredentials {
  const macaroonPath = options.macaroonPath;
  const rootKeyPath = options.rootKeyPath ?? adminRootKeyPath(macaroonPath);
  let createdRootKey = false;
  let key = readIfExists(rootKeyPath);
  if (key === undefined) {
    createdRootKey = writeNewFile(rootKeyPath, randomBytes(ADMIN_ROOT_KEY_BYTES));
    // Read back what is there: another process may have created it first.
    key = readIfExists(rootKeyPath);
    if (key === undefined) throw missing(rootKeyPath);
  }
  checkRootKey(key, rootKeyPath);
  const rootKey = Uint8Array.from(key);
  const createdMacaroon = readIfExists(macaroonPath) === undefined && writeAdminMacaroonFile(macaroonPath, bakeAdminMacaroon(rootKey));
  let macaroonMatches = false;
  try {
    const file = readIfExists(macaroonPath);
    macaroonMatches = file !== undefined && Macaroon.fromBinary(file).verifySignature(rootKey);
  } catch {
    macaroonMatches = false;
  }
  return { rootKey, rootKeyPath, macaroonPath, createdRootKey, createdMacaroon, macaroonMatches };
}
