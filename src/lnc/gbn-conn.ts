/**
 * An established gbn (go-back-N) connection, after the handshake of
 * `gbn-connect.ts`: messages in, messages out, in order and exactly once over
 * a transport that loses, duplicates or reorders packets.
 *
 * Sending keeps up to N DATA packets in flight; the whole window is resent on a
 * NACK or when the resend timer fires (go-back-N), then the sender waits for
 * sync. Receiving ACKs the expected DATA and NACKs any other (at most once per
 * two resend timeouts for the same expectation). With pings on, a ping (a DATA
 * packet with a sequence number and no payload) goes out after `pingMs` without
 * a packet received, and the connection closes when nothing arrives `pongMs`
 * after it. Closing sends a FIN (best effort, `finSendTimeoutMs`) unless the
 * peer sent one first. All as the reference (lightning-node-connect's gbn).
 *
 * Unlike the reference: the resend timer restarts when the window moves (an
 * ACK or NACK that frees or rewinds it), not on every packet received (with
 * the reference, a peer that pings more often than the resend timeout keeps a
 * lost last packet from ever being resent); messages already received are still handed out after
 * the peer's FIN; a client ignores a stray SYN or SYNACK after the handshake
 * (a duplicate of the handshake) instead of closing; and everything is bounded
 * (N received messages waiting for {@link GbnConn.recv}, `maxPendingSends`
 * callers waiting in {@link GbnConn.send}, `maxMessageBytes` per reassembled
 * message).
 *
 * @internal Not exported from the package.
 */
import { L402Error } from '../core/errors.js';
import { decodeGbnPacket, encodeGbnPacket, type GbnPacket } from './framing.js';
import { GbnSendQueue, type GbnDataPacket } from './gbn-send-queue.js';
import { raceTimeout, type GbnTimers } from './gbn-timers.js';
import type { GbnTimeouts } from './gbn-timeouts.js';
import type { GbnPacketReader, GbnTransport } from './gbn-transport.js';

/** Everything an established connection is made of (built by `gbn-connect.ts`). */
export interface GbnConnParts {
  readonly role: 'client' | 'server';
  /** The window size agreed in the handshake. */
  readonly n: number;
  /** A DATA packet the server's handshake ended with, processed before anything else. */
  readonly first?: GbnPacket | undefined;
  readonly transport: GbnTransport;
  readonly reader: GbnPacketReader;
  /** Aborting it ends every transport call; the connection aborts it when it closes. */
  readonly abort: AbortController;
  readonly timers: GbnTimers;
  readonly timeouts: GbnTimeouts;
  /** Split outgoing messages into DATA packets of at most this many bytes (0: never). */
  readonly maxChunkSize: number;
  readonly maxMessageBytes: number;
  readonly maxPendingSends: number;
  readonly onFin: (() => void) | undefined;
}

interface PendingSend {
  readonly packets: GbnDataPacket[];
  readonly resolve: () => void;
  readonly reject: (error: L402Error) => void;
  timer: unknown;
}

interface RecvWaiter {
  readonly resolve: (message: Buffer) => void;
  readonly reject: (error: L402Error) => void;
  timer: unknown;
}

/** An established gbn connection. */
export class GbnConn {
  /** Which side of the handshake this is. */
  readonly role: 'client' | 'server';
  /** The window size: at most this many DATA packets in flight. */
  readonly n: number;
  /** Settles with the reason once the connection is closed (and its FIN attempt is over). */
  readonly closed: Promise<L402Error>;

  readonly #s: number;
  readonly #parts: GbnConnParts;
  readonly #queue: GbnSendQueue;
  #recvSeq = 0;
  #lastNackSeq = 0;
  #lastNackTime = -Infinity;
  readonly #inbound: Buffer[] = [];
  #partial: Buffer[] = [];
  #partialBytes = 0;
  readonly #recvWaiters: RecvWaiter[] = [];
  #spaceWaiter: (() => void) | undefined;
  readonly #pendingSends: PendingSend[] = [];
  #senderWake: (() => void) | undefined;
  #resendSignal = false;
  #resendTick = false;
  #pingTick = false;
  #resendTimer: unknown;
  #pingTimer: unknown;
  #pongTimer: unknown;
  #reason: L402Error | undefined;
  #remoteClosed = false;
  #closing: Promise<void> | undefined;
  #settleClosed!: (reason: L402Error) => void;
  #sendTimeoutMs = Infinity;
  #recvTimeoutMs = Infinity;

  /** @param parts - the handshake's result */
  constructor(parts: GbnConnParts) {
    this.#parts = parts;
    this.role = parts.role;
    this.n = parts.n;
    this.#s = parts.n + 1;
    this.closed = new Promise<L402Error>((resolve) => (this.#settleClosed = resolve));
    this.#queue = new GbnSendQueue(this.#s, parts.timers, parts.timeouts, async (packet) => {
      await this.#sendPacket(dataPacket(packet), true);
    });
    this.#restartResendTimer();
    this.#restartPingTimer();
    // Neither loop throws by design; should one, the connection closes rather than the process crashing.
    const crashed = (error: unknown): void =>
      void this.#shutdown(new L402Error('L402_ERR_LNC_GBN_CLOSED', `the gbn connection failed: ${message(error)}`, { cause: error }));
    this.#receiveLoop().catch(crashed);
    this.#sendLoop().catch(crashed);
  }

  /** Why the connection closed, or undefined while it is open. */
  get closeReason(): L402Error | undefined {
    return this.#reason;
  }

  /**
   * Limits how long {@link GbnConn.send} waits for room in the window
   * (the reference's `SetSendTimeout`; the Noise handshake uses 5 s).
   * @param ms - milliseconds; Infinity for no limit
   */
  setSendTimeout(ms: number): void {
    this.#sendTimeoutMs = ms;
  }

  /**
   * Limits how long {@link GbnConn.recv} waits for a message (the reference's `SetRecvTimeout`).
   * @param ms - milliseconds; Infinity for no limit
   */
  setRecvTimeout(ms: number): void {
    this.#recvTimeoutMs = ms;
  }

  /**
   * Queues one message. Resolves once the message is in the window (at most N
   * messages are in flight, so up to N sends resolve without any ACK), not when
   * it is acknowledged.
   * @param message - the bytes (one MsgData in LNC)
   * @throws L402Error `L402_ERR_LNC_GBN_TIMEOUT` after the send timeout (the connection stays open),
   *   `L402_ERR_LNC_GBN_BUSY` when `maxPendingSends` callers already wait, or the close reason once closed
   */
  send(message: Uint8Array): Promise<void> {
    if (this.#reason !== undefined) return Promise.reject(this.#reason);
    if (this.#pendingSends.length >= this.#parts.maxPendingSends) {
      return Promise.reject(
        new L402Error('L402_ERR_LNC_GBN_BUSY', `${this.#parts.maxPendingSends} sends already wait for room in the gbn window`),
      );
    }
    const packets = chunks(Buffer.from(message), this.#parts.maxChunkSize).map((payload, i, all) => ({
      seq: 0,
      finalChunk: i === all.length - 1,
      isPing: false,
      payload,
    }));
    return new Promise<void>((resolve, reject) => {
      const pending: PendingSend = { packets, resolve, reject, timer: undefined };
      if (this.#sendTimeoutMs !== Infinity) {
        pending.timer = this.#parts.timers.setTimeout(() => {
          const at = this.#pendingSends.indexOf(pending);
          if (at < 0) return;
          this.#pendingSends.splice(at, 1);
          reject(new L402Error('L402_ERR_LNC_GBN_TIMEOUT', `gbn send timed out after ${this.#sendTimeoutMs} ms`));
        }, this.#sendTimeoutMs);
      }
      this.#pendingSends.push(pending);
      this.#wakeSender();
    });
  }

  /**
   * The next message, in order.
   * @returns the bytes of one message as the peer sent it
   * @throws L402Error `L402_ERR_LNC_GBN_TIMEOUT` after the receive timeout (the connection stays open),
   *   or the close reason once closed and every received message was taken
   */
  recv(): Promise<Buffer> {
    const message = this.#inbound.shift();
    if (message !== undefined) {
      this.#wakeReceiver();
      return Promise.resolve(message);
    }
    if (this.#reason !== undefined) return Promise.reject(this.#reason);
    return new Promise<Buffer>((resolve, reject) => {
      const waiter: RecvWaiter = { resolve, reject, timer: undefined };
      if (this.#recvTimeoutMs !== Infinity) {
        waiter.timer = this.#parts.timers.setTimeout(() => {
          const at = this.#recvWaiters.indexOf(waiter);
          if (at < 0) return;
          this.#recvWaiters.splice(at, 1);
          reject(new L402Error('L402_ERR_LNC_GBN_TIMEOUT', `gbn receive timed out after ${this.#recvTimeoutMs} ms`));
        }, this.#recvTimeoutMs);
      }
      this.#recvWaiters.push(waiter);
    });
  }

  /**
   * Closes the connection: sends a FIN (unless the peer sent one; waiting at
   * most `finSendTimeoutMs`), ends the transport, and fails pending and later
   * sends and receives with `L402_ERR_LNC_GBN_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    return this.#shutdown(new L402Error('L402_ERR_LNC_GBN_CLOSED', 'the gbn connection was closed'));
  }

  #shutdown(reason: L402Error): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#reason = reason;
    const { timers } = this.#parts;
    for (const timer of [this.#resendTimer, this.#pingTimer, this.#pongTimer]) if (timer !== undefined) timers.clearTimeout(timer);
    this.#queue.stop();
    for (const pending of this.#pendingSends.splice(0)) {
      if (pending.timer !== undefined) timers.clearTimeout(pending.timer);
      pending.reject(reason);
    }
    for (const waiter of this.#recvWaiters.splice(0)) {
      if (waiter.timer !== undefined) timers.clearTimeout(waiter.timer);
      waiter.reject(reason);
    }
    this.#wakeSender();
    this.#wakeReceiver();
    this.#closing = finish(this.#parts, !this.#remoteClosed).then(() => this.#settleClosed(reason));
    return this.#closing;
  }

  async #sendPacket(packet: GbnPacket, resent: boolean): Promise<boolean> {
    if (this.#reason !== undefined) return false;
    try {
      await this.#parts.transport.send(encodeGbnPacket(packet), this.#parts.abort.signal);
    } catch (error) {
      if (this.#reason === undefined) {
        void this.#shutdown(
          new L402Error('L402_ERR_LNC_GBN_TRANSPORT', `the gbn transport failed to send: ${message(error)}`, { cause: error }),
        );
      }
      return false;
    }
    this.#parts.timeouts.sent(packet, resent);
    return this.#reason === undefined;
  }

  // ---- sending ----

  #wakeSender(): void {
    const wake = this.#senderWake;
    this.#senderWake = undefined;
    wake?.();
  }

  async #senderWait(ready: () => boolean): Promise<void> {
    while (this.#reason === undefined && !ready()) await new Promise<void>((resolve) => (this.#senderWake = resolve));
  }

  async #sendLoop(): Promise<void> {
    while (this.#reason === undefined) {
      await this.#senderWait(() => this.#resendSignal || this.#resendTick || this.#pingTick || this.#pendingSends.length > 0);
      if (this.#reason !== undefined) return;
      if (this.#resendSignal || this.#resendTick) {
        if (this.#resendSignal) this.#resendSignal = false;
        else this.#resendTick = false;
        await this.#resendWindow();
        continue;
      }
      if (this.#pingTick) {
        this.#pingTick = false;
        this.#startPong();
        this.#restartPingTimer();
        if (!(await this.#sendData({ seq: 0, finalChunk: false, isPing: true, payload: Buffer.alloc(0) }))) return;
      } else {
        const pending = this.#pendingSends.shift() as PendingSend;
        if (pending.timer !== undefined) this.#parts.timers.clearTimeout(pending.timer);
        const [first, ...rest] = pending.packets;
        if (rest.length > 0) this.#pendingSends.unshift({ ...pending, packets: rest });
        else pending.resolve();
        if (!(await this.#sendData(first as GbnDataPacket))) return;
      }
    }
  }

  /** Puts a DATA packet in the window and sends it; waits while the window is full. */
  async #sendData(packet: GbnDataPacket): Promise<boolean> {
    this.#queue.add(packet);
    if (!(await this.#sendPacket(dataPacket(packet), false))) return false;
    while (this.#queue.size >= this.n) {
      await this.#senderWait(() => this.#queue.size < this.n || this.#resendSignal || this.#resendTick);
      if (this.#reason !== undefined) return false;
      if (this.#queue.size < this.n) break;
      if (this.#resendSignal) this.#resendSignal = false;
      else this.#resendTick = false;
      await this.#resendWindow();
    }
    return this.#reason === undefined;
  }

  async #resendWindow(): Promise<void> {
    await this.#queue.resend();
    if (this.#reason !== undefined) return;
    this.#restartResendTimer();
    this.#resendTick = false;
  }

  // ---- timers ----

  #restartResendTimer(): void {
    const { timers, timeouts } = this.#parts;
    if (this.#resendTimer !== undefined) timers.clearTimeout(this.#resendTimer);
    const period = timeouts.resendMs;
    const tick = (): void => {
      this.#resendTick = true;
      this.#resendTimer = timers.setTimeout(tick, period);
      this.#wakeSender();
    };
    this.#resendTimer = timers.setTimeout(tick, period);
  }

  #restartPingTimer(): void {
    const { timers, timeouts } = this.#parts;
    if (timeouts.pingMs === Infinity) return;
    if (this.#pingTimer !== undefined) timers.clearTimeout(this.#pingTimer);
    this.#pingTick = false;
    const tick = (): void => {
      this.#pingTick = true;
      this.#pingTimer = timers.setTimeout(tick, timeouts.pingMs);
      this.#wakeSender();
    };
    this.#pingTimer = timers.setTimeout(tick, timeouts.pingMs);
  }

  #startPong(): void {
    const { timers, timeouts } = this.#parts;
    this.#stopPong();
    if (timeouts.pongMs === Infinity) return;
    // Unlike the reference, which notices the missed pong only between two sends, the deadline closes at once.
    this.#pongTimer = timers.setTimeout(() => {
      this.#pongTimer = undefined;
      void this.#shutdown(new L402Error('L402_ERR_LNC_GBN_KEEPALIVE_TIMEOUT', `no pong received ${timeouts.pongMs} ms after a gbn ping`));
    }, timeouts.pongMs);
  }

  #stopPong(): void {
    if (this.#pongTimer !== undefined) this.#parts.timers.clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
  }

  // ---- receiving ----

  #wakeReceiver(): void {
    const wake = this.#spaceWaiter;
    this.#spaceWaiter = undefined;
    wake?.();
  }

  async #receiveLoop(): Promise<void> {
    const { reader, first } = this.#parts;
    if (first !== undefined) await this.#onPacket(first);
    while (this.#reason === undefined) {
      let bytes: Uint8Array;
      try {
        bytes = await reader.next();
        reader.taken();
      } catch (error) {
        if (this.#reason === undefined) {
          void this.#shutdown(
            new L402Error('L402_ERR_LNC_GBN_TRANSPORT', `the gbn transport failed to receive: ${message(error)}`, { cause: error }),
          );
        }
        return;
      }
      if (this.#reason !== undefined) return;
      let packet: GbnPacket;
      try {
        packet = decodeGbnPacket(bytes);
      } catch (error) {
        void this.#shutdown(error as L402Error);
        return;
      }
      await this.#onPacket(packet);
    }
  }

  async #onPacket(packet: GbnPacket): Promise<void> {
    const { timeouts } = this.#parts;
    timeouts.received(packet);
    this.#restartPingTimer();
    this.#stopPong();
    switch (packet.type) {
      case 'DATA':
        if (packet.seq === this.#recvSeq) {
          if (!(await this.#sendPacket({ type: 'ACK', seq: packet.seq }, false))) return;
          this.#recvSeq = (this.#recvSeq + 1) % this.#s;
          if (!packet.isPing) await this.#deliver(packet.payload, packet.finalChunk);
          return;
        }
        if (this.#lastNackSeq === this.#recvSeq && this.#parts.timers.now() - this.#lastNackTime < timeouts.resendMs * 2) return;
        if (!(await this.#sendPacket({ type: 'NACK', seq: this.#recvSeq }, false))) return;
        this.#lastNackTime = this.#parts.timers.now();
        this.#lastNackSeq = this.#recvSeq;
        return;
      case 'ACK':
        if (this.#queue.processAck(packet.seq)) {
          this.#restartResendTimer();
          this.#wakeSender();
        }
        return;
      case 'NACK': {
        const { resend, bumped } = this.#queue.processNack(packet.seq);
        if (resend) this.#resendSignal = true;
        if (resend || bumped) {
          this.#restartResendTimer();
          this.#wakeSender();
        }
        return;
      }
      case 'FIN':
        this.#remoteClosed = true;
        try {
          this.#parts.onFin?.();
        } catch {
          // The caller's hook; the FIN closes the connection either way.
        }
        void this.#shutdown(new L402Error('L402_ERR_LNC_GBN_REMOTE_CLOSED', 'the gbn peer closed the connection (FIN)'));
        return;
      case 'SYN':
        // The client never gets a SYN it did not answer; a server getting one has a restarted client.
        if (this.role === 'client') return;
        void this.#shutdown(new L402Error('L402_ERR_LNC_GBN_PROTOCOL', 'a gbn SYN after the handshake: the client restarted'));
        return;
      case 'SYNACK':
        // A duplicate of the handshake's last packet.
        return;
    }
  }

  async #deliver(payload: Buffer, finalChunk: boolean): Promise<void> {
    this.#partialBytes += payload.length;
    if (this.#partialBytes > this.#parts.maxMessageBytes) {
      void this.#shutdown(new L402Error('L402_ERR_LNC_MESSAGE_TOO_LARGE', `a gbn message above ${this.#parts.maxMessageBytes} bytes`));
      return;
    }
    this.#partial.push(payload);
    if (!finalChunk) return;
    const messageBytes = this.#partial.length === 1 ? (this.#partial[0] as Buffer) : Buffer.concat(this.#partial);
    this.#partial = [];
    this.#partialBytes = 0;
    const waiter = this.#recvWaiters.shift();
    if (waiter !== undefined) {
      if (waiter.timer !== undefined) this.#parts.timers.clearTimeout(waiter.timer);
      waiter.resolve(messageBytes);
      return;
    }
    // Backpressure: with N messages unread, stop reading the transport (the reference's channel of N).
    while (this.#reason === undefined && this.#inbound.length >= this.n) {
      await new Promise<void>((resolve) => (this.#spaceWaiter = resolve));
    }
    this.#inbound.push(messageBytes);
  }
}

/** The FIN attempt and the release of the transport, at close. */
async function finish(parts: GbnConnParts, sendFin: boolean): Promise<void> {
  if (sendFin && !parts.abort.signal.aborted) {
    try {
      await raceTimeout(parts.transport.send(encodeGbnPacket({ type: 'FIN' }), parts.abort.signal), parts.timeouts.finSendMs, parts.timers);
    } catch {
      // Best effort, as the reference: the peer's pings or our absence tell it.
    }
  }
  parts.abort.abort();
  try {
    parts.transport.close();
  } catch {
    // The transport is being released anyway.
  }
}

function dataPacket(packet: GbnDataPacket): GbnPacket {
  return { type: 'DATA', seq: packet.seq, finalChunk: packet.finalChunk, isPing: packet.isPing, payload: packet.payload };
}

function chunks(message: Buffer, size: number): Buffer[] {
  if (size === 0 || message.length <= size) return [message];
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) out.push(message.subarray(at, at + size));
  return out;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
