/**
 * The dev Lightning backend: real signed regtest invoices, paid in process or
 * through `POST /api/dev/pay`. For development and tests only. What is listed
 * here is public.
 * @packageDocumentation
 */
export { DevInvoicer, DEV_BACKEND_WARNING, DEFAULT_MAX_UNPAID_DEV_INVOICES } from './dev-invoicer.js';
export type { DevInvoicerOptions, DevNetwork } from './dev-invoicer.js';
export type { LightningNetwork } from '../network.js';
export { decodeInvoice } from '../decode-invoice.js';
export type { DecodedInvoice } from '../decode-invoice.js';
export { DevPayer } from './dev-payer.js';
export { DevHttpPayer } from './dev-http-payer.js';
export type { DevHttpPayerOptions } from './dev-http-payer.js';
export { createDevPayHandler } from './dev-pay-handler.js';
export type { DevPayHandler, DevPayResponse } from './dev-pay-handler.js';
export { createDevPayListener, MAX_DEV_PAY_BODY } from './dev-pay-listener.js';
export type { DevPaid, DevPayListenerOptions } from './dev-pay-listener.js';
