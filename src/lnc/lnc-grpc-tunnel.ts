/**
 * gRPC over Lightning Node Connect: a private local endpoint that a grpc-js
 * channel dials (target `unix:…` in a fresh 0700 directory), each connection to
 * it bridged to a newly dialled LNC connection (mailbox, go-back-N, Noise), as
 * the reference dials and handshakes once per gRPC connection. The node's auth
 * data (litd's `Macaroon: <hex>`) becomes the metadata of every call, known
 * before the first one goes out.
 *
 * Only public grpc-js API is involved: the channel is an ordinary insecure one
 * (the Noise stream is the encryption) to a socket nobody else may open.
 *
 * @internal Not exported from the package.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { L402Error } from '../core/errors.js';

/** How long one dial may take by default, ms. */
export const DIAL_TIMEOUT_MS = 10_000;

/** One dialled LNC connection: the Noise stream and the auth data of its handshake. */
export interface LncDialResult {
  stream: Duplex;
  authData: Uint8Array;
}

/** Options of {@link LncGrpcTunnel.open}. */
export interface LncGrpcTunnelOptions {
  /** Dials the mailbox, runs go-back-N and the Noise handshake. */
  dial: () => Promise<LncDialResult>;
  /**
   * How long one dial may take, ms; 10 000 by default (the reference's connection timeout).
   * A dial still running then fails with `L402_ERR_LNC_HANDSHAKE_TIMEOUT`; its connection,
   * should it come later, is closed.
   */
  dialTimeoutMs?: number | undefined;
  /** Told when a dial fails (the gRPC call over it fails UNAVAILABLE and the channel retries). */
  onDialError?: ((error: unknown) => void) | undefined;
}

/**
 * Reads handshake auth data as gRPC metadata, as the reference's client does:
 * lines separated by CRLF, each `name: value`. litd sends one line,
 * `Macaroon: <hex>`.
 * @param authData - the act-2 auth data
 * @returns the metadata, names in lower case
 * @throws L402Error `L402_ERR_LNC_HANDSHAKE_FAILED` for a line that is not `name: value`, or
 *   no hex `macaroon`
 */
export function authDataToMetadata(authData: Uint8Array): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const line of Buffer.from(authData).toString('utf8').split('\r\n')) {
    if (line === '') continue;
    const parts = line.split(': ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new L402Error('L402_ERR_LNC_HANDSHAKE_FAILED', `LNC auth data line ${JSON.stringify(line.slice(0, 40))} is not "name: value"`);
    }
    metadata[(parts[0] as string).toLowerCase()] = parts[1] as string;
  }
  if (!/^([0-9a-fA-F]{2})+$/.test(metadata['macaroon'] ?? '')) {
    throw new L402Error('L402_ERR_LNC_HANDSHAKE_FAILED', 'the LNC auth data carries no hex macaroon ("Macaroon: <hex>")');
  }
  return metadata;
}

/** The local endpoint; see the module comment. */
export class LncGrpcTunnel {
  readonly #options: LncGrpcTunnelOptions;
  readonly #dir: string;
  readonly #server: Server;
  readonly #path: string;
  readonly #open = new Set<{ socket: Socket; stream: Duplex | undefined }>();
  /** A connection dialled ahead of the channel's, for the first call's metadata. */
  #parked: Promise<LncDialResult> | undefined;
  #metadata: Record<string, string> | undefined;
  #closed = false;

  private constructor(options: LncGrpcTunnelOptions, dir: string, path: string) {
    this.#options = options;
    this.#dir = dir;
    this.#path = path;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /**
   * Opens the endpoint.
   * @param options - how to dial an LNC connection
   * @returns the tunnel, listening
   */
  static async open(options: LncGrpcTunnelOptions): Promise<LncGrpcTunnel> {
    // mkdtemp makes the directory 0700: no other user can reach the socket.
    const dir = await mkdtemp(join(tmpdir(), 'aperture-lnc-'));
    const tunnel = new LncGrpcTunnel(options, dir, join(dir, 'grpc.sock'));
    try {
      await new Promise<void>((resolve, reject) => {
        tunnel.#server.once('error', reject);
        tunnel.#server.listen(tunnel.#path, () => {
          tunnel.#server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return tunnel;
  }

  /** The gRPC target of the channel (`unix:<path>`). */
  get target(): string {
    return `unix:${this.#path}`;
  }

  /**
   * The metadata every call carries (the node's macaroon). Before the first
   * connection it dials one, kept for the channel's first connection.
   * @returns the metadata of the latest handshake
   * @throws what the dial failed with
   */
  async metadata(): Promise<Record<string, string>> {
    if (this.#metadata !== undefined) return this.#metadata;
    if (this.#closed) throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the LNC tunnel is closed');
    this.#parked ??= this.#dial();
    const parked = this.#parked;
    try {
      await parked;
    } catch (error) {
      if (this.#parked === parked) this.#parked = undefined;
      throw error;
    }
    return this.#metadata as unknown as Record<string, string>;
  }

  /** Closes the endpoint and every bridged connection; removes the directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const parked = this.#parked;
    this.#parked = undefined;
    parked?.then((result) => result.stream.destroy()).catch(() => {});
    for (const pair of this.#open) {
      pair.socket.destroy();
      pair.stream?.destroy();
    }
    this.#open.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #dial(): Promise<LncDialResult> {
    const timeoutMs = this.#options.dialTimeoutMs ?? DIAL_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const dialling = this.#options.dial();
    // A connection made after the timeout has nobody to use it.
    dialling.then(
      (late) => {
        if (timedOut) late.stream.destroy();
      },
      () => {},
    );
    const result = await Promise.race([
      dialling,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new L402Error('L402_ERR_LNC_HANDSHAKE_TIMEOUT', `no LNC connection within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    // A connection waiting to be bridged may fail meanwhile: noticed when bridged (it is destroyed by then).
    result.stream.on('error', () => {});
    try {
      this.#metadata = authDataToMetadata(result.authData);
    } catch (error) {
      result.stream.destroy();
      throw error;
    }
    return result;
  }

  #accept(socket: Socket): void {
    const pair: { socket: Socket; stream: Duplex | undefined } = { socket, stream: undefined };
    this.#open.add(pair);
    socket.on('error', () => {});
    socket.once('close', () => {
      this.#open.delete(pair);
      pair.stream?.destroy();
    });
    const pending = this.#parked ?? this.#dial();
    this.#parked = undefined;
    pending.then(
      ({ stream }) => {
        if (this.#closed || socket.destroyed || stream.destroyed) {
          stream.destroy();
          socket.destroy();
          return;
        }
        pair.stream = stream;
        stream.on('error', () => socket.destroy());
        stream.once('close', () => socket.destroy());
        socket.pipe(stream);
        stream.pipe(socket);
      },
      (error: unknown) => {
        this.#options.onDialError?.(error);
        socket.destroy();
      },
    );
  }
}
