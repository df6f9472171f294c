/**
 * The program's store and Lightning backend, opened from its configuration.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { L402Error } from '../core/errors.js';
import type { Clock, Invoicer, Payer } from '../core/types.js';
import { DevInvoicer } from '../lightning/dev/dev-invoicer.js';
import { LndInvoicer } from '../lightning/lnd/lnd-invoicer.js';
import { LndPayer } from '../lightning/lnd/lnd-payer.js';
import type { LightningNetwork } from '../lightning/network.js';
import { WavelengthInvoicer } from '../lightning/wavelength/wavelength-invoicer.js';
import type { StoreConfig } from '../store/open-store.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';
import { openHttpInvoicer } from './open-http-invoicer.js';
import { LncSession } from '../lnc/lnc-session.js';
import type { ApertureStore } from '../store/aperture-store.js';
import { lncSessionStoreOf } from '../store/lnc-session-store.js';

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
 * Wavelength gateway, or lnd (`invoice.macaroon` from `macdir`, or over
 * Lightning Node Connect with `passphrase`).
 * @param config - the configuration
 * @param logger - connection changes (`CHLL`)
 * @param clock - invoice times
 * @param lnc - what lnd over Lightning Node Connect needs (`authenticator.passphrase` without `lndhost`)
 * @returns the backend; undefined when `authenticator.disable`
 * @throws L402Error `L402_ERR_CONFIG_INVALID`, `L402_ERR_LN_CONNECT_FAILED`, `L402_ERR_LN_CREDENTIALS` (a Wavelength
 *   macaroon file that cannot be read or is not a macaroon)
 */
export async function openProgramInvoicer(
  config: ApertureConfig,
  logger: Logger,
  clock: Clock,
  lnc?: LncContext,
): Promise<Invoicer | undefined> {
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
  if (a.lndHost === undefined && a.passphrase !== undefined) return openLncInvoicer(config, logger, clock, lnc);
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

/** What lnd over Lightning Node Connect needs from the program. */
export interface LncContext {
  /** The program's store: the session is kept there (SQLite or PostgreSQL). */
  store: ApertureStore;
  /** Registers what to close at shutdown (the session, after the invoicer). */
  defer: (close: () => Promise<void>) => void;
  /**
   * Set by {@link openProgramInvoicer} with `enablesessions`: the `LndPayer` paying session refunds over
   * the same LNC connection as the invoicer (closed through `defer`).
   */
  refundPayer?: Payer | undefined;
}

/**
 * lnd through a Lightning Node Connect mailbox: the session found or created
 * in the store (the phrase pairs once; the node's key is kept), its tunnel
 * under an unchanged LndInvoicer and, with `enablesessions`, an LndPayer for
 * refunds on the same tunnel (they share its one gRPC channel, hence its one
 * LNC connection: a session carries one at a time).
 */
async function openLncInvoicer(config: ApertureConfig, logger: Logger, clock: Clock, lnc: LncContext | undefined): Promise<Invoicer> {
  const a = config.authenticator;
  const store = lnc === undefined ? undefined : lncSessionStoreOf(lnc.store);
  if (lnc === undefined || store === undefined) {
    throw new L402Error(
      'L402_ERR_CONFIG_INVALID',
      'Lightning Node Connect (authenticator.passphrase) needs the SQLite or PostgreSQL store: the pairing phrase works once, and the session it sets up must outlive a restart',
    );
  }
  const session = await LncSession.open({
    passphrase: a.passphrase as string,
    mailboxAddress: a.mailboxAddress,
    devServer: a.devServer,
    store,
    now: () => clock.now(),
    onWarning: (message) => logger.warn(message),
    onExpired: (error) => logger.error({ code: error.code }, `lnd over LNC stopped: ${error.message}`),
  });
  lnc.defer(() => session.close());
  const mailbox = session.record.mailboxAddr;
  logger.info(
    { mailbox, paired: session.record.remoteStaticPubKey !== undefined },
    session.record.remoteStaticPubKey === undefined ? 'lnd over LNC: pairing with the phrase' : 'lnd over LNC: the stored pairing is used',
  );
  const network = a.network as LightningNetwork | undefined;
  const invoicer = await LndInvoicer.connect({
    host: mailbox,
    tunnel: session.tunnel,
    ...(network === undefined ? {} : { network }),
    clock,
    onConnectionChange: (health) => {
      if (health.ok) logger.info({ lnc: mailbox }, 'lnd connection over LNC up');
      else logger.warn({ lnc: mailbox, detail: health.detail }, 'lnd connection over LNC lost; challenges answer 503 until it is back');
    },
  });
  if (a.enableMpp && a.enableSessions) {
    // Made after the invoicer, whose channel settings the shared channel keeps.
    const payer = new LndPayer({ host: mailbox, tunnel: session.tunnel });
    lnc.defer(() => payer.close());
    lnc.refundPayer = payer;
  }
  return invoicer;
}
