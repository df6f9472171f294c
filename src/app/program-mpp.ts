/**
 * The Payment scheme (MPP) of the `aperture` program: its HMAC secret kept in
 * the database (shared by every instance, and the Go aperture's when its
 * database is adopted), the refund payer, and the timers that sweep idle
 * sessions, retry failed refunds and prune spent charges.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { L402Error } from '../core/errors.js';
import type { Clock, Invoicer, Payer } from '../core/types.js';
import { decodeInvoice } from '../lightning/decode-invoice.js';
import { DevInvoicer } from '../lightning/dev/dev-invoicer.js';
import { DevPayer } from '../lightning/dev/dev-payer.js';
import { LndInvoicer } from '../lightning/lnd/lnd-invoicer.js';
import { LndPayer } from '../lightning/lnd/lnd-payer.js';
import { MppScheme, type MppRefundReport } from '../mpp/mpp-scheme.js';
import { refundPayerKeys } from '../proxy/config/http-backend-config.js';
import { openHttpRefundPayer } from './open-http-payer.js';
import type { ApertureStore } from '../store/aperture-store.js';
import { GO_MPP_HMAC_KEY_HASH } from '../store/go-aperture-schema.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';

/** How often spent charges whose challenge expired are deleted: 15 min. */
export const MPP_PRUNE_INTERVAL_MS = 15 * 60 * 1000;
/** How often refunds that failed are tried again: 1 min. */
export const MPP_REFUND_RETRY_INTERVAL_MS = 60 * 1000;

/** Options of {@link openProgramMpp}. */
export interface ProgramMppOptions {
  /** Time of challenges, sessions and charges. */
  clock: Clock;
  /** Sweeps, refunds and their failures (`AUTH`). */
  log: Logger;
  /** Pays session refunds instead of the configured payer (embedding, tests). Not closed. */
  refundPayer?: Payer | undefined;
  /**
   * How often idle sessions are looked for; default a quarter of
   * `sessionidletimeout`, between 1 s and 1 min. 0 = never (tests call {@link MppScheme.sweepIdleSessions}).
   */
  sweepIntervalMs?: number | undefined;
}

/** The running Payment scheme of the program. */
export interface ProgramMpp {
  /** The scheme. */
  readonly scheme: MppScheme;
  /** Stops the timers, waits for a sweep under way, closes the payer it opened. */
  close(): Promise<void>;
}

/**
 * The HMAC secret of Payment challenges, from the database: the row under
 * `GO_MPP_HMAC_KEY_HASH` (the Go aperture's `secrets` row when its database is
 * adopted: one secret for both programs), created when there is none. The
 * creation is an insert that does nothing when a row exists, then a read, so
 * that instances starting together on an empty database all get the one row
 * the database kept.
 * @param store - the program's store
 * @returns the 32-byte secret
 * @throws L402Error `L402_ERR_STORE_UNAVAILABLE` when the store cannot answer
 */
export async function mppSecret(store: Pick<ApertureStore, 'getSecret' | 'newSecretIfAbsent'>): Promise<Uint8Array> {
  const key = Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex');
  return (await store.getSecret(key)) ?? store.newSecretIfAbsent(key);
}

/** The network Payment challenges name, and return invoices must be on. */
function networkOf(config: ApertureConfig, invoicer: Invoicer): string {
  if (config.authenticator.network !== undefined) return config.authenticator.network;
  if (invoicer instanceof DevInvoicer) return invoicer.network;
  if (invoicer instanceof LndInvoicer && invoicer.info.network !== undefined) return invoicer.info.network;
  return 'mainnet';
}

/**
 * Builds the program's {@link MppScheme} when `authenticator.enablempp` is on
 * (and payments are not disabled): charges in the store, sessions (with
 * `enablesessions`) in the store with refunds paid by `refundPayer`, else the
 * dev backend itself, else lnd through `paymacaroonpath`, else the remote backend's
 * paying credential (`clnpayrune`, `phoenixdpaypassword`, `nwcpayuri`). Challenges
 * the Go aperture issued are accepted too with `acceptgochallenges`, by default
 * when the database was adopted from it.
 * @param config - the configuration
 * @param store - the program's store (secret, charges, sessions)
 * @param invoicer - the Lightning backend
 * @param options - clock, log, payer, sweep interval
 * @returns the scheme and its timers, or `undefined` when MPP is off
 * @throws L402Error `L402_ERR_CONFIG_INVALID` when sessions are on and no refund payer can be made;
 *   `L402_ERR_STORE_UNAVAILABLE`
 */
export async function openProgramMpp(
  config: ApertureConfig,
  store: ApertureStore,
  invoicer: Invoicer | undefined,
  options: ProgramMppOptions,
): Promise<ProgramMpp | undefined> {
  const a = config.authenticator;
  if (!a.enableMpp || a.disable || invoicer === undefined) return undefined;
  const { clock, log } = options;
  const closers: (() => Promise<void>)[] = [];
  let payer: Payer | undefined;
  if (a.enableSessions) {
    payer = options.refundPayer;
    if (payer === undefined && invoicer instanceof DevInvoicer) payer = new DevPayer(invoicer);
    if (
      payer === undefined &&
      a.backend === 'lnd' &&
      a.lndHost !== undefined &&
      a.tlsPath !== undefined &&
      a.payMacaroonPath !== undefined
    ) {
      const lnd = new LndPayer({ host: a.lndHost, tlsCertPath: a.tlsPath, macaroonPath: a.payMacaroonPath });
      closers.push(() => lnd.close());
      payer = lnd;
    }
    if (payer === undefined && a.http !== undefined) {
      const remote = openHttpRefundPayer(a.http);
      if (remote !== undefined) {
        closers.push(() => remote.close());
        payer = remote;
      }
    }
    if (payer === undefined) {
      const keys = a.http === undefined ? undefined : refundPayerKeys(a.http.kind);
      throw new L402Error(
        'L402_ERR_CONFIG_INVALID',
        a.http === undefined
          ? `authenticator.enablesessions: no payer for session refunds; set authenticator.paymacaroonpath (e.g. ${join(a.macDir ?? '~/.lnd', 'admin.macaroon')})`
          : keys === undefined
            ? `authenticator.enablesessions: backend ${a.http.kind} cannot pay session refunds (amountless invoices)`
            : `authenticator.enablesessions: no payer for session refunds; set authenticator.${keys.secret} or ${keys.secretFile}`,
      );
    }
  }
  // On by default where Go-issued challenges can exist: a database adopted from the Go aperture.
  const acceptGoChallenges = a.acceptGoChallenges ?? store.goAperture !== undefined;
  const scheme = new MppScheme({
    realm: a.mppRealm,
    acceptGoChallenges,
    goChargeConsumed: (paymentHash) => store.goChargeConsumed(paymentHash),
    secret: await mppSecret(store),
    invoicer,
    network: networkOf(config, invoicer),
    charges: store,
    ...(payer === undefined
      ? {}
      : {
          sessions: {
            store,
            payer,
            // The Go aperture's open sessions, carried over on first use under the same switch as its challenges.
            ...(acceptGoChallenges
              ? {
                  importGoSession: (id: string) => store.importGoSession(id),
                  goCreditOwner: (paymentHash: string) => store.goCreditOwner(paymentHash),
                }
              : {}),
            decodeInvoice,
            depositMultiplier: a.sessionDepositMultiplier,
            idleTimeoutSeconds: a.sessionIdleTimeoutSeconds,
          },
        }),
    clock,
  });

  const timers: NodeJS.Timeout[] = [];
  let running: Promise<void> = Promise.resolve();
  /** One job at a time, each failure logged; a job never overlaps the next tick of another. */
  const every = (ms: number, what: string, job: () => Promise<unknown>): void => {
    if (ms <= 0) return;
    const timer = setInterval(() => {
      running = running.then(job).then(
        (result) => log.debug({ job: what, result }, 'mpp housekeeping'),
        (error: unknown) =>
          log.warn(
            {
              job: what,
              code: error instanceof L402Error ? error.code : undefined,
              err: error instanceof Error ? error.message : String(error),
            },
            `mpp ${what} failed`,
          ),
      );
    }, ms);
    timer.unref();
    timers.push(timer);
  };
  every(MPP_PRUNE_INTERVAL_MS, 'prune charges', () => scheme.pruneCharges());
  /** A refund given up is the operator's to settle with the client: said once, at warn. */
  const warnAbandoned = (refund: MppRefundReport): void =>
    log.warn(
      { session: refund.sessionId, sats: refund.sats, err: refund.error },
      'refund given up (abandoned): the balance stays with the server',
    );
  if (payer !== undefined) {
    const idleMs = a.sessionIdleTimeoutSeconds * 1000;
    const sweepMs = options.sweepIntervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(idleMs / 4)));
    every(sweepMs, 'sweep idle sessions', async () => {
      const swept = await scheme.sweepIdleSessions();
      for (const refund of swept.refunds) {
        if (refund.status === 'failed')
          log.warn({ session: refund.sessionId, sats: refund.sats, err: refund.error }, 'refund of an idle session failed; it is retried');
        else if (refund.status === 'abandoned') warnAbandoned(refund);
      }
      return { closed: swept.closed };
    });
    every(MPP_REFUND_RETRY_INTERVAL_MS, 'retry refunds', async () => {
      const retried = await scheme.retryRefunds();
      for (const refund of retried.refunds) if (refund.status === 'abandoned') warnAbandoned(refund);
      return { attempted: retried.refunds.length, failed: retried.refunds.filter((r) => r.status === 'failed').length };
    });
  }
  log.info({ realm: scheme.realm, network: scheme.network, intents: scheme.intents, acceptGoChallenges }, 'Payment scheme (MPP) enabled');
  return {
    scheme,
    close: async () => {
      for (const timer of timers.splice(0)) clearInterval(timer);
      await running;
      for (const close of closers.splice(0)) await close();
    },
  };
}
