/**
 * Core Lightning backends over `clnrest` (REST, a rune in the `Rune` header):
 * `ClnInvoicer` (server side) and `ClnPayer` (client side).
 * @packageDocumentation
 */
export { ClnInvoicer } from './cln-invoicer.js';
export type { ClnInvoicerOptions } from './cln-invoicer.js';
export { ClnPayer } from './cln-payer.js';
export type { ClnPayerOptions } from './cln-payer.js';
export type { ClnConnectionOptions } from './cln-rest.js';
export type { BackoffOptions } from '../backoff.js';
export type { InvoicePage } from '../settled-invoice-index.js';
