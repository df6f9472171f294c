/**
 * The hashmail mailbox, framework-free: what aperture's `hashmailrpc.HashMail`
 * service does, without a transport. The gRPC and WebSocket front ends
 * (`hashmail-server.ts`) call it.
 *
 * - A stream is one simplex pipe keyed by a 64-byte ID; an LNC session uses two
 *   (the SID and the SID with bit 0 of byte 63 flipped).
 * - Each stream has one read slot and one write slot. Taking a slot waits up to
 *   250 ms for its holder to return it, then fails with the reference's text
 *   (`read stream occupied` / `write stream occupied`), which clients match.
 * - Each message written comes out as one message, boundaries kept, in order.
 *   The writer waits for a token of the stream's rate limit (a token bucket: one
 *   token per `messageRateMs`, `messageBurst` at most, as the reference's
 *   limiter) and for room in the stream's bounded queue (backpressure).
 * - A stream whose two slots stay free for `staleTimeoutMs` (counted from its
 *   creation, stopped while a slot is held, restarted when both are free again)
 *   is torn down.
 * - Unlike the reference, everything is bounded: the number of streams, the
 *   size of a message, the messages queued per stream, and the activity
 *   tracking behind the session metrics (pruned by last read).
 *
 * Time comes from injected timers, so tests are deterministic.
 *
 * @internal Not exported from the package.
 */
import { L402Error } from '../core/errors.js';
import type { L402ErrorCode } from '../core/error-codes.js';
import { realGbnTimers, type GbnTimers } from './gbn-timers.js';

/** gRPC status codes the front ends answer with. */
export const HASHMAIL_GRPC_CODE = { UNKNOWN: 2, ALREADY_EXISTS: 6, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;

/**
 * A hashmail failure. Its `message` is the exact text the reference sends
 * (clients match substrings of it), and `grpcCode` the gRPC status to answer with.
 */
export class HashmailError extends L402Error {
  /** The gRPC status code for this failure (2 Unknown unless the reference uses another). */
  readonly grpcCode: number;

  /**
   * @param code - the error code
   * @param message - the text sent to the client, exactly
   * @param grpcCode - the gRPC status code
   */
  constructor(code: L402ErrorCode, message: string, grpcCode: number = HASHMAIL_GRPC_CODE.UNKNOWN) {
    super(code, message);
    this.name = 'HashmailError';
    this.grpcCode = grpcCode;
  }
}

/** The timers the mailbox uses: gbn's (unref'd, so a stale or rate timer never keeps the process alive); tests pass a fake. */
export type HashmailTimers = GbnTimers;

/** Options of a {@link HashmailCore}; the first three are the reference's `hashmail` keys. */
export interface HashmailCoreOptions {
  /** One message token per this many ms (`messagerate`; 0 or absent: 500). */
  messageRateMs?: number | undefined;
  /** Bucket size (`messageburstallowance`; 0 or absent: 10). */
  messageBurst?: number | undefined;
  /** Stale timeout (`staletimeout`; 0 or absent: 1 h; negative: never). */
  staleTimeoutMs?: number | undefined;
  /** Most streams at once (default 10000; two per session). */
  maxStreams?: number | undefined;
  /** Largest message (default 4 MiB, grpc-go's default receive limit). */
  maxMessageBytes?: number | undefined;
  /** Messages queued per stream before the writer waits (default 4). */
  queueMessages?: number | undefined;
  /** How long taking a slot waits for its holder (default 250 ms, as the reference). */
  acquireTimeoutMs?: number | undefined;
  /** Session activity entries kept for the metrics (default 10000; the least recently read go first). */
  maxActivityEntries?: number | undefined;
  /** Timers; default the real ones. */
  timers?: HashmailTimers | undefined;
}

/** The read slot of a stream, held until {@link release}. */
export interface HashmailReader {
  /** The stream's ID. */
  readonly streamId: Buffer;
  /**
   * The next message, waiting for one.
   * @param signal - aborts the wait (the promise rejects with its reason)
   * @returns the message
   * @throws HashmailError `L402_ERR_HASHMAIL_STREAM_CLOSED` when the stream is torn down or the slot released
   */
  next(signal?: AbortSignal): Promise<Buffer>;
  /** Returns the slot (idempotent). */
  release(): void;
}

/** The write slot of a stream, held until {@link release}. */
export interface HashmailWriter {
  /** The stream's ID. */
  readonly streamId: Buffer;
  /**
   * Queues one message, waiting for a rate token and for room.
   * @param message - the message, delivered as is
   * @param signal - aborts the wait (the promise rejects with its reason; nothing is queued)
   * @throws HashmailError `L402_ERR_HASHMAIL_MESSAGE_TOO_LARGE`, or `L402_ERR_HASHMAIL_STREAM_CLOSED`
   *   when the stream is torn down or the slot released
   */
  write(message: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Returns the slot (idempotent). */
  release(): void;
}

/** Session activity since the last classification, for the session gauges. */
export interface HashmailActivity {
  /** Sessions read at least once (in use + standby). */
  active: number;
  /** Sessions read at 0.5 messages a second or more. */
  inUse: number;
  /** Sessions read, but less often. */
  standby: number;
}

const STREAM_ID_BYTES = 64;
const ACTIVITY_TTL_MS = 24 * 60 * 60 * 1000;

type Waiter = { resolve: () => void; reject: (reason: unknown) => void };

function closedError(message = 'stream shutting down'): HashmailError {
  return new HashmailError('L402_ERR_HASHMAIL_STREAM_CLOSED', message);
}

/**
 * Waits for `register` to call back, with an optional timeout and abort signal;
 * `unregister` removes the waiter when it is not the one that settles it.
 */
function waitFor(
  timers: HashmailTimers,
  register: (waiter: Waiter) => void,
  unregister: (waiter: Waiter) => void,
  options: { signal?: AbortSignal | undefined; timeoutMs?: number; onTimeout?: () => unknown; timeoutResolves?: boolean },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let timer: unknown;
    const cleanup = (): void => {
      if (timer !== undefined) timers.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const waiter: Waiter = {
      resolve: () => {
        cleanup();
        resolve();
      },
      reject: (reason) => {
        cleanup();
        reject(reason);
      },
    };
    const onAbort = (): void => {
      unregister(waiter);
      waiter.reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = timers.setTimeout(() => {
        timer = undefined;
        unregister(waiter);
        if (options.timeoutResolves === true) waiter.resolve();
        else waiter.reject(options.onTimeout?.());
      }, options.timeoutMs);
    }
    register(waiter);
  });
}

/** The reference's rate limiter: a token bucket that starts full; a writer waits for its token. */
class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes a token; returns how long to wait for it (0: now). */
  reserve(now: number): number {
    this.#tokens = Math.min(this.burst, this.#tokens + (now - this.#last) / this.intervalMs);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : -this.#tokens * this.intervalMs;
  }

  /** Gives back a token whose wait was abandoned. */
  refund(): void {
    this.#tokens = Math.min(this.burst, this.#tokens + 1);
  }
}

class Stream {
  readonly queue: Buffer[] = [];
  readHeld = false;
  writeHeld = false;
  readonly readSlotWaiters: Waiter[] = [];
  readonly writeSlotWaiters: Waiter[] = [];
  readonly dataWaiters: Waiter[] = [];
  readonly roomWaiters: Waiter[] = [];
  readonly sleepers = new Set<Waiter>();
  closed = false;
  staleTimer: unknown;

  constructor(
    readonly id: Buffer,
    readonly key: string,
    readonly bucket: TokenBucket,
  ) {}

  allWaiters(): Waiter[] {
    return [...this.readSlotWaiters, ...this.writeSlotWaiters, ...this.dataWaiters, ...this.roomWaiters, ...this.sleepers];
  }
}

function combine(held: AbortSignal, other: AbortSignal | undefined): AbortSignal {
  return other === undefined ? held : AbortSignal.any([held, other]);
}

/**
 * The stream ID of a `CipherBoxAuth` (NewCipherBox, DelCipherBox) or of the
 * first `CipherBox` of a SendStream, checked in the reference's order and with
 * its texts; the reference crashes on a SendStream without a descriptor, this
 * answers the error.
 * @param request - the decoded request (`desc.stream_id`, and `auth` for CipherBoxAuth)
 * @param needsAuth - whether an `auth` is required (CipherBoxAuth)
 * @returns the stream ID
 * @throws HashmailError `L402_ERR_HASHMAIL_BAD_REQUEST`: `cipher box descriptor required`, `stream_id required`, `auth type required`
 */
export function requestStreamId(
  request: { desc?: { stream_id?: Uint8Array | null | undefined } | null | undefined; auth?: unknown } | null | undefined,
  needsAuth: boolean,
): Uint8Array {
  const desc = request?.desc;
  if (desc === undefined || desc === null) throw new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', 'cipher box descriptor required');
  const id = desc.stream_id;
  if (id === undefined || id === null) throw new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', 'stream_id required');
  if (needsAuth && (request?.auth === undefined || request.auth === null)) {
    throw new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', 'auth type required');
  }
  return id;
}

function remove(list: Waiter[], waiter: Waiter): void {
  const i = list.indexOf(waiter);
  if (i >= 0) list.splice(i, 1);
}

/** The mailbox: streams, their slots, queues, rate limits and stale timers. */
export class HashmailCore {
  readonly #streams = new Map<string, Stream>();
  readonly #timers: HashmailTimers;
  readonly #rateMs: number;
  readonly #burst: number;
  readonly #staleMs: number;
  readonly #maxStreams: number;
  readonly #maxMessage: number;
  readonly #queueMessages: number;
  readonly #acquireMs: number;
  readonly #maxActivity: number;
  /** Per session (hex of the first 16 bytes): reads since the last classification and the last read. */
  readonly #activity = new Map<string, { count: number; lastRead: number }>();
  #lastClassified: number;
  #closed = false;

  /**
   * @param options - limits, timeouts and timers
   * @throws L402Error `L402_ERR_HASHMAIL_INVALID_OPTION` for a negative or non-integer limit
   */
  constructor(options: HashmailCoreOptions = {}) {
    this.#timers = options.timers ?? realGbnTimers;
    const positive = (value: number | undefined, name: string, fallback: number, zeroMeansDefault = false, integer = true): number => {
      if (value === undefined || (zeroMeansDefault && value === 0)) return fallback;
      if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
        throw new L402Error(
          'L402_ERR_HASHMAIL_INVALID_OPTION',
          `hashmail option ${name} must be a positive ${integer ? 'integer' : 'number'}, not ${String(value)}`,
        );
      }
      return value;
    };
    this.#rateMs = positive(options.messageRateMs, 'messageRateMs', 500, true, false);
    this.#burst = positive(options.messageBurst, 'messageBurst', 10, true);
    const stale = options.staleTimeoutMs ?? 0;
    if (!Number.isFinite(stale))
      throw new L402Error('L402_ERR_HASHMAIL_INVALID_OPTION', `hashmail option staleTimeoutMs must be a number, not ${String(stale)}`);
    this.#staleMs = stale === 0 ? 60 * 60 * 1000 : stale;
    this.#maxStreams = positive(options.maxStreams, 'maxStreams', 10_000);
    this.#maxMessage = positive(options.maxMessageBytes, 'maxMessageBytes', 4 * 1024 * 1024);
    this.#queueMessages = positive(options.queueMessages, 'queueMessages', 4);
    this.#acquireMs = positive(options.acquireTimeoutMs, 'acquireTimeoutMs', 250, false, false);
    this.#maxActivity = positive(options.maxActivityEntries, 'maxActivityEntries', 10_000);
    this.#lastClassified = this.#timers.now();
  }

  /** The number of streams (the `hashmail_mailbox_count` gauge). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Creates a stream (`NewCipherBox`).
   * @param streamId - its 64-byte ID
   * @throws HashmailError `L402_ERR_HASHMAIL_STREAM_EXISTS` (`stream already active`, gRPC 6) for an ID in use,
   *   `L402_ERR_HASHMAIL_BAD_REQUEST` for an ID that is not 64 bytes, `L402_ERR_HASHMAIL_LIMIT` at the stream
   *   limit, `L402_ERR_HASHMAIL_STREAM_CLOSED` after {@link close}
   */
  createStream(streamId: Uint8Array): void {
    if (this.#closed) throw closedError('server shutting down');
    const key = this.#key(streamId);
    if (this.#streams.has(key)) {
      throw new HashmailError('L402_ERR_HASHMAIL_STREAM_EXISTS', 'stream already active', HASHMAIL_GRPC_CODE.ALREADY_EXISTS);
    }
    if (this.#streams.size >= this.#maxStreams) {
      throw new HashmailError(
        'L402_ERR_HASHMAIL_LIMIT',
        `too many streams (limit ${this.#maxStreams})`,
        HASHMAIL_GRPC_CODE.RESOURCE_EXHAUSTED,
      );
    }
    const stream = new Stream(Buffer.from(streamId), key, new TokenBucket(this.#rateMs, this.#burst, this.#timers.now()));
    this.#streams.set(key, stream);
    this.#armStale(stream);
  }

  /**
   * Tears a stream down (`DelCipherBox`): its holders' waits fail with `stream shutting down`.
   * @param streamId - its ID
   * @throws HashmailError `L402_ERR_HASHMAIL_STREAM_NOT_FOUND` (`stream not found`), `L402_ERR_HASHMAIL_BAD_REQUEST`
   */
  deleteStream(streamId: Uint8Array): void {
    this.#tearDown(this.#lookUp(streamId));
  }

  /**
   * Takes the read slot of a stream (`RecvStream`), waiting up to 250 ms for it.
   * @param streamId - its ID
   * @param signal - aborts the wait
   * @returns the reader
   * @throws HashmailError `L402_ERR_HASHMAIL_STREAM_NOT_FOUND`, `L402_ERR_HASHMAIL_STREAM_OCCUPIED`
   *   (`read stream occupied`), `L402_ERR_HASHMAIL_STREAM_CLOSED`, `L402_ERR_HASHMAIL_BAD_REQUEST`
   */
  async openReader(streamId: Uint8Array, signal?: AbortSignal): Promise<HashmailReader> {
    const stream = this.#lookUp(streamId);
    await this.#acquire(stream, 'read', signal);
    // Releasing the slot ends a wait still pending on it.
    const held = new AbortController();
    return {
      streamId: Buffer.from(stream.id),
      next: async (nextSignal) => {
        if (held.signal.aborted) throw closedError('read stream released');
        const message = await this.#take(stream, combine(held.signal, nextSignal));
        this.#recordRead(stream);
        return message;
      },
      release: () => {
        if (held.signal.aborted) return;
        held.abort(closedError('read stream released'));
        this.#returnSlot(stream, 'read');
      },
    };
  }

  /**
   * Takes the write slot of a stream (`SendStream`), waiting up to 250 ms for it.
   * @param streamId - its ID (the first message's descriptor)
   * @param signal - aborts the wait
   * @returns the writer
   * @throws HashmailError `L402_ERR_HASHMAIL_STREAM_NOT_FOUND`, `L402_ERR_HASHMAIL_STREAM_OCCUPIED`
   *   (`write stream occupied`), `L402_ERR_HASHMAIL_STREAM_CLOSED`, `L402_ERR_HASHMAIL_BAD_REQUEST`
   */
  async openWriter(streamId: Uint8Array, signal?: AbortSignal): Promise<HashmailWriter> {
    const stream = this.#lookUp(streamId);
    await this.#acquire(stream, 'write', signal);
    const held = new AbortController();
    return {
      streamId: Buffer.from(stream.id),
      write: async (message, writeSignal) => {
        if (held.signal.aborted) throw closedError('write stream released');
        await this.#put(stream, message, combine(held.signal, writeSignal));
      },
      release: () => {
        if (held.signal.aborted) return;
        held.abort(closedError('write stream released'));
        this.#returnSlot(stream, 'write');
      },
    };
  }

  /**
   * Classifies the sessions read since the last call (the reference does it every
   * 10 s): a session read at 0.5 messages a second or more is in use, less is
   * standby. Resets the counts, and forgets sessions unread for 24 hours.
   * @returns the session gauges
   */
  classifyActivity(): HashmailActivity {
    const now = this.#timers.now();
    const seconds = Math.max((now - this.#lastClassified) / 1000, 1e-3);
    this.#lastClassified = now;
    let inUse = 0;
    let standby = 0;
    for (const [base, entry] of this.#activity) {
      if (entry.count === 0 && now - entry.lastRead > ACTIVITY_TTL_MS) {
        this.#activity.delete(base);
        continue;
      }
      const rate = entry.count / seconds;
      if (rate >= 0.5) inUse++;
      else if (rate > 0) standby++;
      entry.count = 0;
    }
    return { active: inUse + standby, inUse, standby };
  }

  /** Tears every stream down; later calls fail with `server shutting down`. */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams.values()]) this.#tearDown(stream);
  }

  #key(streamId: Uint8Array | undefined): string {
    if (streamId === undefined || streamId.length === 0) throw new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', 'stream_id required');
    if (streamId.length !== STREAM_ID_BYTES) {
      throw new HashmailError('L402_ERR_HASHMAIL_BAD_REQUEST', `stream_id must be ${STREAM_ID_BYTES} bytes, not ${streamId.length}`);
    }
    return Buffer.from(streamId).toString('hex');
  }

  #lookUp(streamId: Uint8Array): Stream {
    const stream = this.#streams.get(this.#key(streamId));
    if (stream === undefined) throw new HashmailError('L402_ERR_HASHMAIL_STREAM_NOT_FOUND', 'stream not found');
    return stream;
  }

  async #acquire(stream: Stream, side: 'read' | 'write', signal: AbortSignal | undefined): Promise<void> {
    if (stream.closed) throw closedError();
    const held = side === 'read' ? stream.readHeld : stream.writeHeld;
    if (!held) {
      if (signal?.aborted) throw signal.reason;
      this.#holdSlot(stream, side);
      return;
    }
    const waiters = side === 'read' ? stream.readSlotWaiters : stream.writeSlotWaiters;
    // On resolve the slot was handed over (still held, now by us).
    await waitFor(
      this.#timers,
      (w) => waiters.push(w),
      (w) => remove(waiters, w),
      {
        signal,
        timeoutMs: this.#acquireMs,
        onTimeout: () => new HashmailError('L402_ERR_HASHMAIL_STREAM_OCCUPIED', `${side} stream occupied`),
      },
    );
  }

  #holdSlot(stream: Stream, side: 'read' | 'write'): void {
    if (side === 'read') stream.readHeld = true;
    else stream.writeHeld = true;
    this.#disarmStale(stream);
  }

  #returnSlot(stream: Stream, side: 'read' | 'write'): void {
    if (stream.closed) return;
    const waiters = side === 'read' ? stream.readSlotWaiters : stream.writeSlotWaiters;
    const next = waiters.shift();
    if (next !== undefined) {
      // Handed straight to the next caller: the slot stays held.
      next.resolve();
      return;
    }
    if (side === 'read') stream.readHeld = false;
    else stream.writeHeld = false;
    if (!stream.readHeld && !stream.writeHeld) this.#armStale(stream);
  }

  async #take(stream: Stream, signal: AbortSignal | undefined): Promise<Buffer> {
    for (;;) {
      if (stream.closed) throw closedError();
      const message = stream.queue.shift();
      if (message !== undefined) {
        stream.roomWaiters.shift()?.resolve();
        return message;
      }
      await waitFor(
        this.#timers,
        (w) => stream.dataWaiters.push(w),
        (w) => remove(stream.dataWaiters, w),
        { signal },
      );
    }
  }

  async #put(stream: Stream, message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (stream.closed) throw closedError();
    if (message.length > this.#maxMessage) {
      throw new HashmailError(
        'L402_ERR_HASHMAIL_MESSAGE_TOO_LARGE',
        `message of ${message.length} bytes is above the limit of ${this.#maxMessage}`,
        HASHMAIL_GRPC_CODE.RESOURCE_EXHAUSTED,
      );
    }
    if (signal?.aborted) throw signal.reason;
    const delay = stream.bucket.reserve(this.#timers.now());
    if (delay > 0) {
      try {
        await waitFor(
          this.#timers,
          (w) => stream.sleepers.add(w),
          (w) => stream.sleepers.delete(w),
          { signal, timeoutMs: delay, timeoutResolves: true },
        );
      } catch (error) {
        stream.bucket.refund();
        throw error;
      }
    }
    while (stream.queue.length >= this.#queueMessages) {
      if (stream.closed) throw closedError();
      await waitFor(
        this.#timers,
        (w) => stream.roomWaiters.push(w),
        (w) => remove(stream.roomWaiters, w),
        { signal },
      );
    }
    if (stream.closed) throw closedError();
    stream.queue.push(Buffer.from(message));
    stream.dataWaiters.shift()?.resolve();
  }

  #recordRead(stream: Stream): void {
    // Each session counted once: on its odd stream only.
    if (((stream.id[STREAM_ID_BYTES - 1] as number) & 1) === 0) return;
    const base = stream.id.subarray(0, 16).toString('hex');
    const entry = this.#activity.get(base);
    const now = this.#timers.now();
    if (entry !== undefined) {
      // Re-inserted to keep the map in order of last read.
      this.#activity.delete(base);
      this.#activity.set(base, { count: entry.count + 1, lastRead: now });
      return;
    }
    if (this.#activity.size >= this.#maxActivity) {
      const oldest = this.#activity.keys().next().value;
      if (oldest !== undefined) this.#activity.delete(oldest);
    }
    this.#activity.set(base, { count: 1, lastRead: now });
  }

  #armStale(stream: Stream): void {
    if (this.#staleMs < 0 || stream.closed) return;
    this.#disarmStale(stream);
    stream.staleTimer = this.#timers.setTimeout(() => {
      stream.staleTimer = undefined;
      if (!stream.readHeld && !stream.writeHeld) this.#tearDown(stream);
    }, this.#staleMs);
  }

  #disarmStale(stream: Stream): void {
    if (stream.staleTimer === undefined) return;
    this.#timers.clearTimeout(stream.staleTimer);
    stream.staleTimer = undefined;
  }

  #tearDown(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.#disarmStale(stream);
    if (this.#streams.get(stream.key) === stream) this.#streams.delete(stream.key);
    stream.queue.length = 0;
    const waiters = stream.allWaiters();
    stream.readSlotWaiters.length = 0;
    stream.writeSlotWaiters.length = 0;
    stream.dataWaiters.length = 0;
    stream.roomWaiters.length = 0;
    stream.sleepers.clear();
    for (const waiter of waiters) waiter.reject(closedError());
  }
}
