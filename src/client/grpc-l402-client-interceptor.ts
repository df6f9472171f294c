/**
 * A @grpc/grpc-js client interceptor that pays L402 challenges. Kept apart from
 * the rest of the client (its own entry, `aperture-ts/client/grpc`) so that
 * users of `fetch` or undici never load grpc-js.
 *
 * A challenge is gRPC status 13 (`Internal`, message `payment required`, or
 * `payment required (<code>)` when the server refused the token sent) with
 * the `WWW-Authenticate` values in the trailing metadata. The interceptor pays
 * it and retries the call with `authorization` metadata. The request messages
 * are kept until the first response message arrives, so unary, server-,
 * client- and bidi-streaming calls can all be retried as long as nothing was
 * received yet; after that a challenge is handed to the caller as is.
 */
import {
  Metadata,
  status as Status,
  type InterceptingCall,
  type Interceptor,
  type InterceptorOptions,
  type NextCall,
  InterceptingCall as GrpcInterceptingCall,
} from '@grpc/grpc-js';
import { L402Error } from '../core/errors.js';
import { L402Client, type L402Call, type L402ClientOptions } from './l402-client.js';

type CallLike = ReturnType<NextCall>;
type Listener = NonNullable<Parameters<CallLike['start']>[1]>;
type MessageContext = Parameters<CallLike['sendMessageWithContext']>[0];
type StatusObject = Parameters<NonNullable<Listener['onReceiveStatus']>>[0];

/** Options of {@link grpcL402ClientInterceptor}: the client's, plus the origin tokens are stored under. */
export interface GrpcL402ClientInterceptorOptions extends L402ClientOptions {
  /**
   * Names the server in the token store and in errors, e.g. `grpc://localhost:10009`;
   * `grpc://default` when absent. One interceptor per server keeps tokens apart.
   */
  origin?: string;
}

function metadataRecord(metadata: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata.toJSON())) {
    out[name] = value.map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString('base64'))).join(', ');
  }
  return out;
}

interface OutgoingMessage {
  context: MessageContext;
  message: unknown;
  /** Whether the caller's write callback has been called (exactly once, on the first successful write). */
  acknowledged: boolean;
}

/** One logical gRPC call, possibly made of two attempts (before and after paying). */
class L402GrpcCall implements CallLike {
  readonly #options: InterceptorOptions;
  readonly #nextCall: NextCall;
  readonly #begin: Promise<L402Call>;
  #attempt: CallLike | undefined;
  #listener: Listener = {};
  #metadata = new Metadata();
  /**
   * Outgoing messages. grpc-js lower layers take one message at a time (the
   * next only after the previous one's write callback), so they are pumped in
   * order; sent ones are kept for a retry until the first response message
   * arrives (`#keep`), then dropped once written.
   */
  #queue: OutgoingMessage[] = [];
  /** Index in `#queue` of the next message to hand to the current attempt. */
  #cursor = 0;
  #writing = false;
  #keep = true;
  #halfClosed = false;
  #halfClosedAttempt: CallLike | undefined;
  #readStarted = false;
  #done = false;
  /** The client call of the current attempt, told the final outcome. */
  #call: L402Call | undefined;
  /** Response headers of the current attempt. */
  #initial: Metadata | undefined;

  constructor(options: InterceptorOptions, nextCall: NextCall, begin: Promise<L402Call>) {
    this.#options = options;
    this.#nextCall = nextCall;
    this.#begin = begin;
  }

  start(metadata: Metadata, listener?: Partial<Listener>): void {
    this.#metadata = metadata;
    this.#listener = listener ?? {};
    this.#begin.then(
      (call) => {
        if (!this.#done) this.#startAttempt(call);
      },
      (error: unknown) => this.#fail(error, undefined),
    );
  }

  #startAttempt(call: L402Call): void {
    this.#call = call;
    this.#initial = undefined;
    const metadata = this.#metadata.clone();
    if (call.authorization !== undefined) metadata.set('authorization', call.authorization);
    const attempt = this.#nextCall(this.#options);
    this.#attempt = attempt;
    let heldMetadata: Metadata | undefined;
    let received = false;
    // grpc-js hands unary-response calls a `null` message just before a status without one; not a real message.
    let heldNull = false;
    const unaryResponse = this.#options.method_definition.responseStream !== true;
    attempt.start(metadata, {
      onReceiveMetadata: (md: Metadata) => {
        if (this.#attempt === attempt) this.#initial = md;
        // Hold response headers back until we know this attempt is not a challenge to retry.
        heldMetadata = md;
      },
      onReceiveMessage: (message: unknown) => {
        if (this.#attempt !== attempt) return;
        if (message === null && unaryResponse && !received) {
          heldNull = true;
          return;
        }
        if (!received) {
          received = true;
          this.#stopKeeping();
          if (heldMetadata !== undefined) this.#listener.onReceiveMetadata?.(heldMetadata);
          heldMetadata = undefined;
        }
        this.#listener.onReceiveMessage?.(message);
      },
      onReceiveStatus: (status: StatusObject) => {
        if (this.#attempt !== attempt) return;
        const challenges = status.metadata.get('www-authenticate').map(String);
        if (status.code === Status.INTERNAL && challenges.length > 0 && !received && this.#keep && !this.#done) {
          const response = { status: status.code, headers: metadataRecord(status.metadata), challenges };
          call.retryAfterChallenge(response).then(
            (retry) => {
              if (this.#done) return;
              if (retry) this.#startAttempt(call);
              else this.#finish(status, heldMetadata, heldNull);
            },
            (error: unknown) => this.#fail(error, status),
          );
          return;
        }
        this.#finish(status, received ? undefined : heldMetadata, heldNull);
      },
    });
    this.#cursor = 0;
    this.#writing = false;
    this.#pump();
    if (this.#readStarted) attempt.startRead();
  }

  #finish(status: StatusObject, heldMetadata: Metadata | undefined, heldNull = false): void {
    if (this.#done) return;
    this.#done = true;
    const headers = { ...(this.#initial === undefined ? {} : metadataRecord(this.#initial)), ...metadataRecord(status.metadata) };
    this.#call?.responded({ status: status.code === Status.OK ? 200 : 500, headers });
    if (heldMetadata !== undefined) this.#listener.onReceiveMetadata?.(heldMetadata);
    if (heldNull || (this.#attempt === undefined && this.#options.method_definition.responseStream !== true)) {
      this.#listener.onReceiveMessage?.(null);
    }
    this.#listener.onReceiveStatus?.(status);
  }

  /** Ends the call with the client error: the challenge's code and metadata, the error's code and message as details. */
  #fail(error: unknown, challenge: StatusObject | undefined): void {
    const metadata = challenge?.metadata.clone() ?? new Metadata();
    const code = error instanceof L402Error ? error.code : 'L402_ERR_CLIENT_PAYMENT_FAILED';
    metadata.set('l402-client-error', code);
    const message = error instanceof Error ? error.message : String(error);
    this.#finish({ code: challenge?.code ?? Status.UNAVAILABLE, details: `${code}: ${message}`, metadata }, undefined);
  }

  /** Hands the next queued message to the current attempt, or half-closes it when all are written. */
  #pump(): void {
    const attempt = this.#attempt;
    if (attempt === undefined || this.#writing || this.#done) return;
    const entry = this.#queue[this.#cursor];
    if (entry === undefined) {
      if (this.#halfClosed && this.#halfClosedAttempt !== attempt) {
        this.#halfClosedAttempt = attempt;
        attempt.halfClose();
      }
      return;
    }
    this.#writing = true;
    attempt.sendMessageWithContext(
      {
        ...entry.context,
        callback: (error?: Error | null) => {
          // A late callback of an abandoned attempt changes nothing.
          if (this.#attempt !== attempt) return;
          this.#writing = false;
          // Advance first: the caller's callback may synchronously send the next message.
          if (this.#keep) this.#cursor++;
          else this.#queue.shift();
          if (!entry.acknowledged) {
            entry.acknowledged = true;
            entry.context.callback?.(error ?? undefined);
          }
          this.#pump();
        },
      },
      entry.message,
    );
  }

  /** No retry is possible any more: forget messages already written. */
  #stopKeeping(): void {
    if (!this.#keep) return;
    this.#keep = false;
    this.#queue.splice(0, this.#cursor);
    this.#cursor = 0;
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    this.#queue.push({ context, message, acknowledged: false });
    this.#pump();
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    this.#halfClosed = true;
    this.#pump();
  }

  startRead(): void {
    this.#readStarted = true;
    this.#attempt?.startRead();
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.#attempt !== undefined) {
      this.#attempt.cancelWithStatus(code, details);
      return;
    }
    this.#finish({ code, details, metadata: new Metadata() }, undefined);
  }

  getPeer(): string {
    return this.#attempt?.getPeer() ?? '';
  }

  getAuthContext(): ReturnType<CallLike['getAuthContext']> {
    return this.#attempt?.getAuthContext() ?? null;
  }
}

/**
 * Creates a grpc-js client interceptor that pays L402 challenges.
 *
 * When payment is refused or fails, the call ends with the challenge's status
 * code (13), details `<L402_ERR_… code>: <message>` and the metadata key
 * `l402-client-error` set to the code. Calls that carry their own
 * `authorization` metadata are passed through.
 *
 * @param options - client options plus `origin`, or an {@link L402Client} (then tokens are keyed by `grpc://default`)
 * @returns the interceptor, for `new Client(address, credentials, { interceptors: [it] })`
 * @example
 * ```ts
 * const client = new Greeter('localhost:50051', credentials.createInsecure(), {
 *   interceptors: [grpcL402ClientInterceptor({ payer, origin: 'grpc://localhost:50051' })],
 * });
 * ```
 */
export function grpcL402ClientInterceptor(options: GrpcL402ClientInterceptorOptions | L402Client = {}): Interceptor {
  const client = options instanceof L402Client ? options : new L402Client(options);
  const origin = (options instanceof L402Client ? undefined : options.origin) ?? 'grpc://default';
  return (interceptorOptions: InterceptorOptions, nextCall: NextCall): InterceptingCall => {
    const url = new URL(interceptorOptions.method_definition.path, origin.endsWith('/') ? origin : `${origin}/`);
    const begin = client.begin(url);
    // An unhandled rejection is not wanted when the call is cancelled before start; start() reports it.
    begin.catch(() => undefined);
    const call = new L402GrpcCall(interceptorOptions, nextCall, begin);
    return new PassThroughAuthorization(call, interceptorOptions, nextCall).wrap();
  };
}

/** Sends calls that carry their own `authorization` metadata straight through, the rest through the L402 call. */
class PassThroughAuthorization {
  readonly #call: L402GrpcCall;
  readonly #options: InterceptorOptions;
  readonly #nextCall: NextCall;

  constructor(call: L402GrpcCall, options: InterceptorOptions, nextCall: NextCall) {
    this.#call = call;
    this.#options = options;
    this.#nextCall = nextCall;
  }

  wrap(): InterceptingCall {
    let target: CallLike = this.#call;
    const self = this;
    const delegate: CallLike = {
      start(metadata, listener) {
        if (metadata.get('authorization').length > 0) target = self.#nextCall(self.#options);
        target.start(metadata, listener);
      },
      sendMessageWithContext: (context, message) => target.sendMessageWithContext(context, message),
      sendMessage: (message) => target.sendMessage(message),
      halfClose: () => target.halfClose(),
      startRead: () => target.startRead(),
      cancelWithStatus: (code, details) => target.cancelWithStatus(code, details),
      getPeer: () => target.getPeer(),
      getAuthContext: () => target.getAuthContext(),
    };
    return new GrpcInterceptingCall(delegate);
  }
}
