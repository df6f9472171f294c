/**
 * LNbits backends: `LnbitsInvoicer` (invoice key, settlements from the
 * wallet's WebSocket, which needs the optional `ws` package) and `LnbitsPayer`
 * (admin key).
 * @packageDocumentation
 */
export { LnbitsInvoicer } from './lnbits-invoicer.js';
export type { LnbitsInvoicerOptions } from './lnbits-invoicer.js';
export { LnbitsPayer } from './lnbits-payer.js';
export type { LnbitsPayerOptions } from './lnbits-payer.js';
export type { BackoffOptions } from '../backoff.js';
