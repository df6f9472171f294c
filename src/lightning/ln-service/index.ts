/**
 * Adapter for the `lightning` / `ln-service` npm packages: Invoicer and Payer
 * over an `lnd` handle from `authenticatedLndGrpc`. The package is an optional
 * peer dependency, imported only when its functions are not passed in.
 * @packageDocumentation
 */
export { LnServiceInvoicer } from './ln-service-invoicer.js';
export type { LnServiceInvoicerOptions } from './ln-service-invoicer.js';
export { LnServicePayer } from './ln-service-payer.js';
export type { LnServicePayerOptions } from './ln-service-payer.js';
export type { LnServiceFunctions, LnServiceLnd } from './ln-service-functions.js';
