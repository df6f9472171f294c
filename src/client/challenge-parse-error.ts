/**
 * The error thrown when a 402 response announces an L402 challenge the client
 * cannot use: no parseable `WWW-Authenticate` value, a macaroon that does not
 * decode, an identifier of an unknown version, or an invoice that is not BOLT11.
 */
import { L402Error } from '../core/errors.js';
import type { ClientErrorContext } from './client-error-context.js';

/**
 * A payment challenge could not be parsed; nothing was paid.
 *
 * Code `L402_ERR_CLIENT_CHALLENGE_INVALID`. Carries the request URL and the
 * response status and headers, so the offending header can be logged.
 */
export class ChallengeParseError extends L402Error implements ClientErrorContext {
  /** The URL of the request. */
  readonly url: string;
  /** Method of the request, when the transport knows it (`wrapFetch`, the undici interceptor). */
  readonly requestMethod?: string;
  /** HTTP status (or gRPC status code) of the response carrying the challenge. */
  readonly responseStatus?: number;
  /** Headers (or gRPC trailing metadata) of that response, lower-case names. */
  readonly responseHeaders?: Readonly<Record<string, string>>;
  /** `wrapFetch` only: the response carrying the challenge, its body still readable (see {@link ClientErrorContext.response}). */
  readonly response?: Response;

  /**
   * @param message - what is wrong with the challenge
   * @param context - request URL (and method), response status, headers (and `Response`)
   * @param options - the underlying error, when there is one
   */
  constructor(message: string, context: ClientErrorContext, options: { cause?: unknown } = {}) {
    super('L402_ERR_CLIENT_CHALLENGE_INVALID', message, options);
    this.name = 'ChallengeParseError';
    this.url = context.url;
    if (context.requestMethod !== undefined) this.requestMethod = context.requestMethod;
    if (context.responseStatus !== undefined) this.responseStatus = context.responseStatus;
    if (context.responseHeaders !== undefined) this.responseHeaders = context.responseHeaders;
    if (context.response !== undefined) this.response = context.response;
  }
}
