/**
 * Clients that pay L402 and Payment (MPP) challenges automatically: `wrapFetch` for the Fetch
 * API, an undici interceptor, the memory token store, budgets. Nothing here
 * imports a Node module, so it runs in browsers and edge runtimes too. The
 * gRPC interceptor (`aperture-ts/client/grpc`, loads grpc-js) and the file
 * token store (`aperture-ts/client/file-token-store`, uses `node:fs`) are
 * entries of their own. What is listed here is public.
 * @packageDocumentation
 */

// The transports.
export { wrapFetch } from './wrap-fetch.js';
export type { FetchLike } from './wrap-fetch.js';
export { undiciL402Interceptor } from './undici-l402-interceptor.js';

// The engine they share, and what it is configured with.
export { L402Client, L402Call } from './l402-client.js';
export type { L402ClientOptions, ChallengeInfo, ChallengeResponse, Quote } from './l402-client.js';
export type { MppClientOptions, MppPaymentInfo, SessionCloseResult } from './mpp-payments.js';
export type { BudgetOptions, BudgetSnapshot } from './budget.js';
export type { PayerLike, PayInvoiceFunction, PayInvoiceLike, PayInvoiceAnswer } from './to-payer.js';
export type { TokenStore, StoredToken } from './token-store.js';
export { MemoryTokenStore } from './memory-token-store.js';
export { readInvoice } from './read-invoice.js';
export type { InvoiceDetails } from './read-invoice.js';

// Errors.
export { L402Error, PaymentError, BudgetExceededError } from '../core/errors.js';
export { ChallengeParseError } from './challenge-parse-error.js';
export { clientErrorContext } from './client-error-context.js';
export type { ClientErrorContext } from './client-error-context.js';
