/**
 * The Lightning Node Connect session role of the store: what a restart needs
 * to reach the node again after the one-time pairing (the reference's
 * `lnc_sessions`). Defined beside the LNC client that uses it; the SQLite and
 * PostgreSQL stores implement it (src/store), the memory store does not.
 * Secrets are stored as they are (as the reference does): protect the database.
 */
/** One LNC session. Times are milliseconds since the epoch. */
export interface LncSessionRecord {
  /** The ten words as configured. */
  passphraseWords: string;
  /** Their 14-byte entropy, the lookup key. */
  passphraseEntropy: Uint8Array;
  /** The node's 33-byte compressed static key, once paired. */
  remoteStaticPubKey: Uint8Array | undefined;
  /** Our 32-byte static secret key. */
  localStaticPrivKey: Uint8Array;
  /** The mailbox, `host:port`. */
  mailboxAddr: string;
  /** When the session was first stored. */
  createdAt: number;
  /** When the node's macaroon expires, once known. */
  expiry: number | undefined;
  /** Whether the mailbox's TLS certificate is left unverified (`devserver`). */
  devServer: boolean;
}

/** Storage of LNC sessions. */
export interface LncSessionStore {
  /**
   * The session of a pairing phrase.
   * @param entropy - the phrase's 14-byte entropy
   * @returns the session, or undefined when none is stored
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` when `entropy` is not 14 bytes
   */
  getLncSession(entropy: Uint8Array): Promise<LncSessionRecord | undefined>;

  /**
   * Stores a new session (no remote key or expiry yet is fine).
   * @param session - the session
   * @returns false when one with this phrase or entropy exists (it is left alone)
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for keys of the wrong length or an empty phrase or mailbox
   */
  addLncSession(session: LncSessionRecord): Promise<boolean>;

  /**
   * Records the node's static key, learnt by pairing.
   * @param entropy - the session's entropy
   * @param remoteStaticPubKey - 33 bytes
   * @returns false when no such session exists
   */
  setLncRemoteKey(entropy: Uint8Array, remoteStaticPubKey: Uint8Array): Promise<boolean>;

  /**
   * Records when the session expires.
   * @param entropy - the session's entropy
   * @param expiry - milliseconds since the epoch
   * @returns false when no such session exists
   */
  setLncExpiry(entropy: Uint8Array, expiry: number): Promise<boolean>;
}
