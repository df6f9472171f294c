import type { RejectDecision } from '../core/types.js';
import { retryAfterSeconds, type RateLimitResult } from './rate-limiter.js';

/**
 * The answer to a request a {@link RateLimiter} denied: 429,
 * `Retry-After: <ceil seconds, at least 1>`, body `rate limit exceeded\n`,
 * code `L402_ERR_RATELIMIT_EXCEEDED`. `grpcStatusFor` maps it to gRPC status 8.
 *
 * @param result - the denied result
 * @returns the reject decision for an adapter or the proxy to write out
 */
export function rateLimitedDecision(result: Pick<RateLimitResult, 'retryAfterMs'>): RejectDecision {
  return {
    kind: 'reject',
    status: 429,
    headers: [
      ['Retry-After', String(retryAfterSeconds(result.retryAfterMs))],
      ['Content-Type', 'text/plain; charset=utf-8'],
    ],
    body: 'rate limit exceeded\n',
    code: 'L402_ERR_RATELIMIT_EXCEEDED',
  };
}
