/**
 * The 402 answer built from a freshly minted token, shared by {@link Gate}
 * and the `aperture` proxy's pipeline so that both send the same challenge,
 * and say the same about a refused credential.
 */
import { formatChallenge, type ChallengeForm } from './challenge.js';
import type { MintedToken } from './minter.js';
import { refusalOf, type Refusal } from './refusal.js';
import { rejectDecision, TEXT_PLAIN } from './reject-decision.js';
import type { ChallengeDecision, RejectDecision } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/**
 * The `challenge` decision for a minted token: status 402, the
 * `WWW-Authenticate` line(s) of `form`, a plain-text body that no cache may
 * keep. Without a credential in the request the body is `payment required\n`
 * and the lines are the reference's. When the request's credential was
 * refused, each line ends in `, error="<reason>"` and the body names the code,
 * `payment required (L402_ERR_TOKEN_EXPIRED)\n`.
 * @param minted - the token and invoice from `Minter.mint`
 * @param code - why the request did not pass (the failed verification's code)
 * @param priceSats - the invoice's price in satoshis
 * @param form - challenge form, `reference` or `spec`
 * @param refusal - the refusal of the request's credential; by default the one `code` implies
 *   (none for `L402_ERR_TOKEN_MISSING`)
 * @returns the decision for an adapter or the proxy to write out
 */
export function challengeDecision(
  minted: Pick<MintedToken, 'macaroonBase64' | 'invoice' | 'paymentHash' | 'tokenId'>,
  code: L402ErrorCode,
  priceSats: number,
  form: ChallengeForm,
  refusal: Refusal | undefined = refusalOf({ code }),
): ChallengeDecision {
  const decision: ChallengeDecision = {
    kind: 'challenge',
    status: 402,
    headers: [
      ...formatChallenge(minted.macaroonBase64, minted.invoice.paymentRequest, form, refusal?.reason),
      ['Content-Type', TEXT_PLAIN],
      ['Cache-Control', 'no-store'],
    ],
    body: refusal === undefined ? 'payment required\n' : `payment required (${refusal.code})\n`,
    code,
    paymentHash: minted.paymentHash,
    tokenId: minted.tokenId,
    priceSats,
  };
  if (refusal !== undefined) decision.refusal = refusal;
  return decision;
}

/**
 * The 401 answer of a route that mints no challenge for unauthenticated
 * requests (`skipInvoiceCreation`, the reference's
 * `authskipinvoicecreationpaths`): `unauthorized\n`, or
 * `unauthorized (L402_ERR_…)\n` when the request's credential was refused.
 * @param code - the failed verification's code
 * @param refusal - the refusal of the request's credential; by default the one `code` implies
 * @returns a `reject` decision, status 401
 */
export function unauthorizedDecision(code: L402ErrorCode, refusal: Refusal | undefined = refusalOf({ code })): RejectDecision {
  const decision = rejectDecision(401, refusal === undefined ? 'unauthorized\n' : `unauthorized (${refusal.code})\n`, code);
  if (refusal !== undefined) decision.refusal = refusal;
  return decision;
}
