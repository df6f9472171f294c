/**
 * Why a credential was refused, told the same way by the Gate (every adapter)
 * and the `aperture` proxy: a bounded reason (the `error` auth-param of the
 * challenge, the label of the refusal metric), the stable `L402_ERR_…` code
 * (in the body) and, for logs only, the token ID and the verifier's text.
 *
 * What is told is which check failed, nothing more: never a secret, never
 * which byte of a signature differed. Each check can only be reached by
 * someone who already holds what it reveals (see docs/core.md, "Refusals").
 */

/**
 * The reasons a credential is refused, a closed set:
 * - `malformed`: the credential or macaroon cannot be read (`L402_ERR_TOKEN_MALFORMED`,
 *   `L402_ERR_MACAROON_…`, `L402_ERR_TOKEN_BAD_IDENTIFIER`, `L402_ERR_TOKEN_UNKNOWN_VERSION`);
 * - `conflicting`: several different credentials in one request;
 * - `bad_preimage`: sha256(preimage) is not the token's payment hash;
 * - `revoked`: no root key is stored for the token (revoked, garbage-collected, or not minted here);
 * - `bad_signature`: the signature does not verify with the stored root key;
 * - `bad_caveat`: an unreadable or widening caveat, or a third-party caveat;
 * - `wrong_service`: the `services` caveat does not list the service;
 * - `wrong_resource`: the token was priced for another path of a dynamically priced service;
 * - `expired`: the `<service>_valid_until` time has passed;
 * - `missing_capability`: the route needs a capability the token does not grant;
 * - `caveat_unsatisfied`: a custom satisfier (e.g. a constraint) refused a caveat;
 * - `unpaid`: strict verification found the invoice not settled;
 * - `other`: any other verification code.
 */
export const REFUSAL_REASONS = [
  'malformed',
  'conflicting',
  'bad_preimage',
  'revoked',
  'bad_signature',
  'bad_caveat',
  'wrong_service',
  'wrong_resource',
  'expired',
  'missing_capability',
  'caveat_unsatisfied',
  'unpaid',
  'other',
] as const;

/** One of {@link REFUSAL_REASONS}. */
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** A refused credential: what the response says, and what a log line may add. */
export interface Refusal {
  /** The bounded reason: the challenge's `error` auth-param and the metric label. */
  reason: RefusalReason;
  /** The verification code, `L402_ERR_…`: in the response body. */
  code: string;
  /** The refused token's ID (lower-case hex), when its identifier could be read: for logs. */
  tokenId?: string;
  /** The verifier's explanation, for logs; it never contains a macaroon, preimage or signature. */
  detail: string;
}

const BY_CODE: ReadonlyMap<string, RefusalReason> = new Map(
  Object.entries({
    L402_ERR_TOKEN_MALFORMED: 'malformed',
    L402_ERR_TOKEN_BAD_IDENTIFIER: 'malformed',
    L402_ERR_TOKEN_UNKNOWN_VERSION: 'malformed',
    L402_ERR_TOKEN_CONFLICTING: 'conflicting',
    L402_ERR_TOKEN_BAD_PREIMAGE: 'bad_preimage',
    L402_ERR_TOKEN_REVOKED: 'revoked',
    L402_ERR_TOKEN_BAD_SIGNATURE: 'bad_signature',
    L402_ERR_TOKEN_THIRD_PARTY_CAVEAT: 'bad_caveat',
    L402_ERR_TOKEN_BAD_CAVEAT: 'bad_caveat',
    L402_ERR_TOKEN_CAVEAT_WIDENED: 'bad_caveat',
    L402_ERR_TOKEN_WRONG_SERVICE: 'wrong_service',
    L402_ERR_TOKEN_WRONG_RESOURCE: 'wrong_resource',
    L402_ERR_TOKEN_EXPIRED: 'expired',
    L402_ERR_TOKEN_MISSING_CAPABILITY: 'missing_capability',
    L402_ERR_TOKEN_CAVEAT_UNSATISFIED: 'caveat_unsatisfied',
    L402_ERR_TOKEN_UNPAID: 'unpaid',
  } satisfies Record<string, RefusalReason>),
);

/** The code of a request that carried no credential: not a refusal. */
const MISSING_CODE = 'L402_ERR_TOKEN_MISSING';

/**
 * The refusal of a failed verification.
 * @param failure - the verifier's failure: its code, its text and, when known, the token ID
 * @returns the refusal, or `undefined` when the request carried no credential
 *   (`L402_ERR_TOKEN_MISSING`): a first request is not a refused one
 * @example
 * ```ts
 * const v = await verifier.verify(request, { service: 'api' });
 * if (!v.ok) console.log(refusalOf(v)?.reason); // e.g. 'expired'
 * ```
 */
export function refusalOf(failure: { code: string; reason?: string; tokenId?: string | undefined }): Refusal | undefined {
  const { code } = failure;
  if (code === MISSING_CODE) return undefined;
  const reason = BY_CODE.get(code) ?? (code.startsWith('L402_ERR_MACAROON_') ? 'malformed' : 'other');
  const refusal: Refusal = { reason, code, detail: failure.reason ?? '' };
  if (failure.tokenId !== undefined) refusal.tokenId = failure.tokenId;
  return refusal;
}
