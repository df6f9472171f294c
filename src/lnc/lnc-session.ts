/**
 * An LNC session as the program keeps it: the pairing phrase's row in the
 * store (created at first use with a new static key), the mailbox channel, the
 * dialler and the gRPC tunnel lnd's clients use. What a pairing learns is
 * written back at once, so that a restart reaches the node without the
 * (one-time) phrase: the node's static key (the next dial uses KK) and, when
 * the row has none yet, the expiry of the node's macaroon (the earliest
 * first-party `time-before` caveat), as the reference does.
 *
 * Past that expiry the node refuses the session: opening it then, or dialling
 * a new connection (a reconnect), fails with `L402_ERR_LNC_SESSION_EXPIRED`
 * telling the operator to pair again with a new phrase. The first such dial
 * closes the dialler and the mailbox channel, so that nothing is sent to the
 * mailbox again; later dials fail at once with the same error.
 *
 * As the reference, an existing row's mailbox and `devserver` win over the
 * configured ones (they belong to the pairing); a difference is reported.
 *
 * @internal Not exported from the package.
 */
import { randomBytes } from 'node:crypto';
import { L402Error } from '../core/errors.js';
import { parseMacaroonBinary } from '../core/macaroon-binary.js';
import type { LncSessionRecord, LncSessionStore } from './lnc-session-store.js';
import type { GbnOptions } from './gbn-connect.js';
import { LncDialer } from './lnc-dialer.js';
import { authDataToMetadata, LncGrpcTunnel, type LncDialResult } from './lnc-grpc-tunnel.js';
import { HashmailGrpcClient } from './mailbox-grpc-client.js';
import { pairingPhraseToEntropy } from './pairing-phrase.js';

/** The reference's default mailbox. */
export const DEFAULT_MAILBOX_ADDRESS = 'mailbox.terminal.lightning.today:443';

/** Options of {@link LncSession.open}. */
export interface LncSessionOptions {
  /** The ten-word pairing phrase. */
  passphrase: string;
  /** The mailbox, `host:port` (used for a new session). */
  mailboxAddress: string;
  /** Leave the mailbox's TLS certificate unverified (used for a new session). */
  devServer: boolean;
  /** Where the session is kept. */
  store: LncSessionStore;
  /** The current time, ms; `Date.now` by default. */
  now?: (() => number) | undefined;
  /** Told of a configured mailbox or devserver that the stored session overrides. */
  onWarning?: ((message: string) => void) | undefined;
  /** Told once when a dial finds the session expired (the connection is not dialled again). */
  onExpired?: ((error: L402Error) => void) | undefined;
  /** The wait before a failed mailbox stream is opened again, ms (2000). */
  retryWaitMs?: number | undefined;
  /** gbn settings over the client preset (tests shorten the keepalive). */
  gbn?: Partial<GbnOptions> | undefined;
}

/**
 * The expiry of a macaroon: its earliest first-party `time-before` caveat.
 * @param macaroon - the binary macaroon
 * @returns milliseconds since the epoch, or undefined when it has none
 * @throws L402Error `L402_ERR_MACAROON_*` for bytes that are not a macaroon,
 *   `L402_ERR_LNC_HANDSHAKE_FAILED` for a `time-before` that is not a time
 */
export function macaroonExpiry(macaroon: Uint8Array): number | undefined {
  const caveats = parseMacaroonBinary(macaroon, (_location, _id, list) => list);
  let earliest: number | undefined;
  for (const caveat of caveats) {
    if (caveat.verificationId !== undefined && caveat.verificationId.length > 0) continue;
    const text = Buffer.from(caveat.id).toString('utf8');
    if (!text.startsWith('time-before ')) continue;
    const at = Date.parse(text.slice('time-before '.length));
    if (Number.isNaN(at))
      throw new L402Error('L402_ERR_LNC_HANDSHAKE_FAILED', `the node's macaroon has a malformed caveat "${text.slice(0, 60)}"`);
    earliest = earliest === undefined ? at : Math.min(earliest, at);
  }
  return earliest;
}

/**
 * The error of a session past its expiry.
 * @param expiry - the expiry, ms since the epoch
 * @returns `L402_ERR_LNC_SESSION_EXPIRED` saying what to do
 */
export function lncSessionExpired(expiry: number): L402Error {
  return new L402Error(
    'L402_ERR_LNC_SESSION_EXPIRED',
    `the LNC session of this pairing phrase expired at ${new Date(expiry).toISOString()} (its macaroon's time-before): ` +
      'create a new LNC session on the node (litd) and set authenticator.passphrase to its new pairing phrase',
  );
}

/** An open session; see the module comment. */
export class LncSession {
  /** The row as stored (updated as the pairing completes). */
  readonly record: LncSessionRecord;
  /** The endpoint lnd's clients dial (`LndConnectionOptions.tunnel`). */
  readonly tunnel: LncGrpcTunnel;
  /** The dialler (its `patterns` tell XX from KK). */
  readonly dialer: LncDialer;
  readonly #mailbox: HashmailGrpcClient;

  private constructor(record: LncSessionRecord, tunnel: LncGrpcTunnel, dialer: LncDialer, mailbox: HashmailGrpcClient) {
    this.record = record;
    this.tunnel = tunnel;
    this.dialer = dialer;
    this.#mailbox = mailbox;
  }

  /**
   * Finds or creates the phrase's session and opens its tunnel (no connection is dialled yet).
   * @param options - the phrase, mailbox, store
   * @returns the session
   * @throws L402Error `L402_ERR_LNC_PHRASE_INVALID` for a phrase that is not ten known words,
   *   `L402_ERR_LNC_SESSION_EXPIRED` for a stored session past its expiry, the store's errors
   */
  static async open(options: LncSessionOptions): Promise<LncSession> {
    const entropy = pairingPhraseToEntropy(options.passphrase);
    const { store } = options;
    let record = await store.getLncSession(entropy);
    if (record === undefined) {
      const fresh: LncSessionRecord = {
        passphraseWords: options.passphrase,
        passphraseEntropy: entropy,
        remoteStaticPubKey: undefined,
        localStaticPrivKey: randomBytes(32),
        mailboxAddr: options.mailboxAddress,
        createdAt: (options.now ?? Date.now)(),
        expiry: undefined,
        devServer: options.devServer,
      };
      // Another instance may have stored it meanwhile: theirs is the one.
      if (!(await store.addLncSession(fresh))) record = await store.getLncSession(entropy);
      record ??= fresh;
    } else if (record.mailboxAddr !== options.mailboxAddress || record.devServer !== options.devServer) {
      options.onWarning?.(
        `the stored LNC session uses mailbox ${record.mailboxAddr}${record.devServer ? ' (devserver)' : ''}; ` +
          `the configured ${options.mailboxAddress}${options.devServer ? ' (devserver)' : ''} is not used for this pairing phrase`,
      );
    }
    const session = record;
    const now = options.now ?? Date.now;
    const isExpired = (): boolean => session.expiry !== undefined && now() >= session.expiry;
    if (isExpired()) throw lncSessionExpired(session.expiry as number);
    const mailbox = new HashmailGrpcClient({
      address: session.mailboxAddr,
      tls: session.devServer ? { mode: 'skip-verify' } : { mode: 'verify' },
      retryWaitMs: options.retryWaitMs,
    });
    const keys = { entropy, localStaticSecret: session.localStaticPrivKey, remoteStatic: session.remoteStaticPubKey };
    const dialer = new LncDialer({
      mailbox,
      keys,
      gbn: options.gbn,
      onRemoteStatic: async (key) => {
        await store.setLncRemoteKey(entropy, key);
        session.remoteStaticPubKey = key;
      },
    });
    let expired: L402Error | undefined;
    const expire = (): L402Error => {
      if (expired === undefined) {
        expired = lncSessionExpired(session.expiry as number);
        dialer.close();
        mailbox.close();
        options.onExpired?.(expired);
      }
      return expired;
    };
    const dial = async (): Promise<LncDialResult> => {
      if (expired !== undefined || isExpired()) throw expire();
      const result = await dialer.dial();
      if (session.expiry === undefined) {
        try {
          const expiry = macaroonExpiry(Buffer.from(authDataToMetadata(result.authData)['macaroon'] as string, 'hex'));
          if (expiry !== undefined) {
            await store.setLncExpiry(entropy, expiry);
            session.expiry = expiry;
          }
        } catch (error) {
          // As the reference: auth data that does not parse fails the connection.
          result.stream.destroy();
          throw error;
        }
      }
      // A macaroon already past its time-before (or a session that expired while dialling).
      if (isExpired()) {
        result.stream.destroy();
        throw expire();
      }
      return result;
    };
    let tunnel: LncGrpcTunnel;
    try {
      tunnel = await LncGrpcTunnel.open({ dial });
    } catch (error) {
      dialer.close();
      mailbox.close();
      throw error;
    }
    return new LncSession(session, tunnel, dialer, mailbox);
  }

  /** Closes the tunnel, the connections and the mailbox channel. */
  async close(): Promise<void> {
    this.dialer.close();
    await this.tunnel.close();
    this.#mailbox.close();
  }
}
