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
  /** HTTP status of the response that led to the error (for gRPC, the gRPC status code), when there was one. */
  responseStatus?: number;
  /** Headers of that response (for gRPC, its trailing metadata), lower-case names; repeated values joined with `, `. */
  responseHeaders?: Readonly<Record<string, string>>;
}

/**
 * Attaches request/response details to an error and returns it, for throwing.
 * @param error - the error to decorate
 * @param context - URL, response status and headers
 * @returns the same error, now carrying `url`, `responseStatus` and `responseHeaders`
 */
export function withClientContext<E extends L402Error>(error: E, context: ClientErrorContext): E & ClientErrorContext {
  const target = error as E & { url?: string; responseStatus?: number; responseHeaders?: Readonly<Record<string, string>> };
  target.url = context.url;
  if (context.responseStatus !== undefined) target.responseStatus = context.responseStatus;
  if (context.responseHeaders !== undefined) target.responseHeaders = context.responseHeaders;
  return target as E & ClientErrorContext;
}

/**
 * Reads the request/response details of an error thrown by the client helpers.
 * @param error - any caught value
 * @returns the details, or `undefined` when the error carries none
 */
export function clientErrorContext(error: unknown): ClientErrorContext | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { url, responseStatus, responseHeaders } = error as Partial<ClientErrorContext>;
  if (typeof url !== 'string') return undefined;
  const out: ClientErrorContext = { url };
  if (typeof responseStatus === 'number') out.responseStatus = responseStatus;
  if (typeof responseHeaders === 'object' && responseHeaders !== null) out.responseHeaders = responseHeaders;
  return out;
}
