import { NOSNIFF } from '../core/reject-decision.js';
import type { RejectDecision } from '../core/types.js';
import { rateLimitedDecision } from './rate-limited-decision.js';
import { retryAfterSeconds, type RateLimitResult } from './rate-limiter.js';

/**
 * The answer to a request refused by a limit that every client shares (the
 * `aperture` program's `globalchallengelimit`): 503, `Retry-After: <ceil
 * seconds, at least 1>`, body
 * `service unavailable (L402_ERR_RATELIMIT_GLOBAL_EXCEEDED)\n`, code
 * `L402_ERR_RATELIMIT_GLOBAL_EXCEEDED` (`grpcStatusFor` maps 503 to gRPC
 * status 14, UNAVAILABLE).
 *
 * 503, not 429: the client asking is within its own limit; the server as a
 * whole is out of capacity for the moment (RFC 9110 §15.6.4), and clients,
 * load balancers and gRPC treat that as "retry later, maybe elsewhere" rather
 * than "you are sending too much".
 *
 * A denial that comes from a store failure under `onStoreError: 'deny'` is
 * answered as {@link rateLimitedDecision} answers it.
 *
 * @param result - the denied result of the shared limiter
 * @returns the reject decision for an adapter or the proxy to write out
 */
export function globalLimitDecision(result: Pick<RateLimitResult, 'retryAfterMs' | 'storeError'>): RejectDecision {
  if (result.storeError === true) return rateLimitedDecision(result);
  return {
    kind: 'reject',
    status: 503,
    headers: [['Retry-After', String(retryAfterSeconds(result.retryAfterMs))], ['Content-Type', 'text/plain; charset=utf-8'], NOSNIFF],
    body: 'service unavailable (L402_ERR_RATELIMIT_GLOBAL_EXCEEDED)\n',
    code: 'L402_ERR_RATELIMIT_GLOBAL_EXCEEDED',
  };
}
