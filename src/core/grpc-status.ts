/**
 * Maps a challenge or reject decision to a gRPC status (PROTOCOL §3). Pure: the
 * gRPC adapter sends the result as a trailers-only response.
 */
import type { ChallengeDecision, HeaderList, RejectDecision } from './types.js';

/** A gRPC status to send. */
export interface GrpcStatus {
  /** gRPC status code. */
  code: number;
  /** `grpc-message`. */
  message: string;
  /** Metadata (lower-case keys), e.g. `www-authenticate` or `retry-after`. */
  metadata: HeaderList;
}

/** gRPC status codes used here. */
export const GrpcCode = {
  UNKNOWN: 2,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

// Headers of the plain-text HTTP answer that mean nothing in gRPC metadata.
const HTTP_ONLY = new Set(['content-type', 'content-length', 'x-content-type-options']);

/**
 * The metadata of a decision's headers. `cache-control` stays on a challenge
 * only: the reference's trailers-only 402 carries `cache-control: no-store`
 * (a fresh invoice must not be cached), its other gRPC answers none.
 */
function metadataOf(headers: HeaderList, challenge: boolean): HeaderList {
  const out: Array<readonly [string, string]> = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!HTTP_ONLY.has(lower) && (challenge || lower !== 'cache-control')) out.push([lower, value]);
  }
  return out;
}

function messageOf(body: string, fallback: string): string {
  const trimmed = body.trim();
  return trimmed.length > 0 ? trimmed : fallback;
}

/**
 * The gRPC status for a decision: challenge → 13 INTERNAL `payment required` with
 * the `www-authenticate` values and `cache-control: no-store` (what deployed clients detect; the reference's
 * client looks for `payment required` within the message, so a refused
 * credential's code follows it: `payment required (L402_ERR_TOKEN_EXPIRED)`,
 * and the `error="…"` parameter is in the `www-authenticate` values); 401 → 16
 * UNAUTHENTICATED; 429 → 8 RESOURCE_EXHAUSTED `rate limit exceeded` (with
 * `retry-after`); 403 → 7 PERMISSION_DENIED; 503 → 14 UNAVAILABLE; anything
 * else → 2 UNKNOWN.
 *
 * @param decision - a challenge or reject decision
 * @returns code, message and metadata
 */
export function grpcStatusFor(decision: ChallengeDecision | RejectDecision): GrpcStatus {
  const metadata = metadataOf(decision.headers, decision.kind === 'challenge');
  if (decision.kind === 'challenge') {
    const refusal = decision.refusal;
    return {
      code: GrpcCode.INTERNAL,
      message: refusal === undefined ? 'payment required' : `payment required (${refusal.code})`,
      metadata,
    };
  }
  switch (decision.status) {
    case 401:
      return { code: GrpcCode.UNAUTHENTICATED, message: messageOf(decision.body, 'unauthorized'), metadata };
    case 429:
      return { code: GrpcCode.RESOURCE_EXHAUSTED, message: 'rate limit exceeded', metadata };
    case 403:
      return { code: GrpcCode.PERMISSION_DENIED, message: messageOf(decision.body, 'access denied'), metadata };
    case 503:
      return { code: GrpcCode.UNAVAILABLE, message: messageOf(decision.body, 'service unavailable'), metadata };
    default:
      return { code: GrpcCode.UNKNOWN, message: messageOf(decision.body, `http status ${decision.status}`), metadata };
  }
}
