/**
 * Maps `authenticator.backend: cln | lnbits | phoenixd` to its Invoicer: reads
 * the credential and CA files, connects, and logs health changes (never the
 * credential).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { L402Error } from '../core/errors.js';
import type { BackendHealth, Clock, Invoicer } from '../core/types.js';
import { ClnInvoicer } from '../lightning/cln/cln-invoicer.js';
import { LnbitsInvoicer } from '../lightning/lnbits/lnbits-invoicer.js';
import { NwcInvoicer } from '../lightning/nwc/nwc-invoicer.js';
import { PhoenixdInvoicer } from '../lightning/phoenixd/phoenixd-invoicer.js';
import type { HttpBackendConfig } from '../proxy/config/http-backend-config.js';

const NAMES = { cln: 'Core Lightning', lnbits: 'LNbits', phoenixd: 'phoenixd', nwc: 'Nostr Wallet Connect' } as const;

/**
 * Connects the configured HTTP Lightning backend.
 * @param config - `authenticator.http`
 * @param logger - the `CHLL` logger
 * @param clock - time source
 * @returns the connected invoicer
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when the credential or CA file cannot be read; the backend's
 *   `connect` errors (`L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`, …)
 */
export async function openHttpInvoicer(config: HttpBackendConfig, logger: Logger, clock: Clock): Promise<Invoicer> {
  const secret = config.secret?.reveal() ?? readText(config.secretFile, 'credential');
  const caCert = config.caCertPath === undefined ? undefined : readText(config.caCertPath, 'CA certificate');
  const name = NAMES[config.kind];
  const common = {
    url: config.url,
    ...(caCert !== undefined ? { caCert } : {}),
    clock,
    onHealthChange: (health: BackendHealth) => {
      if (health.ok) logger.info({ backend: config.kind, url: config.url }, `${name} connection up`);
      else
        logger.warn(
          { backend: config.kind, url: config.url, detail: health.detail },
          `${name} connection lost; challenges answer 503 until it is back`,
        );
    },
  };
  switch (config.kind) {
    case 'cln':
      return ClnInvoicer.connect({ ...common, rune: secret });
    case 'lnbits':
      return LnbitsInvoicer.connect({ ...common, invoiceKey: secret });
    case 'phoenixd':
      return PhoenixdInvoicer.connect({ ...common, password: secret });
    case 'nwc': {
      const { url: _none, ...rest } = common;
      return NwcInvoicer.connect({ ...rest, uri: secret });
    }
  }
}

/**
 * Reads a credential or CA file, trimmed.
 * @internal
 * @throws L402Error `L402_ERR_LN_CREDENTIALS` when it is missing, unreadable or empty
 */
export function readText(path: string | undefined, what: string): string {
  if (path === undefined) throw new L402Error('L402_ERR_LN_CREDENTIALS', `no ${what} configured`);
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === '') throw new L402Error('L402_ERR_LN_CREDENTIALS', `${path} (the ${what}) is empty`);
    return text;
  } catch (cause) {
    if (cause instanceof L402Error) throw cause;
    throw new L402Error('L402_ERR_LN_CREDENTIALS', `cannot read the ${what} from ${path}: ${(cause as Error).message}`, { cause });
  }
}
