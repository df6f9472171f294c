/**
 * Nostr Wallet Connect (NIP-47) backends: `NwcInvoicer` and `NwcPayer`, over
 * one relay, with NIP-44 v2 or NIP-04 encryption. Needs the optional packages
 * `nostr-tools` (2.x) and `ws` (8.x).
 * @packageDocumentation
 */
export { NwcInvoicer } from './nwc-invoicer.js';
export type { NwcInvoicerOptions } from './nwc-invoicer.js';
export { NwcPayer } from './nwc-payer.js';
export type { NwcPayerOptions } from './nwc-payer.js';
export type { NwcEncryption } from './nwc-connection.js';
export { parseNwcUri } from './nwc-uri.js';
export type { NwcUri } from './nwc-uri.js';
export type { BackoffOptions } from '../backoff.js';
