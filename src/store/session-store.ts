/**
 * The session role's interface is defined beside the Payment scheme that
 * uses it (`src/mpp`); the stores here implement it.
 */
export type {
  CreditOutcome,
  NewSession,
  OpenOutcome,
  RefundOutcome,
  RefundStatus,
  RefundTiming,
  SessionCursor,
  SessionRecord,
  SessionRefund,
  SessionStatus,
  SessionStore,
} from '../mpp/session-store.js';
