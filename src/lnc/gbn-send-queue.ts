/**
 * The sending side of a gbn connection: the window of unacknowledged DATA
 * packets (sequence numbers modulo s = N + 1, at most N in flight), the
 * handling of ACKs and NACKs, and the go-back-N resend of the whole window
 * followed by a wait for "sync" (the ACK of the last resent packet, then one
 * resend timeout more, or the NACK of the next one; at most 3 resend timeouts),
 * as the reference's queue and syncer do.
 *
 * @internal Not exported from the package.
 */
import type { GbnTimers } from './gbn-timers.js';
import type { GbnTimeouts } from './gbn-timeouts.js';

/** A DATA packet in the window. */
export interface GbnDataPacket {
  seq: number;
  readonly finalChunk: boolean;
  readonly isPing: boolean;
  readonly payload: Buffer;
}

/** The window of a gbn sender. */
export class GbnSendQueue {
  readonly #s: number;
  readonly #content: (GbnDataPacket | undefined)[];
  readonly #timers: GbnTimers;
  readonly #timeouts: GbnTimeouts;
  readonly #send: (packet: GbnDataPacket) => Promise<void>;
  #base = 0;
  #top = 0;
  #lastResend = -Infinity;
  // The syncer.
  #resending = false;
  #expectedAck = 0;
  #expectedNack = 0;
  #syncWaiter: (() => void) | undefined;
  #proceedTimer: unknown;
  #stopped = false;

  /**
   * @param s - the sequence space, N + 1
   * @param timers - the clock
   * @param timeouts - the connection's timeouts
   * @param resendPacket - sends one packet of a resend
   */
  constructor(s: number, timers: GbnTimers, timeouts: GbnTimeouts, resendPacket: (packet: GbnDataPacket) => Promise<void>) {
    this.#s = s;
    this.#content = new Array<GbnDataPacket | undefined>(s).fill(undefined);
    this.#timers = timers;
    this.#timeouts = timeouts;
    this.#send = resendPacket;
  }

  /** Packets sent and not yet acknowledged. */
  get size(): number {
    return this.#top >= this.#base ? this.#top - this.#base : this.#top + this.#s - this.#base;
  }

  /** The oldest unacknowledged sequence number. */
  get base(): number {
    return this.#base;
  }

  /** The next sequence number. */
  get top(): number {
    return this.#top;
  }

  /** Gives the packet the next sequence number and keeps it for resends. */
  add(packet: GbnDataPacket): void {
    packet.seq = this.#top;
    this.#content[this.#top] = packet;
    this.#top = (this.#top + 1) % this.#s;
  }

  /**
   * An ACK: the base moves past it when it is in the window.
   * @returns whether the window shrank
   */
  processAck(seq: number): boolean {
    if (this.size === 0) return false;
    if (this.#resending && seq === this.#expectedAck && this.#proceedTimer === undefined) {
      // The last resent packet arrived: proceed one resend timeout later unless a NACK comes first.
      this.#proceedTimer = this.#timers.setTimeout(() => {
        this.#proceedTimer = undefined;
        if (this.#resending) this.#resetSync();
      }, this.#timeouts.resendMs);
    }
    if (seq === this.#base) {
      this.#base = (this.#base + 1) % this.#s;
      return true;
    }
    if (contains(this.#base, this.#top, seq)) {
      this.#base = (seq + 1) % this.#s;
      return true;
    }
    return false;
  }

  /**
   * A NACK (the sequence number the receiver expects).
   * @returns whether the window must be resent, and whether it shrank
   */
  processNack(seq: number): { resend: boolean; bumped: boolean } {
    if (this.#resending && seq === this.#expectedNack) this.#resetSync();
    if (seq === this.#top) {
      // Everything arrived.
      const bumped = this.#base !== this.#top;
      this.#base = this.#top;
      return { resend: false, bumped };
    }
    if (!contains(this.#base, this.#top, seq)) return { resend: false, bumped: false };
    const bumped = this.#base !== seq;
    this.#base = seq;
    return { resend: true, bumped };
  }

  /**
   * Resends the whole window, then waits for sync; does nothing within a
   * handshake timeout of the previous resend.
   */
  async resend(): Promise<void> {
    const now = this.#timers.now();
    if (now - this.#lastResend < this.#timeouts.handshakeMs) return;
    if (this.size === 0) return;
    this.#lastResend = now;
    let seq = this.#base;
    const top = this.#top;
    this.#resending = true;
    this.#clearProceed();
    this.#expectedAck = (this.#s + top - 1) % this.#s;
    this.#expectedNack = top;
    while (seq !== top && !this.#stopped) {
      const packet = this.#content[seq];
      if (packet !== undefined) await this.#send(packet);
      seq = (seq + 1) % this.#s;
    }
    await this.#waitForSync();
  }

  /** Ends every wait (the connection closed). */
  stop(): void {
    this.#stopped = true;
    this.#resetSync();
  }

  #waitForSync(): Promise<void> {
    if (!this.#resending || this.#stopped) {
      this.#resetSync();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = this.#timers.setTimeout(() => this.#resetSync(), this.#timeouts.resendMs * 3);
      this.#syncWaiter = () => {
        this.#timers.clearTimeout(timer);
        resolve();
      };
    });
  }

  #resetSync(): void {
    this.#resending = false;
    this.#clearProceed();
    const waiter = this.#syncWaiter;
    this.#syncWaiter = undefined;
    waiter?.();
  }

  #clearProceed(): void {
    if (this.#proceedTimer === undefined) return;
    this.#timers.clearTimeout(this.#proceedTimer);
    this.#proceedTimer = undefined;
  }
}

/** Whether `seq` lies in the window [base, top) modulo the sequence space. */
export function contains(base: number, top: number, seq: number): boolean {
  if (base === top) return false;
  if (base < top) return base <= seq && seq < top;
  return seq < top || base <= seq;
}
