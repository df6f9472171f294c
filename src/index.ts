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
