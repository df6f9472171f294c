/**
 * phoenixd backends (HTTP Basic with the http password): `PhoenixdInvoicer`
 * (settlements from `/websocket`, which needs the optional `ws` package) and
 * `PhoenixdPayer`.
 * @packageDocumentation
 */
export { PhoenixdInvoicer } from './phoenixd-invoicer.js';
export type { PhoenixdInvoicerOptions } from './phoenixd-invoicer.js';
export { PhoenixdPayer } from './phoenixd-payer.js';
export type { PhoenixdPayerOptions } from './phoenixd-payer.js';
export type { BackoffOptions } from '../backoff.js';
