/**
 * The charge role's interface is defined beside the Payment scheme that
 * consumes it (`src/mpp`); the stores here implement it.
 */
export type { ChargeClaim, ChargeDetails, ChargeRecord, ChargeStore } from '../mpp/charge-store.js';
