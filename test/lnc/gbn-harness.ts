// The test bench of gbn: a fake clock that moves only when told, and an
// in-memory link of two one-way pipes that can drop, duplicate or hold back
// (reorder) any packet, recording what was sent.
import { decodeGbnPacket, type GbnPacket } from '../../src/lnc/framing.js';
import { gbnAccept, gbnConnect, type GbnOptions } from '../../src/lnc/gbn-connect.js';
import type { GbnConn } from '../../src/lnc/gbn-conn.js';
import type { GbnTransport } from '../../src/lnc/gbn-transport.js';
import { FakeTimers, settle, track } from '../fixtures/fake-timers.js';
import { PacketInbox } from '../fixtures/packet-inbox.js';

export { FakeTimers, settle, track };

/** What happens to one packet on a pipe. */
export type Fault = 'deliver' | 'drop' | 'duplicate' | 'hold';

/** One direction of the link. */
export class Pipe {
  /** Every packet sent into the pipe, decoded, in order (dropped ones too). */
  readonly sent: GbnPacket[] = [];
  /** The fake time of each packet of {@link Pipe.sent}. */
  readonly sentAt: number[] = [];
  /** Decides each packet's fate (by default every packet is delivered). */
  fault: (packet: GbnPacket, index: number) => Fault = () => 'deliver';
  readonly #inbox = new PacketInbox('pipe closed', false);
  #held: Buffer | undefined;

  constructor(private readonly now: () => number = () => 0) {}

  /** Packets of `type` sent so far. */
  count(type: GbnPacket['type']): number {
    return this.sent.filter((p) => p.type === type).length;
  }

  /** Puts a packet in, subject to {@link Pipe.fault}. */
  push(bytes: Uint8Array): void {
    const copy = Buffer.from(bytes);
    const packet = decodeGbnPacket(copy);
    const fate = this.fault(packet, this.sent.length);
    this.sent.push(packet);
    this.sentAt.push(this.now());
    if (fate === 'drop') return;
    if (fate === 'hold') {
      // Held back until the next packet passes: two packets swap places.
      if (this.#held !== undefined) this.#deliver(this.#held);
      this.#held = copy;
      return;
    }
    this.#deliver(copy);
    if (fate === 'duplicate') this.#deliver(copy);
    if (this.#held !== undefined) {
      const held = this.#held;
      this.#held = undefined;
      this.#deliver(held);
    }
  }

  /** Delivers raw bytes as they are (not decoded, no fault applied). */
  inject(bytes: Uint8Array): void {
    this.#deliver(Buffer.from(bytes));
  }

  /** Delivers a packet that was held back, if any. */
  release(): void {
    if (this.#held === undefined) return;
    const held = this.#held;
    this.#held = undefined;
    this.#deliver(held);
  }

  #deliver(bytes: Buffer): void {
    this.#inbox.deliver(bytes);
  }

  receive(signal: AbortSignal): Promise<Buffer> {
    return this.#inbox.receive(signal);
  }

  /** Ends the pipe: waiting receives reject, later packets vanish. */
  close(): void {
    this.#inbox.close();
  }
}

/** A transport whose packets go into `out` and come from `inbox`. */
export class PipeTransport implements GbnTransport {
  closed = false;
  /** When set, sends fail with this error. */
  failSends: Error | undefined;

  constructor(
    readonly out: Pipe,
    readonly inbox: Pipe,
  ) {}

  send(packet: Uint8Array): Promise<void> {
    if (this.failSends !== undefined) return Promise.reject(this.failSends);
    if (this.closed) return Promise.reject(new Error('transport closed'));
    this.out.push(packet);
    return Promise.resolve();
  }

  receive(signal: AbortSignal): Promise<Uint8Array> {
    return this.inbox.receive(signal);
  }

  close(): void {
    this.closed = true;
    this.inbox.close();
  }
}

/** Both ends of an in-memory link. */
export interface Link {
  readonly timers: FakeTimers;
  /** Client → server. */
  readonly up: Pipe;
  /** Server → client. */
  readonly down: Pipe;
  readonly clientTransport: PipeTransport;
  readonly serverTransport: PipeTransport;
}

/** A fresh link on a fresh fake clock. */
export function newLink(): Link {
  const timers = new FakeTimers();
  const up = new Pipe(timers.now);
  const down = new Pipe(timers.now);
  return { timers, up, down, clientTransport: new PipeTransport(up, down), serverTransport: new PipeTransport(down, up) };
}

/** Connects a client and a server over `link`; fails when they are not connected within `limitMs` of fake time. */
export async function connectBoth(
  link: Link,
  client: GbnOptions = {},
  server: GbnOptions = {},
  limitMs = 60_000,
): Promise<{ client: GbnConn; server: GbnConn }> {
  const s = track(gbnAccept(link.serverTransport, { timers: link.timers, ...server }));
  const c = track(gbnConnect(link.clientTransport, { timers: link.timers, ...client }));
  const ok = await link.timers.until(() => s.state !== 'pending' && c.state !== 'pending', limitMs);
  if (!ok) throw new Error(`not connected within ${limitMs} ms of fake time`);
  if (s.state === 'rejected') throw s.error;
  if (c.state === 'rejected') throw c.error;
  return { client: c.value as GbnConn, server: s.value as GbnConn };
}

/** Receives `count` messages from `conn`, advancing the clock; fails after `limitMs` of fake time. */
export async function receiveAll(timers: FakeTimers, conn: GbnConn, count: number, limitMs = 120_000): Promise<string[]> {
  const got: string[] = [];
  let failure: unknown;
  let waiting = false;
  const pump = (): void => {
    if (waiting || got.length >= count || failure !== undefined) return;
    waiting = true;
    conn.recv().then(
      (m) => {
        waiting = false;
        got.push(m.toString());
        pump();
      },
      (e: unknown) => {
        failure = e;
      },
    );
  };
  pump();
  const ok = await timers.until(() => got.length >= count || failure !== undefined, limitMs);
  if (failure !== undefined) throw failure;
  if (!ok) throw new Error(`received ${got.length} of ${count} messages within ${limitMs} ms of fake time`);
  return got;
}

/** Sends every message in order (each awaited, as a stream writer does), advancing the clock as needed. */
export function sendAll(conn: GbnConn, messages: readonly string[]): Promise<void> {
  return messages.reduce<Promise<void>>((chain, m) => chain.then(() => conn.send(Buffer.from(m))), Promise.resolve());
}
