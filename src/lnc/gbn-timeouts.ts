/**
 * The timeouts of a gbn connection, as the reference's timeout manager keeps
 * them: a resend timeout that follows the measured round trip
 * (`max(1 s, multiplier × RTT)`, measured on SYN → SYN/SYNACK and on the first,
 * then every `updateFrequency`-th, DATA → ACK) and is boosted by `boostPercent`
 * on each resend (at most once per timeout), a handshake timeout boosted on
 * each SYN resend, and the FIN, ping and pong times. Time comes from `now()`.
 *
 * @internal Not exported from the package.
 */
import type { GbnPacket } from './framing.js';

/** The resend timeout never goes below this (ms). */
export const GBN_MIN_RESEND_TIMEOUT_MS = 1000;

/** The timing options of a gbn connection (ms; the reference's defaults when absent). */
export interface GbnTimeoutOptions {
  /** Handshake timeout before a SYN is resent or the server restarts (default 1000; LNC uses 2000). */
  handshakeTimeoutMs?: number | undefined;
  /** A fixed resend timeout instead of the measured one (default: measured). */
  staticResendTimeoutMs?: number | undefined;
  /** Resend timeout = this × RTT, at least 1 s (default 5). */
  resendMultiplier?: number | undefined;
  /** Measure the RTT again on every this-many-th ACK (default 100; LNC uses 200). */
  timeoutUpdateFrequency?: number | undefined;
  /** Each boost adds this share of the base timeout (default 0.5). */
  boostPercent?: number | undefined;
  /** Send a ping after this long without receiving anything (0 or absent: no pings; LNC: 7000 client, 5000 server). */
  pingMs?: number | undefined;
  /** Close when nothing arrives this long after a ping (0 or absent: never; LNC: 3000). */
  pongMs?: number | undefined;
  /** How long a closing side tries to send its FIN (default 1000). */
  finSendTimeoutMs?: number | undefined;
}

/** Grows a timeout by a share of its base per boost. */
class TimeoutBooster {
  #count = 0;
  #lastBoost = -Infinity;
  #base: number;

  constructor(
    base: number,
    private readonly percent: number,
    private readonly frequencyLimited: boolean,
  ) {
    this.#base = base;
  }

  boost(now: number): void {
    if (this.frequencyLimited && now - this.#lastBoost < this.#base) return;
    this.#lastBoost = now;
    this.#count++;
  }

  reset(base: number, now: number): void {
    this.#count = 0;
    this.#base = base;
    if (this.frequencyLimited) this.#lastBoost = now;
  }

  get current(): number {
    return this.#base + this.#base * this.percent * this.#count;
  }
}

/** The timeouts of one gbn connection. */
export class GbnTimeouts {
  readonly #now: () => number;
  readonly #static: boolean;
  readonly #multiplier: number;
  readonly #frequency: number;
  readonly #resend: TimeoutBooster;
  readonly #handshake: TimeoutBooster;
  readonly #sentAt = new Map<number, number>();
  #synSentAt: number | undefined;
  #measured = false;
  #responses = 0;
  /** How long a closing side tries to send its FIN. */
  readonly finSendMs: number;
  /** Ping interval (Infinity: none). */
  readonly pingMs: number;
  /** Pong deadline after a ping (Infinity: none). */
  readonly pongMs: number;

  /**
   * @param options - the timing options (validated by the caller)
   * @param now - the clock
   */
  constructor(options: GbnTimeoutOptions, now: () => number) {
    this.#now = now;
    this.#static = options.staticResendTimeoutMs !== undefined;
    this.#multiplier = options.resendMultiplier ?? 5;
    this.#frequency = options.timeoutUpdateFrequency ?? 100;
    const boost = options.boostPercent ?? 0.5;
    this.#resend = new TimeoutBooster(options.staticResendTimeoutMs ?? 1000, boost, true);
    this.#handshake = new TimeoutBooster(options.handshakeTimeoutMs ?? 1000, boost, false);
    this.finSendMs = options.finSendTimeoutMs ?? 1000;
    this.pingMs = options.pingMs === undefined || options.pingMs === 0 ? Infinity : options.pingMs;
    this.pongMs = options.pongMs === undefined || options.pongMs === 0 ? Infinity : options.pongMs;
  }

  /** The current resend timeout (ms). */
  get resendMs(): number {
    return this.#resend.current;
  }

  /** The current handshake timeout (ms). */
  get handshakeMs(): number {
    return this.#handshake.current;
  }

  /**
   * Notes a packet sent.
   * @param packet - the packet (a SYN, or DATA; others are not timed)
   * @param resent - whether it is a resend (which boosts the timeout instead of timing it)
   */
  sent(packet: GbnPacket, resent: boolean): void {
    if (this.#static) return;
    const now = this.#now();
    if (packet.type === 'SYN') {
      if (!resent) {
        this.#synSentAt = now;
        return;
      }
      this.#synSentAt = undefined;
      this.#handshake.boost(now);
    } else if (packet.type === 'DATA') {
      if (resent) {
        this.#sentAt.delete(packet.seq);
        this.#resend.boost(now);
        return;
      }
      this.#sentAt.set(packet.seq, now);
    }
  }

  /**
   * Notes a packet received: a SYN or SYNACK answering our timed SYN, or the
   * ACK of a timed DATA, measures the round trip.
   * @param packet - the packet
   */
  received(packet: GbnPacket): void {
    if (this.#static) return;
    const now = this.#now();
    if (packet.type === 'SYN' || packet.type === 'SYNACK') {
      if (this.#synSentAt === undefined) return;
      const rtt = now - this.#synSentAt;
      this.#synSentAt = undefined;
      this.#update(rtt, now);
    } else if (packet.type === 'ACK') {
      const sentAt = this.#sentAt.get(packet.seq);
      if (sentAt === undefined) return;
      this.#sentAt.delete(packet.seq);
      this.#responses++;
      if (!this.#measured || this.#responses % this.#frequency === 0) {
        this.#responses = 0;
        this.#update(now - sentAt, now);
      }
    }
  }

  #update(rtt: number, now: number): void {
    this.#measured = true;
    this.#resend.reset(Math.max(GBN_MIN_RESEND_TIMEOUT_MS, this.#multiplier * rtt), now);
  }
}
