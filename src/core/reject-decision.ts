/**
 * The plain-text refusal every part of the project answers with when it
 * refuses a request without a challenge.
 */
import type { RejectDecision } from './types.js';
import type { L402ErrorCode } from './error-codes.js';

/** `Content-Type` of the plain-text bodies of decisions. */
export const TEXT_PLAIN = 'text/plain; charset=utf-8';

/**
 * A `reject` decision with a plain-text body that no cache may keep.
 * @param status - HTTP status (401, 403, 503…)
 * @param body - the body, ending in a newline
 * @param code - the stable `L402_ERR_…` code saying why
 * @returns the decision, headers `Content-Type: text/plain; charset=utf-8` and `Cache-Control: no-store`
 */
export function rejectDecision(status: number, body: string, code: L402ErrorCode): RejectDecision {
  return { kind: 'reject', status, headers: [['Content-Type', TEXT_PLAIN], ['Cache-Control', 'no-store']], body, code };
}
