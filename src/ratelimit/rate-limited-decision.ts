import { NOSNIFF } from '../core/reject-decision.js';
import type { RejectDecision } from '../core/types.js';
import { retryAfterSeconds, type RateLimitResult } from './rate-limiter.js';

/**
 * The answer to a request a {@link RateLimiter} denied: 429,
 * `Retry-After: <ceil seconds, at least 1>`, body `rate limit exceeded\n`,
 * code `L402_ERR_RATELIMIT_EXCEEDED` (`grpcStatusFor` maps 429 to gRPC status 8).
 *
 * A denial that comes from a store failure under `onStoreError: 'deny'` is
 * not the client's fault, so it is a 503 with code
 * `L402_ERR_RATELIMIT_STORE_UNAVAILABLE`, body
 * `service unavailable (L402_ERR_RATELIMIT_STORE_UNAVAILABLE)\n` (and the same
 * `Retry-After`) instead.
 *
 * @param result - the denied result
 * @returns the reject decision for an adapter or the proxy to write out
 */
export function rateLimitedDecision(result: Pick<RateLimitResult, 'retryAfterMs' | 'storeError'>): RejectDecision {
  const unavailable = result.storeError === true;
  return {
    kind: 'reject',
    status: unavailable ? 503 : 429,
    headers: [['Retry-After', String(retryAfterSeconds(result.retryAfterMs))], ['Content-Type', 'text/plain; charset=utf-8'], NOSNIFF],
    // Named like the app's other 503s, so that operators and clients see which part failed.
    body: unavailable ? 'service unavailable (L402_ERR_RATELIMIT_STORE_UNAVAILABLE)\n' : 'rate limit exceeded\n',
    code: unavailable ? 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE' : 'L402_ERR_RATELIMIT_EXCEEDED',
  };
}
