/**
 * Start-up check of the files that hold `aperture`'s secrets: the SQLite
 * database (root keys) and its side files, the TLS key, the dev backend's
 * node key, and the base directory. New ones are created private (0600 files,
 * 0700 directories) by their owners; existing ones are never changed here,
 * only reported when group or others may access them.
 */
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';

/** A file or directory holding secrets that group or others can access. */
export interface OpenSecretFile {
  /** The path. */
  path: string;
  /** Its permission bits, e.g. `0o644`. */
  mode: number;
  /** What it is. */
  kind: 'file' | 'directory';
}

/**
 * The paths of the configuration that hold secrets: files, and the base
 * directory when one of them is in it.
 * @param config - the configuration
 * @param ownStore - whether `startAperture` opens the configured store (not an injected one)
 * @returns files and directories to check
 */
export function secretPaths(config: ApertureConfig, ownStore: boolean): { files: string[]; directories: string[] } {
  const files: string[] = [];
  if (ownStore && config.dbBackend === 'sqlite') {
    const db = config.sqlite.dbFile;
    files.push(db, `${db}-wal`, `${db}-shm`, `${db}-journal`);
  }
  if (!config.insecure) files.push(join(config.baseDir, 'tls.key'));
  if (!config.authenticator.disable && config.authenticator.backend === 'dev') files.push(join(config.baseDir, 'dev-node.key'));
  const http = config.authenticator.disable ? undefined : config.authenticator.http;
  for (const credentialFile of [http?.secretFile, http?.paySecretFile]) if (credentialFile !== undefined) files.push(credentialFile);
  const wavelengthMacaroon = config.authenticator.disable ? undefined : config.authenticator.wavelength?.macaroonPath;
  if (wavelengthMacaroon !== undefined) files.push(wavelengthMacaroon);
  // The base directory matters only when a secret lives in it (not with PostgreSQL, plaintext and lnd).
  const inBaseDir = files.some((f) => dirname(f) === config.baseDir);
  return { files, directories: inBaseDir ? [config.baseDir] : [] };
}

/**
 * Lists the existing paths among `files` and `directories` whose mode lets
 * group or others in (any of the bits 0o077). Missing paths are skipped; on
 * Windows, where modes say nothing about access, nothing is reported.
 * @param paths - files and directories to look at
 * @returns one entry per path open to group or others
 */
export function findOpenSecretFiles(paths: { files: readonly string[]; directories: readonly string[] }): OpenSecretFile[] {
  if (process.platform === 'win32') return [];
  const out: OpenSecretFile[] = [];
  const look = (path: string, kind: OpenSecretFile['kind']): void => {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      return;
    }
    if ((mode & 0o077) !== 0) out.push({ path, mode, kind });
  };
  for (const path of paths.files) look(path, 'file');
  for (const path of paths.directories) look(path, 'directory');
  return out;
}

/** `0o644` → `'0644'`. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}
