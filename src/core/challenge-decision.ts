/**
 * The 402 answer built from a freshly minted token, shared by {@link Gate}
 * and the `aperture` proxy's pipeline so that both send the same challenge.
 */
import { formatChallenge, type ChallengeForm } from './challenge.js';
import type { MintedToken } from './minter.js';
import { TEXT_PLAIN } from './reject-decision.js';
import type { ChallengeDecision } from './types.js';

/**
 * The `challenge` decision for a minted token: status 402, the
 * `WWW-Authenticate` line(s) of `form`, a plain-text `payment required\n`
 * body that no cache may keep.
 * @param minted - the token and invoice from `Minter.mint`
 * @param code - why the request did not pass (the failed verification's code)
 * @param priceSats - the invoice's price in satoshis
 * @param form - challenge form, `reference` or `spec`
 * @returns the decision for an adapter or the proxy to write out
 */
export function challengeDecision(
  minted: Pick<MintedToken, 'macaroonBase64' | 'invoice' | 'paymentHash' | 'tokenId'>,
  code: string,
  priceSats: number,
  form: ChallengeForm,
): ChallengeDecision {
  return {
    kind: 'challenge',
    status: 402,
    headers: [
      ...formatChallenge(minted.macaroonBase64, minted.invoice.paymentRequest, form),
      ['Content-Type', TEXT_PLAIN],
      ['Cache-Control', 'no-store'],
    ],
    body: 'payment required\n',
    code,
    paymentHash: minted.paymentHash,
    tokenId: minted.tokenId,
    priceSats,
  };
}
