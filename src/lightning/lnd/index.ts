/**
 * lnd backends: `LndInvoicer` (server side) and `LndPayer` (client side) over
 * gRPC with lnd's TLS certificate and a macaroon, plus strict verification.
 * @packageDocumentation
 */
export { LndInvoicer } from './lnd-invoicer.js';
export type { LndInvoicerOptions, LndNodeInfo } from './lnd-invoicer.js';
export { LndPayer } from './lnd-payer.js';
export type { LndPayerOptions } from './lnd-payer.js';
export type { LndConnectionOptions } from './lnd-grpc.js';
export { SettledInvoiceIndex } from '../settled-invoice-index.js';
export type { InvoicePage, SettledInvoiceSource, SettledInvoiceIndexOptions } from '../settled-invoice-index.js';
export type { BackoffOptions } from '../backoff.js';
export type { LightningNetwork } from '../network.js';
