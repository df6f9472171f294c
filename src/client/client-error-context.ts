/**
 * The request and response a client error belongs to. Client errors are the
 * core's `PaymentError` / `BudgetExceededError` classes (so callers can branch
 * on them across the package) plus these fields, attached when thrown.
 */
import type { L402Error } from '../core/errors.js';

/** Where a client-side error happened. */
export interface ClientErrorContext {
  /** The URL of the request (for gRPC: `<origin>/<package.Service>/<Method>`). */
  url: string;
  /**
   * Method of the request (`GET`, `POST`, …), upper case, when the transport
   * knows it: set by `wrapFetch` and the undici interceptor.
   */
  requestMethod?: string;
  /** HTTP status of the response that led to the error (for gRPC, the gRPC status code), when there was one. */
  responseStatus?: number;
  /** Headers of that response (for gRPC, its trailing metadata), lower-case names; repeated values joined with `, `. */
  responseHeaders?: Readonly<Record<string, string>>;
  /**
   * `wrapFetch` only: the response that led to the error, as a Fetch
   * `Response` whose body can still be read. The body is kept when it is at
   * most 64 KiB and arrives within 1 s of the headers; otherwise the copy has no
   * body. (The connection is released either way.)
   */
  response?: Response;
}

/**
 * Attaches request/response details to an error and returns it, for throwing.
 * Fields absent from `context` are left as they were, so a transport can add
 * what only it knows (method, `Response`) to an error the engine already decorated.
 * @param error - the error to decorate
 * @param context - URL, and whichever of request method, response status, headers and `Response` are known
 * @returns the same error, now carrying those fields
 */
export function withClientContext<E extends L402Error>(error: E, context: ClientErrorContext): E & ClientErrorContext {
  const target = error as E & { -readonly [K in keyof ClientErrorContext]: ClientErrorContext[K] };
  target.url = context.url;
  if (context.requestMethod !== undefined) target.requestMethod = context.requestMethod;
  if (context.responseStatus !== undefined) target.responseStatus = context.responseStatus;
  if (context.responseHeaders !== undefined) target.responseHeaders = context.responseHeaders;
  if (context.response !== undefined) target.response = context.response;
  return target as E & ClientErrorContext;
}

/**
 * Reads the request/response details of an error thrown by the client helpers.
 * @param error - any caught value
 * @returns the details, or `undefined` when the error carries none
 */
export function clientErrorContext(error: unknown): ClientErrorContext | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { url, requestMethod, responseStatus, responseHeaders, response } = error as Partial<ClientErrorContext>;
  if (typeof url !== 'string') return undefined;
  const out: ClientErrorContext = { url };
  if (typeof requestMethod === 'string') out.requestMethod = requestMethod;
  if (typeof responseStatus === 'number') out.responseStatus = responseStatus;
  if (typeof responseHeaders === 'object' && responseHeaders !== null) out.responseHeaders = responseHeaders;
  if (typeof Response !== 'undefined' && response instanceof Response) out.response = response;
  return out;
}
