/**
 * The mailbox client connection of Lightning Node Connect over gRPC: the two
 * simplex hashmail streams of a session (`RecvStream` on the stream this side
 * reads, `SendStream` on the one it writes) to a hashmail server, as a gbn
 * transport (one mailbox message is one gbn packet).
 *
 * As the reference's client and node side:
 *
 * - each stream is opened when first needed; a stream that fails (`stream not
 *   found` while the peer has not created it yet, `stream occupied` while an
 *   older connection still holds the slot, the mailbox restarting) is opened
 *   again after the retry wait (2 s), for as long as the transport is open;
 *   packets lost meanwhile are go-back-N's to resend;
 * - the node side (`createStreams`) creates both streams with `NewCipherBox`
 *   before opening them, an existing stream (`AlreadyExists`) being fine,
 *   and creates them again after a failure (a restarted mailbox forgot them).
 *
 * One gRPC channel ({@link HashmailGrpcClient}) serves every connection of a
 * session; each connection ({@link HashmailGrpcClient.transport}) opens streams
 * of its own and ends them when closed.
 *
 * @internal Not exported from the package.
 */
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import { L402Error } from '../core/errors.js';
import { requireOptional } from '../core/optional-dependency.js';
import type { GbnTransport } from './gbn-transport.js';
import { decodeCipherBox, encodeCipherBox, encodeCipherBoxAuth, encodeCipherBoxDesc, HASHMAIL_GRPC_PREFIX } from './hashmail-proto.js';

/** How long a failed stream waits before it is opened again, ms (the reference's `retryWait`). */
export const MAILBOX_RETRY_WAIT_MS = 2000;

/** The largest mailbox message accepted, bytes (the hashmail server's own limit, plus the envelope). */
const MAX_RECEIVE_BYTES = 4 * 1024 * 1024 + 256;

/** Packets read ahead of gbn before the receive stream is paused. */
const RECEIVE_QUEUE = 64;

/** How the mailbox is reached. */
export type MailboxTls =
  /** TLS, the server's certificate verified (against `ca` when given, else the system's roots). */
  | { mode: 'verify'; ca?: Buffer | undefined }
  /** TLS without verifying the certificate (the reference's `devserver`). */
  | { mode: 'skip-verify' }
  /** Plain HTTP/2 (h2c), for a mailbox on an insecure listener (tests). */
  | { mode: 'plaintext' };

/** Options of {@link HashmailGrpcClient}. */
export interface HashmailGrpcClientOptions {
  /** The mailbox, `host:port`. */
  address: string;
  /** How to secure the channel. */
  tls: MailboxTls;
  /** The wait before a failed stream is opened again, ms; 2000 by default. */
  retryWaitMs?: number | undefined;
}

/** The streams of one connection, from this side. */
export interface MailboxStreams {
  /** The stream this side writes. */
  send: Uint8Array;
  /** The stream this side reads. */
  receive: Uint8Array;
  /** Create both streams first (the node side does; the client never does). */
  createStreams?: boolean | undefined;
}

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;
interface HashMailStub extends grpc.Client {
  NewCipherBox(request: Buffer, options: grpc.CallOptions, callback: Callback<Buffer>): grpc.ClientUnaryCall;
  SendStream(callback: Callback<Buffer>): grpc.ClientWritableStream<Buffer>;
  RecvStream(request: Buffer): grpc.ClientReadableStream<Buffer>;
}

const identity = (bytes: Buffer): Buffer => bytes;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `${HASHMAIL_GRPC_PREFIX}${name}`,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

/** gRPC's ALREADY_EXISTS: a `NewCipherBox` for a stream that exists. */
const ALREADY_EXISTS = 6;

/** A gRPC channel to a hashmail server. */
export class HashmailGrpcClient {
  readonly #stub: HashMailStub;
  readonly #retryWaitMs: number;
  readonly #transports = new Set<MailboxGrpcTransport>();
  #closed = false;

  /**
   * @param options - the mailbox and how to reach it
   * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` when `@grpc/grpc-js` is not installed
   */
  constructor(options: HashmailGrpcClientOptions) {
    const [grpcJs] = requireOptional(createRequire(import.meta.url), 'the LNC mailbox client', ['@grpc/grpc-js']) as [typeof grpc];
    const { tls } = options;
    const credentials =
      tls.mode === 'plaintext'
        ? grpcJs.credentials.createInsecure()
        : tls.mode === 'skip-verify'
          ? grpcJs.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined })
          : grpcJs.credentials.createSsl(tls.ca ?? null);
    const Stub = grpcJs.makeGenericClientConstructor(
      {
        NewCipherBox: method('NewCipherBox', false, false),
        SendStream: method('SendStream', true, false),
        RecvStream: method('RecvStream', false, true),
      },
      'HashMail',
    );
    // No gRPC keepalive: gbn pings through the streams every few seconds, and grpc-go
    // servers (the reference's mailbox) answer pings more often than every 5 minutes with GOAWAY.
    this.#stub = new Stub(options.address, credentials, {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    }) as unknown as HashMailStub;
    this.#retryWaitMs = options.retryWaitMs ?? MAILBOX_RETRY_WAIT_MS;
  }

  /**
   * A connection over two streams of the mailbox, as a gbn transport.
   * @param streams - the stream IDs, and whether this side creates them
   * @returns the transport; its streams open when first used
   * @throws L402Error `L402_ERR_LNC_CONNECTION_CLOSED` once the client is closed
   */
  transport(streams: MailboxStreams): MailboxGrpcTransport {
    if (this.#closed) throw new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the mailbox client is closed');
    const transport = new MailboxGrpcTransport(this.#stub, streams, this.#retryWaitMs, () => this.#transports.delete(transport));
    this.#transports.add(transport);
    return transport;
  }

  /** How many connections are open (not yet closed). */
  get openTransports(): number {
    return this.#transports.size;
  }

  /** Closes every connection and the channel. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const transport of [...this.#transports]) transport.close();
    this.#stub.close();
  }
}

interface Waiter {
  resolve: (packet: Buffer) => void;
  reject: (error: unknown) => void;
}

const closedError = (): L402Error => new L402Error('L402_ERR_LNC_CONNECTION_CLOSED', 'the mailbox connection is closed');

/** One connection's two streams; see the module comment. */
export class MailboxGrpcTransport implements GbnTransport {
  readonly #stub: HashMailStub;
  readonly #streams: MailboxStreams;
  readonly #retryWaitMs: number;
  readonly #onClose: () => void;
  readonly #abort = new AbortController();
  #closed = false;
  /** The streams created (node side), forgotten after a failure. */
  #created: Promise<void> | undefined;

  #recvCall: grpc.ClientReadableStream<Buffer> | undefined;
  #recvRetry: NodeJS.Timeout | undefined;
  readonly #inbound: Buffer[] = [];
  readonly #waiters: Waiter[] = [];

  #sendCall: grpc.ClientWritableStream<Buffer> | undefined;
  /** Settles when the current send call ends. */
  #sendEnded: Promise<void> = Promise.resolve();
  /** When the send stream may be opened again after a failure (ms since the epoch). */
  #sendRetryAt = 0;
  #sendChain: Promise<void> = Promise.resolve();

  /** How many times a stream failed (to observe the retries). */
  failures = 0;

  constructor(stub: HashMailStub, streams: MailboxStreams, retryWaitMs: number, onClose: () => void) {
    this.#stub = stub;
    this.#streams = streams;
    this.#retryWaitMs = retryWaitMs;
    this.#onClose = onClose;
  }

  receive(signal: AbortSignal): Promise<Uint8Array> {
    const packet = this.#inbound.shift();
    if (packet !== undefined) {
      if (this.#inbound.length < RECEIVE_QUEUE / 2) this.#recvCall?.resume();
      return Promise.resolve(packet);
    }
    if (this.#closed) return Promise.reject(closedError());
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#recvCall === undefined && this.#recvRetry === undefined) this.#openReceive();
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve: (p) => {
          signal.removeEventListener('abort', onAbort);
          resolve(p);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  send(packet: Uint8Array, signal: AbortSignal): Promise<void> {
    // Packets leave in call order: each send waits for the one before.
    const sent = this.#sendChain.then(() => this.#sendOne(Buffer.from(packet), signal));
    this.#sendChain = sent.catch(() => undefined);
    return sent;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(closedError());
    clearTimeout(this.#recvRetry);
    this.#recvCall?.cancel();
    this.#recvCall = undefined;
    this.#sendCall?.end();
    this.#sendCall = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closedError());
    this.#inbound.length = 0;
    this.#onClose();
  }

  /** Creates both streams once per failure (node side); resolves when done or closed. */
  #ensureCreated(): Promise<void> {
    if (this.#streams.createStreams !== true) return Promise.resolve();
    this.#created ??= Promise.all([this.#create(this.#streams.receive), this.#create(this.#streams.send)]).then(() => undefined);
    return this.#created;
  }

  async #create(streamId: Uint8Array): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const error = await new Promise<grpc.ServiceError | null>((resolve) => {
        this.#stub.NewCipherBox(encodeCipherBoxAuth(streamId), {}, (e) => resolve(e));
      });
      if (error === null || error.code === ALREADY_EXISTS) return;
      this.failures++;
      await this.#wait(this.#retryWaitMs);
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#abort.signal.aborted || ms <= 0) return resolve();
      const signal = this.#abort.signal;
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }

  #openReceive(): void {
    void this.#ensureCreated().then(() => {
      if (this.#closed || this.#recvCall !== undefined) return;
      const call = this.#stub.RecvStream(encodeCipherBoxDesc(this.#streams.receive));
      this.#recvCall = call;
      call.on('data', (bytes: Buffer) => {
        let msg: Buffer;
        try {
          msg = Buffer.from(decodeCipherBox(bytes).msg);
        } catch {
          // Not a CipherBox: nothing gbn could use (it would refuse the packet anyway).
          return;
        }
        const waiter = this.#waiters.shift();
        if (waiter !== undefined) waiter.resolve(msg);
        else {
          this.#inbound.push(msg);
          if (this.#inbound.length >= RECEIVE_QUEUE) call.pause();
        }
      });
      // The end of the call, an error or not: open it again after the retry wait.
      const ended = (): void => {
        if (this.#recvCall !== call) return;
        this.#recvCall = undefined;
        this.#failed();
        if (this.#closed) return;
        this.#recvRetry = setTimeout(() => {
          this.#recvRetry = undefined;
          if (!this.#closed) this.#openReceive();
        }, this.#retryWaitMs);
      };
      call.on('error', ended);
      call.on('end', ended);
    });
  }

  #failed(): void {
    this.failures++;
    this.#created = undefined;
  }

  async #sendOne(packet: Buffer, signal: AbortSignal): Promise<void> {
    if (this.#closed) throw closedError();
    if (signal.aborted) throw signal.reason;
    if (this.#sendCall === undefined) {
      await this.#wait(this.#sendRetryAt - Date.now());
      await this.#ensureCreated();
      if (this.#closed) throw closedError();
      if (this.#sendCall === undefined) this.#openSend();
    }
    const call = this.#sendCall as grpc.ClientWritableStream<Buffer>;
    const ended = this.#sendEnded;
    const room = call.write(encodeCipherBox(this.#streams.send, packet));
    if (room) return;
    // A full HTTP/2 window: the mailbox pushes back (its queue is full).
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        call.off('drain', drained);
        signal.removeEventListener('abort', aborted);
        if (error === undefined) resolve();
        else reject(error);
      };
      const drained = (): void => done();
      const aborted = (): void => done(signal.reason);
      call.once('drain', drained);
      void ended.then(() => done());
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  #openSend(): void {
    let end = (): void => {};
    this.#sendEnded = new Promise<void>((resolve) => (end = resolve));
    const call = this.#stub.SendStream(() => {
      end();
      // The mailbox ended the call (`stream not found`, `stream occupied`, its shutdown):
      // the next packet opens a new one after the retry wait.
      if (this.#sendCall !== call) return;
      this.#sendCall = undefined;
      this.#sendRetryAt = Date.now() + this.#retryWaitMs;
      this.#failed();
    });
    this.#sendCall = call;
  }
}
