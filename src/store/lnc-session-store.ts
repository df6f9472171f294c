/**
 * The Lightning Node Connect session role of the store: what a restart needs
 * to reach the node again after the one-time pairing (the reference's
 * `lnc_sessions`, here `aperture_lnc_sessions`): the pairing phrase and its
 * entropy (the lookup key), our static key, the node's static key once
 * paired, the mailbox, when the session expires (the auth-data macaroon's
 * earliest `time-before`) and whether the mailbox's certificate is verified.
 *
 * The SQLite and PostgreSQL stores implement it; the memory store does not
 * (a restart would forget the pairing, and the phrase works only once).
 * Secrets are stored as they are (as the reference does): protect the database.
 */
import type { LncSessionStore } from '../lnc/lnc-session-store.js';
import type { ApertureStore } from './aperture-store.js';

export type { LncSessionRecord, LncSessionStore } from '../lnc/lnc-session-store.js';

/**
 * The store's LNC session role, when it has one (not the memory store).
 * @param store - the store
 * @returns the role, or undefined
 */
export function lncSessionStoreOf(store: ApertureStore): LncSessionStore | undefined {
  const candidate = store as Partial<LncSessionStore>;
  return typeof candidate.getLncSession === 'function' ? (store as ApertureStore & LncSessionStore) : undefined;
}
