/**
 * Where paid tokens are kept between requests. A token is reused until the
 * server rejects it. Before paying, the client records a pending entry (no
 * preimage yet), so that a crash between paying and storing never leads to
 * paying twice: the pending entry is resolved with the payer's `trackPayment`.
 */

/** One token, in the fields of the reference client's token file. */
export interface StoredToken {
  /** The macaroon in V2 binary form, as the server minted it. */
  macaroon: Uint8Array;
  /** Payment hash of the invoice, lower-case hex (64 characters). */
  paymentHash: string;
  /** Preimage, lower-case hex; `undefined` while the payment is pending. */
  preimage: string | undefined;
  /** Amount paid, millisatoshis (0 while pending). */
  amountPaidMsat: bigint;
  /** Routing fee paid, millisatoshis (0 while pending). */
  routingFeeMsat: bigint;
  /** When the entry was created, nanoseconds since the Unix epoch. */
  createdNs: bigint;
}

/**
 * Storage of tokens keyed by a string: the request origin, plus the service
 * name when known (`origin#service`; see `L402Client.keyOf`). Implementations: `MemoryTokenStore`,
 * `FileTokenStore`; a database or a keychain fits the same interface.
 *
 * `put` must be durable when it resolves: the client relies on a pending entry
 * being on disk before it pays.
 */
export interface TokenStore {
  /**
   * The token stored under `key`.
   * @param key - origin (and service)
   * @returns the token, or `undefined` when there is none
   */
  get(key: string): Promise<StoredToken | undefined>;
  /**
   * Stores (replaces) the token under `key`.
   * @param key - origin (and service)
   * @param token - the token, pending or complete
   */
  put(key: string, token: StoredToken): Promise<void>;
  /**
   * Removes the token under `key`, if any.
   * @param key - origin (and service)
   */
  delete(key: string): Promise<void>;
  /**
   * Every key with a token, for resolving pending entries at start-up.
   * @returns the keys
   */
  keys(): Promise<string[]>;
}

/**
 * The key a token is stored under.
 * @param origin - the request origin, e.g. `https://api.example.com:8443` (for gRPC the configured target)
 * @param service - the service name, when the caller knows it
 * @returns `origin`, or `origin#service`
 */
export function tokenKey(origin: string, service?: string): string {
  return service === undefined || service === '' ? origin : `${origin}#${service}`;
}
