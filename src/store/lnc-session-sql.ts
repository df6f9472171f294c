/**
 * The SQL of the LNC session role ({@link LncSessionStore}), shared by the
 * SQLite and PostgreSQL stores, with its argument checks and row decoding.
 * Every change returns the rows it touched (`RETURNING id`), so that both
 * stores count them alike.
 */
import type { LncSessionRecord } from './lnc-session-store.js';
import type { Dialect, Query, Row } from './sql-queries.js';
import { invalidArgument } from './store-errors.js';

const COLUMNS =
  'passphrase_words, passphrase_entropy, remote_static_pub_key, local_static_priv_key, mailbox_addr, created_at, expiry, dev_server';

function checkText(value: string, what: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw invalidArgument(`${what} must be a string of 1-${max} characters`);
}

function checkInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw invalidArgument(`${what} must be an integer number of milliseconds`);
}

function checkBytes(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw invalidArgument(`${what} must be ${length} bytes`);
}

/** @param entropy - must be the 14-byte pairing entropy */
export function checkLncEntropy(entropy: Uint8Array): void {
  checkBytes(entropy, 14, 'passphraseEntropy');
}

/**
 * The lookup of a session.
 * @param entropy - the session's entropy
 * @returns the query
 */
export function getLncSessionQuery(entropy: Uint8Array): Query {
  checkLncEntropy(entropy);
  return { text: `SELECT ${COLUMNS} FROM aperture_lnc_sessions WHERE passphrase_entropy = $1`, values: [Buffer.from(entropy)] };
}

/**
 * The insertion of a session; changes no row when the phrase or entropy exists.
 * @param s - the session
 * @param dialect - SQLite stores the flag as 0/1
 * @returns the query
 */
export function addLncSessionQuery(s: LncSessionRecord, dialect: Dialect): Query {
  checkText(s.passphraseWords, 'passphraseWords', 1000);
  checkLncEntropy(s.passphraseEntropy);
  if (s.remoteStaticPubKey !== undefined) checkBytes(s.remoteStaticPubKey, 33, 'remoteStaticPubKey');
  checkBytes(s.localStaticPrivKey, 32, 'localStaticPrivKey');
  checkText(s.mailboxAddr, 'mailboxAddr', 1000);
  checkInteger(s.createdAt, 'createdAt');
  if (s.expiry !== undefined) checkInteger(s.expiry, 'expiry');
  return {
    text: `INSERT INTO aperture_lnc_sessions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id`,
    values: [
      s.passphraseWords,
      Buffer.from(s.passphraseEntropy),
      s.remoteStaticPubKey === undefined ? null : Buffer.from(s.remoteStaticPubKey),
      Buffer.from(s.localStaticPrivKey),
      s.mailboxAddr,
      s.createdAt,
      s.expiry ?? null,
      dialect === 'sqlite' ? (s.devServer ? 1 : 0) : s.devServer,
    ],
  };
}

/**
 * Records the node's key.
 * @param entropy - the session's entropy
 * @param key - 33 bytes
 * @returns the query
 */
export function setLncRemoteKeyQuery(entropy: Uint8Array, key: Uint8Array): Query {
  checkLncEntropy(entropy);
  checkBytes(key, 33, 'remoteStaticPubKey');
  return {
    text: 'UPDATE aperture_lnc_sessions SET remote_static_pub_key = $1 WHERE passphrase_entropy = $2 RETURNING id',
    values: [Buffer.from(key), Buffer.from(entropy)],
  };
}

/**
 * Records the expiry.
 * @param entropy - the session's entropy
 * @param expiry - milliseconds since the epoch
 * @returns the query
 */
export function setLncExpiryQuery(entropy: Uint8Array, expiry: number): Query {
  checkLncEntropy(entropy);
  checkInteger(expiry, 'expiry');
  return {
    text: 'UPDATE aperture_lnc_sessions SET expiry = $1 WHERE passphrase_entropy = $2 RETURNING id',
    values: [expiry, Buffer.from(entropy)],
  };
}

/**
 * A session from its row.
 * @param row - the row
 * @returns the record
 */
export function lncSessionFromRow(row: Row): LncSessionRecord {
  const bytes = (v: unknown): Buffer => Buffer.from(v as Uint8Array);
  return {
    passphraseWords: String(row['passphrase_words']),
    passphraseEntropy: bytes(row['passphrase_entropy']),
    remoteStaticPubKey: row['remote_static_pub_key'] === null ? undefined : bytes(row['remote_static_pub_key']),
    localStaticPrivKey: bytes(row['local_static_priv_key']),
    mailboxAddr: String(row['mailbox_addr']),
    createdAt: Number(row['created_at']),
    expiry: row['expiry'] === null ? undefined : Number(row['expiry']),
    devServer: row['dev_server'] === true || row['dev_server'] === 1,
  };
}
