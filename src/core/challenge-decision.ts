/**
 * The 402 answer built from the offers of the payment schemes, shared by
 * {@link Gate} (every adapter and the `aperture` proxy) so that every front
 * end sends the same challenge, and says the same about a refused credential.
 */
import { formatChallenge, type ChallengeForm } from './challenge.js';
import type { MintedToken } from './minter.js';
import type { Offer } from './payment-scheme.js';
import { refusalOf, type Refusal } from './refusal.js';
import { NOSNIFF, rejectDecision, TEXT_PLAIN } from './reject-decision.js';
import type { ChallengeDecision, RejectDecision } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/**
 * The `challenge` decision for the offers of a request: status 402, every
 * offer's challenge lines in order, then `Content-Type`, `Cache-Control:
 * no-store` and `X-Content-Type-Options: nosniff`. The body is the first
 * offer's own body when one has one, else plain text: `payment required\n`
 * without a credential in the request, `payment required (L402_ERR_TOKEN_EXPIRED)\n`
 * when the request's credential was refused.
 * @param offers - one offer per scheme, in scheme order; at least one
 * @param code - why the request did not pass (the failed verification's code)
 * @param refusal - the refusal of the request's credential; by default the one `code` implies
 *   (none for `L402_ERR_TOKEN_MISSING`)
 * @returns the decision for an adapter or the proxy to write out
 */
export function offersDecision(
  offers: readonly Offer[],
  code: L402ErrorCode,
  refusal: Refusal | undefined = refusalOf({ code }),
): ChallengeDecision {
  const first = offers[0] as Offer;
  let body = first.body;
  const headers: Array<readonly [string, string]> = [];
  for (const offer of offers) {
    for (const line of offer.headers) headers.push(line);
    body ??= offer.body;
  }
  headers.push(['Content-Type', body === undefined ? TEXT_PLAIN : body.contentType], ['Cache-Control', 'no-store'], NOSNIFF);
  const decision: ChallengeDecision = {
    kind: 'challenge',
    status: 402,
    headers,
    body: body !== undefined ? body.text : refusal === undefined ? 'payment required\n' : `payment required (${refusal.code})\n`,
    code,
    offers,
    paymentHash: first.paymentHash,
    tokenId: first.tokenId,
    priceSats: first.priceSats,
  };
  if (refusal !== undefined) decision.refusal = refusal;
  return decision;
}

/**
 * The L402 offer of a freshly minted token.
 * @param minted - the token and invoice from `Minter.mint`
 * @param priceSats - the invoice's price in satoshis
 * @param form - challenge form, `reference` (LSAT then L402 line) or `spec`
 * @param refusal - the refusal of the request's credential: each line then ends in `, error="<reason>"`
 * @returns the offer
 */
export function l402Offer(
  minted: Pick<MintedToken, 'macaroonBase64' | 'invoice' | 'paymentHash' | 'tokenId'>,
  priceSats: number,
  form: ChallengeForm,
  refusal: Refusal | undefined,
): Offer {
  return {
    scheme: 'L402',
    headers: formatChallenge(minted.macaroonBase64, minted.invoice.paymentRequest, form, refusal?.reason),
    priceSats,
    paymentHash: minted.paymentHash,
    tokenId: minted.tokenId,
    expiresAt: minted.invoice.expiresAt,
    authType: 'l402',
  };
}

/**
 * The `challenge` decision of a single L402 offer for a minted token (see
 * {@link offersDecision}): the `WWW-Authenticate` line(s) of `form`, each
 * ending in `, error="<reason>"` when the request's credential was refused.
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
  return offersDecision([l402Offer(minted, priceSats, form, refusal)], code, refusal);
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
