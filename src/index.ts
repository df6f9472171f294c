/**
 * aperture-ts: L402 (Lightning HTTP 402) for TypeScript.
 *
 * The core API: framework-free, no I/O beyond `node:crypto`. What is listed
 * here is public; every other module of `src/core` is internal, and
 * `test/package/public-exports.json` pins the list.
 * @packageDocumentation
 */

// Errors and their codes.
export { L402Error, ConfigError, InvoiceError, UpstreamError, PaymentError, BudgetExceededError } from './core/errors.js';
export type { L402ErrorOptions, ConfigIssue } from './core/errors.js';
export { L402_ERROR_CODES } from './core/error-codes.js';
export type { L402ErrorCode } from './core/error-codes.js';

// The request view, the decisions, and the interfaces a backend or store implements.
export type {
  MaybePromise,
  Clock,
  RequestView,
  HeaderList,
  ServiceTier,
  VerifiedToken,
  AllowDecision,
  ChallengeDecision,
  RejectDecision,
  Decision,
  CreateInvoiceRequest,
  Invoice,
  InvoiceState,
  InvoiceStatus,
  BackendHealth,
  Invoicer,
  PayOptions,
  PaymentResult,
  Payer,
  SecretStore,
} from './core/types.js';

// The Gate and its parts.
export { Gate } from './core/gate.js';
export type { RouteOptions, GateOptions, GateEvent, BeforeChallengeEvent, ChallengeEvent, ResponseEvent } from './core/gate.js';
export { L402Scheme } from './core/l402-scheme.js';
export type { L402SchemeOptions } from './core/l402-scheme.js';
export type {
  PaymentScheme,
  CredentialRecognizer,
  SchemeVerification,
  AcceptedCredential,
  Offer,
  OfferBody,
  OfferRequest,
  OfferRoute,
  ResponseOutcome,
} from './core/payment-scheme.js';
export { Minter } from './core/minter.js';
export type { MintOptions, MintedToken, MinterOptions } from './core/minter.js';
export { Verifier } from './core/verifier.js';
export type { VerifyTarget, VerifyResult, VerifierOptions, VerifierCacheOptions } from './core/verifier.js';
export { MemorySecretStore } from './core/memory-secret-store.js';
export type { MemorySecretStoreOptions } from './core/memory-secret-store.js';
export { refusalOf, REFUSAL_REASONS } from './core/refusal.js';
export type { Refusal, RefusalReason } from './core/refusal.js';

// Tokens, credentials and challenges.
export { Macaroon } from './core/macaroon.js';
export type { MacaroonCaveat } from './core/macaroon.js';
export { decodeIdentifier } from './core/identifier.js';
export type { TokenIdentifier } from './core/identifier.js';
export { resourceName, constraintSatisfier, equalitySatisfiers } from './core/caveats.js';
export type { Satisfier, SatisfierContext } from './core/caveats.js';
export { readCredential, formatAuthorization } from './core/credentials.js';
export type { L402Credential, CredentialResult } from './core/credentials.js';
export { formatChallenge, parseChallenges } from './core/challenge.js';
export type { ChallengeForm, ParsedChallenge } from './core/challenge.js';

// gRPC status of a decision, for adapters that answer over gRPC.
export { grpcStatusFor } from './core/grpc-status.js';
export type { GrpcStatus } from './core/grpc-status.js';
