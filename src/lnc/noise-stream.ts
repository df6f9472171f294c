/**
 * The encrypted byte stream of Lightning Node Connect over a message transport
 * (the go-back-N connection over the hashmail streams): the Noise handshake
 * first, each act one MsgData message, then a Node `Duplex` whose writes become
 * Noise transport messages of at most 32 KiB (one MsgData each, as the
 * reference's writer) and whose reads reassemble the bodies however the peer cut
 * the bytes into messages (the reference sends a header and its body apart).
 *
 * HTTP/2 (gRPC) runs over the `Duplex`.
 *
 * @internal Not exported from the package.
 */
import { Duplex } from 'node:stream';
import { L402Error } from '../core/errors.js';
import { decodeMsgData, encodeMsgData } from './framing.js';
import type { MessageTransport } from './message-transport.js';
import { NOISE_WRITE_CHUNK, NoiseHandshake, type NoiseHandshakeOptions, type NoiseHandshakeResult, type NoiseTransport } from './noise.js';

/** How long the handshake waits for each of the peer's acts, ms (the reference's `handshakeReadTimeout`). */
export const HANDSHAKE_ACT_TIMEOUT_MS = 5000;

/** Options of {@link openNoiseStream}: those of the handshake, less the pattern, which follows from `remoteStatic`. */
export interface NoiseStreamOptions extends Omit<NoiseHandshakeOptions, 'pattern'> {
  /**
   * The peer's static key: KK when given (a paired session), XX with the
   * pairing secret otherwise.
   */
  remoteStatic?: Uint8Array | undefined;
  /** How long to wait for each of the peer's acts, ms; 5000 by default. */
  handshakeTimeoutMs?: number | undefined;
}

/** An open Noise stream and what its handshake established. */
export interface NoiseConnection {
  /** The encrypted byte stream. */
  stream: NoiseStream;
  /** The version, the peer's static key, whether to persist it, the auth data received. */
  handshake: NoiseHandshakeResult;
}

function isClosed(error: unknown): boolean {
  return error instanceof L402Error && error.code === 'L402_ERR_LNC_CONNECTION_CLOSED';
}

/**
 * Runs the Noise handshake over a message transport and opens the encrypted stream.
 * On any failure the transport is closed.
 * @param transport - the reliable message transport to the peer
 * @param options - the role (`initiator`: aperture; the node side responds), keys, versions, auth data
 * @returns the stream and the handshake's result
 * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` (a wrong pairing phrase, a stale key, garbled acts),
 *   `L402_ERR_LNC_VERSION_UNSUPPORTED`, `L402_ERR_LNC_MESSAGE_TOO_LARGE`, `L402_ERR_LNC_KEY_INVALID`,
 *   `L402_ERR_LNC_PACKET_MALFORMED` (an act that is not a MsgData), `L402_ERR_LNC_HANDSHAKE_TIMEOUT`
 *   (no act within the timeout), `L402_ERR_LNC_CONNECTION_CLOSED` (the transport closed meanwhile)
 */
export async function openNoiseStream(transport: MessageTransport, options: NoiseStreamOptions): Promise<NoiseConnection> {
  const timeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_ACT_TIMEOUT_MS;
  try {
    const handshake = new NoiseHandshake({ ...options, pattern: options.remoteStatic === undefined ? 'XX' : 'KK' });
    let act = 0;
    for (;;) {
      const step = handshake.nextStep();
      if (step === 'done') break;
      act++;
      if (step === 'write') await transport.send(encodeMsgData(handshake.writeAct()));
      else handshake.readAct(decodeMsgData(await recvWithin(transport, timeoutMs, act)).payload);
    }
    return { stream: new NoiseStream(transport, handshake.split()), handshake: handshake.result() };
  } catch (error) {
    transport.close();
    if (error instanceof L402Error) {
      if (isClosed(error)) {
        throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', `the LNC connection closed during the Noise handshake: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    throw new L402Error(
      'L402_ERR_LNC_HANDSHAKE_FAILED',
      `LNC handshake failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function recvWithin(transport: MessageTransport, timeoutMs: number, act: number): Promise<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new L402Error('L402_ERR_LNC_HANDSHAKE_TIMEOUT', `no LNC handshake act ${act} from the peer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([transport.recv(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The encrypted byte stream after the handshake, as a `Duplex`.
 *
 * - Writes are cut into bodies of at most 32 KiB, each one Noise message in one
 *   MsgData; a write completes when the transport took its messages, so a full
 *   go-back-N window holds the writer back.
 * - Reads stop asking the transport for messages while the readable buffer is
 *   full.
 * - The peer's orderly close ends the readable side (and, no half-close
 *   existing in LNC, the stream); a close in the middle of a message, a message
 *   that does not authenticate or a failed transport destroys the stream with
 *   the coded error. Destroying the stream closes the transport.
 */
export class NoiseStream extends Duplex {
  readonly #transport: MessageTransport;
  readonly #noise: NoiseTransport;
  #pumping = false;
  #wanted = false;

  /** @internal Made by {@link openNoiseStream}. */
  constructor(transport: MessageTransport, noise: NoiseTransport) {
    super({ allowHalfOpen: false });
    this.#transport = transport;
    this.#noise = noise;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#send(chunks.length === 1 ? (chunks[0] as { chunk: Buffer }).chunk : Buffer.concat(chunks.map((c) => c.chunk))).then(
      () => callback(),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    // LNC has no half-close: the transport closes when the stream is destroyed.
    callback();
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#pumping) void this.#pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#transport.close();
    callback(error);
  }

  async #send(data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; offset += NOISE_WRITE_CHUNK) {
      if (this.destroyed) throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the LNC stream is closed');
      const message = this.#noise.encrypt(data.subarray(offset, offset + NOISE_WRITE_CHUNK));
      try {
        await this.#transport.send(encodeMsgData(message));
      } catch (error) {
        throw isClosed(error) || error instanceof L402Error
          ? error
          : new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', `the LNC connection failed: ${String(error)}`, { cause: error });
      }
    }
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#wanted && !this.destroyed) {
        let message: Uint8Array;
        try {
          message = await this.#transport.recv();
        } catch (error) {
          this.#ended(error);
          return;
        }
        if (this.destroyed) return;
        for (const body of this.#noise.feed(decodeMsgData(message).payload)) {
          if (body.length > 0 && !this.push(body)) this.#wanted = false;
        }
      }
    } catch (error) {
      this.destroy(error as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #ended(error: unknown): void {
    if (this.destroyed) return;
    if (!isClosed(error)) {
      this.destroy(
        error instanceof L402Error
          ? error
          : new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', `the LNC connection failed: ${String(error)}`, { cause: error }),
      );
    } else if (this.#noise.midMessage) {
      this.destroy(new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the LNC connection closed in the middle of an encrypted message'));
    } else {
      this.push(null);
    }
  }
}
