/**
 * The one way the MPP codecs throw: an {@link L402Error} of the `mpp` area.
 * Parsers of untrusted input throw `L402_ERR_MPP_MALFORMED` (status 402: the
 * answer to a bad credential is a fresh challenge); bad options and values the
 * encoders cannot represent throw `L402_ERR_MPP_INVALID_ARGUMENT` (status 500).
 */
import { L402Error } from '../core/errors.js';

/**
 * A malformed Payment credential, challenge, receipt or encoding.
 * @param message - what is wrong (never the secret parts of the input)
 * @param cause - the underlying error
 * @returns the error to throw
 * @internal
 */
export function malformed(message: string, cause?: unknown): L402Error {
  return new L402Error('L402_ERR_MPP_MALFORMED', `mpp: ${message}`, cause === undefined ? { status: 402 } : { status: 402, cause });
}

/**
 * An unusable option or a value an encoder cannot represent.
 * @param message - what is wrong
 * @returns the error to throw
 * @internal
 */
export function invalidArgument(message: string): L402Error {
  return new L402Error('L402_ERR_MPP_INVALID_ARGUMENT', `mpp: ${message}`, { status: 500 });
}
