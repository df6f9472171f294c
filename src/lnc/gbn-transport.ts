/**
 * The unreliable message transport under gbn (in LNC, the two hashmail
 * streams of a session: one mailbox message is one gbn packet), and a reader
 * over it that keeps an unfinished receive across timeouts so that no packet
 * is lost when a wait gives up.
 *
 * @internal Not exported from the package.
 */

/**
 * A message transport that may lose, duplicate or reorder messages but never
 * alters one. `send` may be called again before an earlier call settled (ACKs
 * and DATA go out concurrently); messages leave in call order.
 */
export interface GbnTransport {
  /** Sends one packet; an abort of `signal` ends the wait (the packet may or may not have left). */
  send(packet: Uint8Array, signal: AbortSignal): Promise<void>;
  /** The next packet; rejects when the transport ends or `signal` aborts. */
  receive(signal: AbortSignal): Promise<Uint8Array>;
  /** Releases the transport; called once when the gbn connection closes. */
  close(): void;
}

/** One outstanding receive at a time, kept until someone takes its packet. */
export class GbnPacketReader {
  #pending: Promise<Uint8Array> | undefined;

  constructor(
    private readonly transport: GbnTransport,
    private readonly signal: AbortSignal,
  ) {}

  /** The next packet: the outstanding receive, or a new one. Call {@link GbnPacketReader.taken} once it is used. */
  next(): Promise<Uint8Array> {
    if (this.#pending === undefined) {
      const pending = this.transport.receive(this.signal);
      // A receive left behind by a timeout may reject at close with nobody waiting.
      pending.catch(() => undefined);
      this.#pending = pending;
    }
    return this.#pending;
  }

  /** The packet of {@link GbnPacketReader.next} was used: the next call receives a new one. */
  taken(): void {
    this.#pending = undefined;
  }
}
