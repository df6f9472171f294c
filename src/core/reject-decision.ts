/**
 * The plain-text refusal every part of the project answers with when it
 * refuses a request without a challenge.
 */
import type { RejectDecision } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/** `Content-Type` of the plain-text bodies of decisions. */
export const TEXT_PLAIN = 'text/plain; charset=utf-8';

/**
 * `X-Content-Type-Options: nosniff`, on every plain-text answer (as Go's
 * `http.Error` sets it on the reference's): a browser must not read the
 * text as anything else.
 */
export const NOSNIFF: readonly [string, string] = Object.freeze(['X-Content-Type-Options', 'nosniff'] as const);

/**
 * A `reject` decision with a plain-text body that no cache may keep.
 * @param status - HTTP status (401, 403, 503…)
 * @param body - the body, ending in a newline
 * @param code - the stable `L402_ERR_…` code saying why
 * @returns the decision, headers `Content-Type: text/plain; charset=utf-8`, `Cache-Control: no-store`
 *   and `X-Content-Type-Options: nosniff`
 */
export function rejectDecision(status: number, body: string, code: L402ErrorCode): RejectDecision {
  return { kind: 'reject', status, headers: [['Content-Type', TEXT_PLAIN], ['Cache-Control', 'no-store'], NOSNIFF], body, code };
}

/**
 * The 503 answer of an infrastructure fault (a Lightning backend, a store, a
 * pricer): `service unavailable (<code>)\n`, naming the code so that
 * operators and clients see which part failed.
 * @param code - the fault's code
 * @returns a `reject` decision, status 503
 */
export function unavailableDecision(code: L402ErrorCode): RejectDecision {
  return rejectDecision(503, `service unavailable (${code})\n`, code);
}
