/**
 * The credential the backend receives: whatever form the client used (L402,
 * LSAT, several macaroons, `Macaroon:` header), re-emitted as one canonical
 * `Authorization: L402 <macaroon,…>:<preimage>` line.
 */
import { toHex } from '../core/bytes.js';
import { formatAuthorization, readCredential } from '../core/credentials.js';
import type { RequestView } from '../core/types.js';

/**
 * Re-emits the request's credential canonically.
 * @param request - the request view the decision was made on
 * @returns the `Authorization` value, or `undefined` when the request carries no valid credential
 */
export function canonicalAuthorization(request: RequestView): string | undefined {
  const result = readCredential(request);
  if (result.kind !== 'credential') return undefined;
  const { macaroons, preimage } = result.credential;
  return formatAuthorization(macaroons.map((m) => m.toBase64()).join(','), toHex(preimage));
}
