/**
 * `aperture-ts/mpp`: the Payment HTTP authentication scheme (MPP) with the
 * Lightning method — its codecs (JCS, strict base64url, challenge lines and
 * lists, HMAC challenge ids, credentials, receipts, RFC 9457 problem types) and
 * {@link MppScheme}, the `charge` and `session` intents over an injected
 * invoicer, payer, stores and clock.
 *
 * {@link MppPaymentScheme} makes it one of the Gate's payment schemes, beside L402 (see docs/mpp.md).
 * The store interfaces it uses (`ChargeStore`, `SessionStore`) are exported by
 * `aperture-ts/store`, whose stores implement them.
 *
 * @packageDocumentation
 */
export { encodeBase64Url, decodeBase64Url } from './base64url.js';
export { canonicalize, canonicalizeJson } from './jcs.js';
export {
  PAYMENT_SCHEME,
  computeChallengeId,
  formatPaymentChallenge,
  parsePaymentChallenges,
  verifyChallengeId,
} from './payment-challenge.js';
export type { PaymentChallenge } from './payment-challenge.js';
export {
  MAX_CREDENTIAL_BYTES,
  MAX_CREDENTIAL_TOKEN_LENGTH,
  encodePaymentCredential,
  isPaymentAuthorization,
  parsePaymentCredential,
} from './payment-credential.js';
export type { PaymentCredential } from './payment-credential.js';
export {
  PAYMENT_RECEIPT_HEADER,
  decodePaymentReceipt,
  decodeReceiptJson,
  encodeChargeReceipt,
  encodeSessionReceipt,
  needTopUpEventJson,
} from './payment-receipt.js';
export type { ChargeReceipt, NeedTopUpEvent, ReceiptRefundStatus, SessionReceipt } from './payment-receipt.js';
export type { ChargeRequest, SessionRequest } from './payment-request.js';
export { PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, paymentRequiredProblem, problemBody, problemFor } from './problem.js';
export type { MppRefusalCode, ProblemDetails, ProblemName } from './problem.js';
export { MppScheme } from './mpp-scheme.js';
export type {
  DecodedReturnInvoice,
  InvoiceDecoder,
  MppAccepted,
  MppAction,
  MppChallengeResponse,
  MppIntent,
  MppOffer,
  MppRefundReport,
  MppRefused,
  MppSchemeOptions,
  MppSessionOptions,
  MppSweepResult,
  MppSessionQuote,
  MppTarget,
  MppVerification,
} from './mpp-scheme.js';
export { MppPaymentScheme, responseServed } from './mpp-payment-scheme.js';
export type { MppPaymentSchemeOptions } from './mpp-payment-scheme.js';
