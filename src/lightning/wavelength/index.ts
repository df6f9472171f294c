/**
 * Wavelength backend: `WavelengthInvoicer` over a Wavelength wallet daemon's
 * HTTP/JSON gateway (`POST /v1/wallet/recv`, macaroon in header `macaroon`).
 * It creates invoices only: settlement is not reported, so strict verification
 * is refused with it. No payer: the gateway's send call is not built here.
 * @packageDocumentation
 */
export { WavelengthInvoicer } from './wavelength-invoicer.js';
export type { WavelengthInvoicerOptions } from './wavelength-invoicer.js';
