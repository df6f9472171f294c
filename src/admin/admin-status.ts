/**
 * The statuses the admin API answers with: a gRPC status code and message,
 * written as gRPC trailers or, on REST, as grpc-gateway writes them (an HTTP
 * status from the code and a `{"code","message","details"}` body).
 */
import type { L402ErrorCode } from '../core/error-codes.js';
import { L402Error } from '../core/errors.js';

/** gRPC status codes (the gRPC specification's numbers). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code. */
export type StatusCode = (typeof Code)[keyof typeof Code];

/** The error codes of {@link AdminStatusError}, one per gRPC status the API answers with. */
const ERROR_CODES: Partial<Record<StatusCode, L402ErrorCode>> = {
  [Code.INVALID_ARGUMENT]: 'L402_ERR_ADMIN_INVALID_ARGUMENT',
  [Code.NOT_FOUND]: 'L402_ERR_ADMIN_NOT_FOUND',
  [Code.ALREADY_EXISTS]: 'L402_ERR_ADMIN_ALREADY_EXISTS',
  [Code.PERMISSION_DENIED]: 'L402_ERR_ADMIN_PERMISSION_DENIED',
  [Code.RESOURCE_EXHAUSTED]: 'L402_ERR_ADMIN_RATE_LIMITED',
  [Code.ABORTED]: 'L402_ERR_ADMIN_ABORTED',
  [Code.UNIMPLEMENTED]: 'L402_ERR_ADMIN_UNIMPLEMENTED',
  [Code.UNAVAILABLE]: 'L402_ERR_ADMIN_UNAVAILABLE',
  [Code.UNAUTHENTICATED]: 'L402_ERR_ADMIN_UNAUTHENTICATED',
};

/**
 * HTTP status of a gRPC code, as grpc-gateway's `HTTPStatusFromCode` maps it.
 * @param code - gRPC status code
 * @returns the HTTP status
 */
export function httpStatusOf(code: number): number {
  switch (code) {
    case Code.OK:
      return 200;
    case Code.CANCELLED:
      return 499;
    case Code.INVALID_ARGUMENT:
      return 400;
    case Code.DEADLINE_EXCEEDED:
      return 504;
    case Code.NOT_FOUND:
      return 404;
    case Code.ALREADY_EXISTS:
      return 409;
    case Code.PERMISSION_DENIED:
      return 403;
    case Code.UNAUTHENTICATED:
      return 401;
    case Code.RESOURCE_EXHAUSTED:
      return 429;
    case Code.FAILED_PRECONDITION:
      return 400;
    case Code.ABORTED:
      return 409;
    case Code.OUT_OF_RANGE:
      return 400;
    case Code.UNIMPLEMENTED:
      return 501;
    case Code.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

/**
 * A call answered with a status other than OK. The message is what the client
 * sees (`grpc-message`, or `message` of the REST body); it never holds a
 * credential.
 */
export class AdminStatusError extends L402Error {
  /** The gRPC status code. */
  readonly grpcCode: StatusCode;
  /** For `RESOURCE_EXHAUSTED`: milliseconds until the caller may try again. */
  readonly retryAfterMs: number | undefined;

  /**
   * @param grpcCode - gRPC status code
   * @param message - the status message sent to the client
   * @param options - cause, for rate limits the retry delay, and an HTTP status other than grpc-gateway's for the code
   */
  constructor(grpcCode: StatusCode, message: string, options: { cause?: unknown; retryAfterMs?: number; httpStatus?: number } = {}) {
    super(ERROR_CODES[grpcCode] ?? 'L402_ERR_ADMIN_INTERNAL', message, {
      status: options.httpStatus ?? httpStatusOf(grpcCode),
      cause: options.cause,
    });
    this.name = 'AdminStatusError';
    this.grpcCode = grpcCode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A status error.
 * @param code - gRPC status code
 * @param message - the message sent to the client
 * @returns the error
 */
export function status(code: StatusCode, message: string): AdminStatusError {
  return new AdminStatusError(code, message);
}

/**
 * The status an error thrown by a handler becomes: status errors as they are;
 * store outages `UNAVAILABLE`; anything else `INTERNAL` with a generic message
 * (the cause goes to the log, not to the client).
 * @param error - what was thrown
 * @returns the status error to answer with
 */
export function toStatusError(error: unknown): AdminStatusError {
  if (error instanceof AdminStatusError) return error;
  if (error instanceof L402Error && error.code === 'L402_ERR_STORE_UNAVAILABLE') {
    return new AdminStatusError(Code.UNAVAILABLE, 'the database is unavailable; try again', { cause: error });
  }
  if (error instanceof L402Error && error.code === 'L402_ERR_STORE_INVALID_ARGUMENT') {
    return new AdminStatusError(Code.INVALID_ARGUMENT, error.message, { cause: error });
  }
  return new AdminStatusError(Code.INTERNAL, 'internal error', { cause: error });
}
