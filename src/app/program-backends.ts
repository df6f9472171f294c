/**
 * The program's store and Lightning backend, opened from its configuration.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { L402Error } from '../core/errors.js';
import type { Clock, Invoicer } from '../core/types.js';
import { DevInvoicer } from '../lightning/dev/dev-invoicer.js';
import { LndInvoicer } from '../lightning/lnd/lnd-invoicer.js';
import type { LightningNetwork } from '../lightning/network.js';
import { WavelengthInvoicer } from '../lightning/wavelength/wavelength-invoicer.js';
import type { StoreConfig } from '../store/open-store.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';
import { openHttpInvoicer } from './open-http-invoicer.js';

/**
 * What `openStore` opens for a configuration (`dbbackend`, `sqlite`, `postgres`).
 * @param config - the configuration
 * @param postgresSchema - PostgreSQL schema of every table; the server's `search_path` when undefined
 * @param clock - the store's clock
 * @returns the store settings
 * @throws L402Error `L402_ERR_CONFIG_INVALID` for `dbbackend: etcd`
 */
export function programStoreConfig(config: ApertureConfig, postgresSchema: string | undefined, clock: Clock): StoreConfig {
  if (config.dbBackend === 'postgres') {
    const p = config.postgres;
    const out: StoreConfig = {
      backend: 'postgres',
      host: p.host,
      port: p.port,
      user: p.user,
      password: p.password,
      dbname: p.dbName,
      requiressl: p.requireSsl,
      skipMigrations: p.skipMigrations,
      clock,
    };
    if (p.maxConnections > 0) out.maxconnections = p.maxConnections;
    if (postgresSchema !== undefined) out.schema = postgresSchema;
    return out;
  }
  if (config.dbBackend === 'etcd') {
    throw new L402Error('L402_ERR_CONFIG_INVALID', 'dbbackend etcd is not built; use sqlite or postgres');
  }
  return { backend: 'sqlite', path: config.sqlite.dbFile, skipMigrations: config.sqlite.skipMigrations, clock };
}

/**
 * Connects the configured Lightning backend: the dev backend (its key in
 * `<basedir>/dev-node.key`), a remote backend (open-http-invoicer.ts), a
 * Wavelength gateway, or lnd (`invoice.macaroon` from `macdir`).
 * @param config - the configuration
 * @param logger - connection changes (`CHLL`)
 * @param clock - invoice times
 * @returns the backend; undefined when `authenticator.disable`
 * @throws L402Error `L402_ERR_CONFIG_INVALID`, `L402_ERR_LN_CONNECT_FAILED`, `L402_ERR_LN_CREDENTIALS` (a Wavelength
 *   macaroon file that cannot be read or is not a macaroon)
 */
export async function openProgramInvoicer(config: ApertureConfig, logger: Logger, clock: Clock): Promise<Invoicer | undefined> {
  const a = config.authenticator;
  if (a.disable) return undefined;
  const network = a.network as LightningNetwork | undefined;
  if (a.backend === 'dev') {
    return new DevInvoicer({
      keyFile: join(config.baseDir, 'dev-node.key'),
      ...(network === undefined ? {} : { network: network as Exclude<LightningNetwork, 'mainnet'> }),
      clock,
      onWarning: (message) => logger.warn(message),
    });
  }
  if (a.http !== undefined) return openHttpInvoicer(a.http, logger, clock);
  if (a.wavelength !== undefined) {
    const { gateway, macaroonPath } = a.wavelength;
    logger.info(
      { backend: 'wavelength', gateway },
      'Wavelength gateway: invoices only; settlement is not tracked (the ledger keeps these challenges pending, strictverify is refused)',
    );
    return WavelengthInvoicer.connect({
      gateway,
      ...(macaroonPath === undefined ? {} : { macaroonPath }),
      clock,
      onHealthChange: (health) => {
        if (health.ok) logger.info({ backend: 'wavelength', gateway }, 'Wavelength gateway answering again');
        else
          logger.warn(
            { backend: 'wavelength', gateway, detail: health.detail },
            'Wavelength gateway failing; challenges answer 503 until it answers',
          );
      },
    });
  }
  if (a.lndHost === undefined || a.macDir === undefined || a.tlsPath === undefined) {
    throw new L402Error('L402_ERR_CONFIG_INVALID', 'authenticator: lndhost, tlspath and macdir are required for the lnd backend');
  }
  return LndInvoicer.connect({
    host: a.lndHost,
    tlsCertPath: a.tlsPath,
    // The reference reads the invoice macaroon by this file name from macdir.
    macaroonPath: join(a.macDir, 'invoice.macaroon'),
    ...(network === undefined ? {} : { network }),
    clock,
    onConnectionChange: (health) => {
      if (health.ok) logger.info({ lnd: a.lndHost }, 'lnd connection up');
      else logger.warn({ lnd: a.lndHost, detail: health.detail }, 'lnd connection lost; challenges answer 503 until it is back');
    },
  });
}
