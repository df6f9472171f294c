/**
 * The charge role of the store: single use of MPP `charge` credentials. One
 * paid invoice buys one request, so the payment hash is consumed once across
 * every instance on the database; a request whose backend failed releases its
 * consumption so that the client can retry with the same payment.
 */

/** Details recorded with a consumed charge. */
export interface ChargeDetails {
  /** The HMAC-bound challenge id the credential echoed, for audit. */
  challengeId?: string;
  /**
   * When the challenge expires. Pruning may drop the row after this instant,
   * because a credential of an expired challenge is refused anyway; rows
   * without it are kept until released.
   */
  expiresAt?: number;
  /** When it was consumed; default the store's clock. */
  consumedAt?: number;
}

/** Proof of one consumption, needed to release it. */
export interface ChargeClaim {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Random id of this consumption; a release must name it. */
  claimId: string;
  /** When it was consumed. */
  consumedAt: number;
}

/** A consumed charge as stored. */
export interface ChargeRecord {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** The challenge id recorded with it, when one was given. */
  challengeId?: string;
  /** The challenge expiry recorded with it, when one was given. */
  expiresAt?: number;
  /** When it was consumed. */
  consumedAt: number;
}

/**
 * Consumed MPP charges.
 *
 * Guarantees: of any number of concurrent `consumeCharge` calls with one
 * payment hash, across instances on one database, exactly one gets a claim
 * (one conditional insert against the primary key). A release deletes the row
 * only while it is still the consumption the claim names, so a late or
 * repeated release cannot undo a later consumption.
 */
export interface ChargeStore {
  /**
   * Consumes a charge: the first call for a payment hash gets a claim, every
   * later one (until a release or pruning) `undefined`.
   * @param paymentHash - payment hash, 64 lower-case hex characters
   * @param details - audit details and the challenge expiry
   * @returns the claim on first use, `undefined` on replay
   * @throws L402Error `L402_ERR_STORE_INVALID_ARGUMENT` for a bad hash or details
   */
  consumeCharge(paymentHash: string, details?: ChargeDetails): Promise<ChargeClaim | undefined>;

  /**
   * Gives a consumption back, so that the same payment can buy the request
   * again: for a request whose backend failed before serving it.
   * @param claim - what {@link ChargeStore.consumeCharge} returned
   * @returns `true` when this call released the consumption; `false` when it was
   *   already released or pruned, or the hash was consumed again since
   */
  releaseCharge(claim: ChargeClaim): Promise<boolean>;

  /**
   * The record of a consumed payment hash, or `undefined`. For audit only:
   * deciding a request by reading first and consuming after would reopen the
   * race that `consumeCharge` closes.
   * @param paymentHash - payment hash, hex
   * @returns the record
   */
  getCharge(paymentHash: string): Promise<ChargeRecord | undefined>;

  /**
   * Deletes consumed charges whose challenge expired before `expiredBefore`
   * (rows recorded without an expiry are kept).
   * @param expiredBefore - cut-off instant; pass now minus the largest clock skew between instances
   * @returns how many rows were deleted
   */
  pruneCharges(expiredBefore: number): Promise<number>;
}
