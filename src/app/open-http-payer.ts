/**
 * The payer of MPP session refunds with `authenticator.backend: cln | phoenixd | nwc`: the backend's
 * Payer over the paying credential (`clnpayrune`, `phoenixdpaypassword`, `nwcpayuri`, or their files).
 */
import { L402Error } from '../core/errors.js';
import type { Payer } from '../core/types.js';
import { ClnPayer } from '../lightning/cln/cln-payer.js';
import { NwcPayer } from '../lightning/nwc/nwc-payer.js';
import { PhoenixdPayer } from '../lightning/phoenixd/phoenixd-payer.js';
import { refundPayerKeys, type HttpBackendConfig } from '../proxy/config/http-backend-config.js';
import { readText } from './open-http-invoicer.js';

/**
 * Builds the refund payer of the configured remote backend (it connects on its first payment).
 * @param config - `authenticator.http`
 * @returns the payer, or `undefined` when no paying credential is configured
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when the credential or CA file cannot be read, or the NWC URI is
 *   malformed; `L402_ERR_CONFIG_INVALID` for LNbits, which cannot pay amountless invoices
 */
export function openHttpRefundPayer(config: HttpBackendConfig): (Payer & { close(): Promise<void> }) | undefined {
  if (config.paySecret === undefined && config.paySecretFile === undefined) return undefined;
  const keys = refundPayerKeys(config.kind);
  if (keys === undefined)
    throw new L402Error('L402_ERR_CONFIG_INVALID', `backend ${config.kind} cannot pay session refunds (amountless invoices)`);
  const secret = config.paySecret?.reveal() ?? readText(config.paySecretFile, keys.what);
  const caCert = config.caCertPath === undefined ? undefined : readText(config.caCertPath, 'CA certificate');
  const common = { url: config.url, ...(caCert !== undefined ? { caCert } : {}) };
  switch (config.kind) {
    case 'cln':
      return new ClnPayer({ ...common, rune: secret });
    case 'phoenixd':
      return new PhoenixdPayer({ ...common, password: secret });
    case 'nwc':
      return new NwcPayer({ uri: secret });
    case 'lnbits':
      return undefined;
  }
}
