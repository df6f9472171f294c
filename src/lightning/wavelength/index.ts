/**
 * Wavelength backend: `WavelengthInvoicer` over a Wavelength wallet daemon's
 * HTTP/JSON gateway (`POST /v1/wallet/recv`, macaroon in header `macaroon`).
 * The invoicer reports no settlement, so strict verification is refused with
 * it. `WavelengthPayer` pays with `POST /v1/wallet/prepare-send` and
 * `/v1/wallet/send` (invoices with an amount only).
 * @packageDocumentation
 */
export { WavelengthInvoicer } from './wavelength-invoicer.js';
export type { WavelengthInvoicerOptions } from './wavelength-invoicer.js';
export { WavelengthPayer } from './wavelength-payer.js';
export type { WavelengthPayerOptions } from './wavelength-payer.js';
