/**
 * aperture-ts: L402 (Lightning HTTP 402) for TypeScript.
 *
 * The core API: framework-free, no I/O beyond `node:crypto`.
 * @packageDocumentation
 */
export {
  L402Error,
  ConfigError,
  InvoiceError,
  UpstreamError,
  PaymentError,
  BudgetExceededError,
} from './core/errors.js';
export type { L402ErrorOptions, ConfigIssue } from './core/errors.js';
export type { L402ErrorCode } from './core/error-codes.js';
export { systemClock } from './core/types.js';
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
export { Macaroon, deriveMacaroonKey, signatureChain, MAX_PACKET_BYTES, MAX_MACAROON_BYTES } from './core/macaroon.js';
export type { MacaroonCaveat } from './core/macaroon.js';
export { encodeIdentifier, decodeIdentifier, newTokenId, IDENTIFIER_V0_LENGTH } from './core/identifier.js';
export type { TokenIdentifier } from './core/identifier.js';
export {
  servicesCaveat,
  capabilitiesCaveat,
  validUntilCaveat,
  serviceCaveats,
  constraintSatisfier,
  equalitySatisfiers,
  parseServices,
  checkCaveats,
  resourceName,
  SERVICES_CONDITION,
  CAPABILITIES_SUFFIX,
  VALID_UNTIL_SUFFIX,
  PREIMAGE_CONDITION,
} from './core/caveats.js';
export type { Satisfier, SatisfierContext, CaveatCheckResult, ServiceGrant } from './core/caveats.js';
export { MemorySecretStore } from './core/memory-secret-store.js';
export type { MemorySecretStoreOptions } from './core/memory-secret-store.js';
export { Minter } from './core/minter.js';
export type { MintOptions, MintedToken, MinterOptions } from './core/minter.js';
export { readCredential, formatAuthorization, MAX_MACAROONS_PER_CREDENTIAL } from './core/credentials.js';
export type { L402Credential, CredentialResult } from './core/credentials.js';
export { Verifier } from './core/verifier.js';
export type { VerifyTarget, VerifyResult, VerifierOptions, VerifierCacheOptions } from './core/verifier.js';
export { formatChallenge, parseChallenges } from './core/challenge.js';
export type { ChallengeForm, ParsedChallenge } from './core/challenge.js';
export { Gate } from './core/gate.js';
export { challengeDecision, unauthorizedDecision } from './core/challenge-decision.js';
export { refusalOf, REFUSAL_REASONS } from './core/refusal.js';
export type { Refusal, RefusalReason } from './core/refusal.js';
export { rejectDecision, TEXT_PLAIN } from './core/reject-decision.js';
export type { RouteOptions, GateOptions } from './core/gate.js';
export { grpcStatusFor, GrpcCode } from './core/grpc-status.js';
export type { GrpcStatus } from './core/grpc-status.js';
export { BoundedCache } from './core/bounded-cache.js';
