/**
 * RFC 9457 problem details for refused Payment credentials: every refusal is
 * still a 402 with fresh challenges, and its body names the specific problem
 * type rather than a catch-all `payment-required`.
 */
import type { L402ErrorCode } from '../core/error-codes.js';

/** Base URI of the generic problem types. */
export const PROBLEM_BASE = 'https://paymentauth.org/problems/';
/** Base URI of the Lightning method's problem types. */
export const LIGHTNING_PROBLEM_BASE = `${PROBLEM_BASE}lightning/`;
/** Media type of a problem body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The problem types this scheme answers with, by short name. */
export const PROBLEM_TYPES = {
  'payment-required': `${PROBLEM_BASE}payment-required`,
  'payment-insufficient': `${PROBLEM_BASE}payment-insufficient`,
  'payment-expired': `${PROBLEM_BASE}payment-expired`,
  'verification-failed': `${PROBLEM_BASE}verification-failed`,
  'method-unsupported': `${PROBLEM_BASE}method-unsupported`,
  'malformed-credential': `${PROBLEM_BASE}malformed-credential`,
  'invalid-challenge': `${PROBLEM_BASE}invalid-challenge`,
  'lightning/unknown-challenge': `${LIGHTNING_PROBLEM_BASE}unknown-challenge`,
  'lightning/invalid-preimage': `${LIGHTNING_PROBLEM_BASE}invalid-preimage`,
  'lightning/session-not-found': `${LIGHTNING_PROBLEM_BASE}session-not-found`,
  'lightning/session-closed': `${LIGHTNING_PROBLEM_BASE}session-closed`,
  'lightning/insufficient-balance': `${LIGHTNING_PROBLEM_BASE}insufficient-balance`,
  'lightning/invalid-return-invoice': `${LIGHTNING_PROBLEM_BASE}invalid-return-invoice`,
} as const;

/** A short name of {@link PROBLEM_TYPES}. */
export type ProblemName = keyof typeof PROBLEM_TYPES;

/**
 * A code a Payment credential can be refused with: every code of the `mpp`
 * area but `L402_ERR_MPP_INVALID_ARGUMENT` (see docs/errors.md, "Payment scheme (MPP)").
 */
export type MppRefusalCode = Exclude<Extract<L402ErrorCode, `L402_ERR_MPP_${string}`>, 'L402_ERR_MPP_INVALID_ARGUMENT'>;

/** The refusal codes of the `mpp` area, each with its problem type and title. */
const BY_CODE: Readonly<Record<MppRefusalCode, readonly [ProblemName, string]>> = {
  L402_ERR_MPP_MALFORMED: ['malformed-credential', 'Malformed Credential'],
  L402_ERR_MPP_METHOD_UNSUPPORTED: ['method-unsupported', 'Method Unsupported'],
  L402_ERR_MPP_CHALLENGE_UNKNOWN: ['lightning/unknown-challenge', 'Unknown Challenge'],
  L402_ERR_MPP_CHALLENGE_INVALID: ['invalid-challenge', 'Invalid Challenge'],
  L402_ERR_MPP_CHALLENGE_EXPIRED: ['payment-expired', 'Payment Expired'],
  L402_ERR_MPP_WRONG_AMOUNT: ['payment-insufficient', 'Payment Insufficient'],
  L402_ERR_MPP_BAD_PREIMAGE: ['lightning/invalid-preimage', 'Invalid Preimage'],
  L402_ERR_MPP_REPLAYED: ['verification-failed', 'Verification Failed'],
  L402_ERR_MPP_FOREIGN_PAYMENT: ['verification-failed', 'Verification Failed'],
  L402_ERR_MPP_RETURN_INVOICE_INVALID: ['lightning/invalid-return-invoice', 'Invalid Return Invoice'],
  L402_ERR_MPP_SESSION_NOT_FOUND: ['lightning/session-not-found', 'Session Not Found'],
  L402_ERR_MPP_SESSION_CLOSED: ['lightning/session-closed', 'Session Closed'],
  L402_ERR_MPP_INSUFFICIENT_BALANCE: ['lightning/insufficient-balance', 'Insufficient Balance'],
};

/** An RFC 9457 problem details object. */
export interface ProblemDetails {
  /** Problem type URI. */
  type: string;
  /** Short summary of the type. */
  title: string;
  /** HTTP status, 402. */
  status: number;
  /** What happened this time. */
  detail?: string;
  /** The challenge the refused credential answered, when it could be read. */
  challengeId?: string;
}

/**
 * The problem of a refusal code.
 * @param code - a refusal code of the `mpp` area
 * @param detail - what happened (no secret)
 * @param challengeId - the answered challenge, when known
 * @returns the problem, status 402
 */
export function problemFor(code: MppRefusalCode, detail?: string, challengeId?: string): ProblemDetails {
  const [name, title] = BY_CODE[code];
  return withOptional({ type: PROBLEM_TYPES[name], title, status: 402 }, detail, challengeId);
}

/**
 * The problem of a 402 answering a request without a Payment credential.
 * @returns the `payment-required` problem
 */
export function paymentRequiredProblem(): ProblemDetails {
  return { type: PROBLEM_TYPES['payment-required'], title: 'Payment Required', status: 402, detail: 'Payment required for access.' };
}

/**
 * The JSON body of a problem (members in the order type, title, status, detail, challengeId).
 * @param problem - the problem
 * @returns the body, for `Content-Type: application/problem+json`
 */
export function problemBody(problem: ProblemDetails): string {
  return JSON.stringify({
    type: problem.type,
    title: problem.title,
    status: problem.status,
    ...(problem.detail !== undefined && problem.detail !== '' ? { detail: problem.detail } : {}),
    ...(problem.challengeId !== undefined && problem.challengeId !== '' ? { challengeId: problem.challengeId } : {}),
  });
}

function withOptional(problem: ProblemDetails, detail: string | undefined, challengeId: string | undefined): ProblemDetails {
  if (detail !== undefined) problem.detail = detail;
  if (challengeId !== undefined) problem.challengeId = challengeId;
  return problem;
}
