/**
 * Dialling a Lightning Node Connect connection, the client's side (aperture)
 * and the node's (litd's role, for tests and tools): the session's keys give
 * the session ID and its two hashmail streams, the mailbox connection carries
 * go-back-N (the LNC presets), and the Noise handshake runs over that (XX with
 * the pairing secret until both sides hold each other's static key, KK after).
 *
 * A dial that does not finish is aborted at its deadline (or when the dialler
 * closes), closing its gbn connection and mailbox streams: nothing is left
 * retrying in the background.
 *
 * @internal Not exported from the package.
 */
import { L402Error } from '../core/errors.js';
import { gbnAccept, gbnConnect, LNC_CLIENT_GBN_OPTIONS, LNC_SERVER_GBN_OPTIONS, type GbnOptions } from './gbn-connect.js';
import type { GbnConn } from './gbn-conn.js';
import type { LncDialResult } from './lnc-grpc-tunnel.js';
import type { HashmailGrpcClient } from './mailbox-grpc-client.js';
import type { MessageTransport } from './message-transport.js';
import { openNoiseStream, type NoiseConnection } from './noise-stream.js';
import { stretchPairingEntropy } from './pairing-phrase.js';
import { sessionId, sessionStreams } from './session-id.js';

/** The keys of a session, as stored. */
export interface LncSessionKeys {
  /** The 14-byte pairing entropy. */
  entropy: Uint8Array;
  /** Our 32-byte static secret key. */
  localStaticSecret: Uint8Array;
  /** The peer's 33-byte compressed static key, once paired. */
  remoteStatic?: Uint8Array | undefined;
}

/** Options of {@link LncDialer}. */
export interface LncDialerOptions {
  /** The mailbox channel. */
  mailbox: HashmailGrpcClient;
  /** The session's keys; `remoteStatic` is updated here when a pairing completes. */
  keys: LncSessionKeys;
  /** `client` (aperture: Noise initiator, reads the SID stream) or `node` (responder; creates the streams). */
  role?: 'client' | 'node' | undefined;
  /** Told the peer's static key once a handshake says to keep it (persist it before the next dial). */
  onRemoteStatic?: ((key: Buffer) => void | Promise<void>) | undefined;
  /** What the node side sends in act 2 (litd: `Macaroon: <hex>`). */
  authData?: Uint8Array | undefined;
  /** The longest a dial may take, ms (10 000 by default, the reference's connection timeout; Infinity: no limit). */
  dialTimeoutMs?: number | undefined;
  /** gbn settings over the LNC presets of the role (tests shorten the keepalive). */
  gbn?: Partial<GbnOptions> | undefined;
}

/**
 * A gbn connection as the Noise stream's message transport: its orderly end
 * (either side's close, the peer's FIN) rejects `recv` with
 * `L402_ERR_LNC_CONNECTION_CLOSED`; a failure keeps its own code.
 * @param conn - the connection
 * @returns the message transport; closing it closes the connection
 */
export function gbnMessageTransport(conn: GbnConn): MessageTransport {
  const translate = (error: unknown): never => {
    if (error instanceof L402Error && (error.code === 'L402_ERR_LNC_GBN_CLOSED' || error.code === 'L402_ERR_LNC_GBN_REMOTE_CLOSED')) {
      throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', error.message, { cause: error });
    }
    throw error;
  };
  return {
    send: (msg) => conn.send(msg).catch(translate),
    recv: () => conn.recv().catch(translate),
    close: () => void conn.close(),
  };
}

/** Dials LNC connections of one session; see the module comment. */
export class LncDialer {
  readonly #options: LncDialerOptions;
  readonly #abort = new AbortController();
  #secret: Promise<Buffer> | undefined;

  /** @param options - the mailbox, the keys, the role */
  constructor(options: LncDialerOptions) {
    this.#options = options;
  }

  /** The handshake patterns of the dials so far (XX, KK), in order. */
  readonly patterns: ('XX' | 'KK')[] = [];

  /**
   * Dials one connection: mailbox streams, go-back-N, Noise.
   * @returns the Noise stream and the handshake's auth data (what {@link LncGrpcTunnel} takes)
   * @throws L402Error `L402_ERR_LNC_HANDSHAKE_TIMEOUT` when the deadline passes, and what
   *   gbn and the handshake fail with (`L402_ERR_LNC_HANDSHAKE_FAILED` for a wrong phrase or stale key)
   */
  dial = async (): Promise<LncDialResult> => {
    const { stream, handshake } = await this.open();
    return { stream, authData: handshake.authData };
  };

  /**
   * As {@link LncDialer.dial}, returning the whole handshake result.
   * @returns the Noise connection
   */
  async open(): Promise<NoiseConnection> {
    const options = this.#options;
    const node = options.role === 'node';
    if (this.#abort.signal.aborted) throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the LNC dialler is closed');
    const timeoutMs = options.dialTimeoutMs ?? 10_000;
    // The node side may wait for its client without a deadline (Infinity).
    const deadline = Number.isFinite(timeoutMs) ? AbortSignal.timeout(timeoutMs) : new AbortController().signal;
    const signal = AbortSignal.any([deadline, this.#abort.signal]);
    const { keys } = options;
    const remoteStatic = keys.remoteStatic;
    const pattern = remoteStatic === undefined ? 'XX' : 'KK';
    this.patterns.push(pattern);
    const pairingSecret = pattern === 'XX' ? await (this.#secret ??= stretchPairingEntropy(keys.entropy)) : undefined;
    const ids = sessionStreams(sessionId({ entropy: keys.entropy, localSecret: keys.localStaticSecret, remoteStatic }));
    const transport = options.mailbox.transport(
      node
        ? { send: ids.clientReceive, receive: ids.clientSend, createStreams: true }
        : { send: ids.clientSend, receive: ids.clientReceive },
    );
    const gbnOptions: GbnOptions = { ...(node ? LNC_SERVER_GBN_OPTIONS : LNC_CLIENT_GBN_OPTIONS), ...options.gbn, signal };
    let conn: GbnConn;
    try {
      conn = await (node ? gbnAccept(transport, gbnOptions) : gbnConnect(transport, gbnOptions));
    } catch (error) {
      transport.close();
      throw deadline.aborted ? timedOut(timeoutMs, error) : error;
    }
    // The deadline covers the handshake too; once open, only the connection's own life counts.
    const messages = gbnMessageTransport(conn);
    const stop = (): void => messages.close();
    signal.addEventListener('abort', stop, { once: true });
    let noise: NoiseConnection;
    try {
      noise = await openNoiseStream(messages, {
        initiator: !node,
        localStaticSecret: keys.localStaticSecret,
        remoteStatic,
        pairingSecret,
        authData: options.authData,
      });
    } catch (error) {
      throw deadline.aborted ? timedOut(timeoutMs, error) : error;
    } finally {
      signal.removeEventListener('abort', stop);
    }
    // A close of the dialler still ends the connection.
    const closeOnStop = (): void => void noise.stream.destroy();
    this.#abort.signal.addEventListener('abort', closeOnStop, { once: true });
    noise.stream.once('close', () => this.#abort.signal.removeEventListener('abort', closeOnStop));
    if (noise.handshake.persistRemote && remoteStatic === undefined) {
      try {
        await options.onRemoteStatic?.(noise.handshake.remoteStatic);
      } catch (error) {
        noise.stream.destroy();
        throw error;
      }
      keys.remoteStatic = noise.handshake.remoteStatic;
    }
    return noise;
  }

  /** Aborts the dials under way and closes the connections made. Idempotent. */
  close(): void {
    this.#abort.abort(new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the LNC dialler is closed'));
  }
}

function timedOut(timeoutMs: number, cause: unknown): L402Error {
  return new L402Error('L402_ERR_LNC_HANDSHAKE_TIMEOUT', `no LNC connection within ${timeoutMs} ms`, { cause });
}
