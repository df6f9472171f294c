/**
 * Opening a gbn connection: the client's and the server's handshake, as the
 * reference (lightning-node-connect's gbn) does them.
 *
 * - Client: sends SYN(N) and waits up to the handshake timeout for the
 *   server's SYN, ignoring anything else (leftovers of an older connection); on
 *   timeout it resends SYN with the timeout boosted by half. A SYN with another
 *   N fails; otherwise it sends SYNACK and is connected.
 * - Server: waits for a SYN, echoes it (adopting the client's N), then waits up
 *   to the handshake timeout for SYNACK. On timeout it starts over; after such
 *   a restart a SYNACK or a DATA packet also completes the handshake (the
 *   client, connected, already sends data), and a repeated SYN is echoed again.
 *
 * Unlike the reference: a DATA packet while the server waits for SYNACK
 * completes the handshake too, before a restart as after it (the reference
 * fails the handshake there, so a lost SYNACK followed at once by the client's
 * first message costs both sides a reconnect), and that DATA is handed to the
 * connection instead of dropped; a server refuses a window of 0 or 255 (which
 * would stall or overflow the sequence space); and either side can be given a
 * deadline through `signal`.
 *
 * @internal Not exported from the package.
 */
import { L402Error } from '../core/errors.js';
import { decodeGbnPacket, encodeGbnPacket, type GbnPacket } from './framing.js';
import { GbnConn } from './gbn-conn.js';
import { raceTimeout, realGbnTimers, type GbnTimers } from './gbn-timers.js';
import { GbnTimeouts, type GbnTimeoutOptions } from './gbn-timeouts.js';
import { GbnPacketReader, type GbnTransport } from './gbn-transport.js';

/** The window the reference's client proposes. */
export const GBN_DEFAULT_N = 20;

/** Options of {@link gbnConnect} and {@link gbnAccept}. */
export interface GbnOptions extends GbnTimeoutOptions {
  /** The window a client proposes (1-254; default 20); a server adopts the client's. */
  n?: number | undefined;
  /** Split messages into DATA packets of at most this many bytes (default 0: never, as LNC). */
  maxChunkSize?: number | undefined;
  /** The largest message accepted from the peer (default 4 MiB, the hashmail limit). */
  maxMessageBytes?: number | undefined;
  /** At most this many callers may wait in `send` (default 64). */
  maxPendingSends?: number | undefined;
  /** Called when the peer sends FIN (the mailbox reads it as "session not found"). */
  onFin?: (() => void) | undefined;
  /** Aborting it fails the handshake, or closes the connection once open. */
  signal?: AbortSignal | undefined;
  /** The clock; default the real one. */
  timers?: GbnTimers | undefined;
}

/** The options LNC's mailbox client uses (aperture, lnc-web): 2 s handshake, RTT sampled every 200 ACKs, ping 7 s, pong 3 s. */
export const LNC_CLIENT_GBN_OPTIONS: Readonly<GbnOptions> = Object.freeze({
  n: GBN_DEFAULT_N,
  handshakeTimeoutMs: 2000,
  resendMultiplier: 5,
  timeoutUpdateFrequency: 200,
  boostPercent: 0.5,
  pingMs: 7000,
  pongMs: 3000,
});

/** The options LNC's node side uses (litd): as the client, with pings every 5 s. */
export const LNC_SERVER_GBN_OPTIONS: Readonly<GbnOptions> = Object.freeze({ ...LNC_CLIENT_GBN_OPTIONS, pingMs: 5000 });

const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_PENDING_SENDS = 64;

/**
 * Opens a gbn connection as the client (the side that sends SYN).
 * @param transport - the packet transport; closed when the handshake fails or the connection closes
 * @param options - window, timeouts, limits, clock
 * @returns the connection, once the server answered
 * @throws L402Error `L402_ERR_LNC_GBN_INVALID_OPTION` for a bad option, `L402_ERR_LNC_GBN_HANDSHAKE_FAILED`
 *   when the server's N differs, `L402_ERR_LNC_GBN_CLOSED` when `signal` aborts, `L402_ERR_LNC_GBN_TRANSPORT`
 *   or `L402_ERR_LNC_PACKET_MALFORMED` when the transport fails or carries garbage
 */
export function gbnConnect(transport: GbnTransport, options: GbnOptions = {}): Promise<GbnConn> {
  return open('client', transport, options);
}

/**
 * Opens a gbn connection as the server (the side that waits for SYN).
 * @param transport - the packet transport; closed when the handshake fails or the connection closes
 * @param options - timeouts, limits, clock (the window comes from the client)
 * @returns the connection, once the client's SYNACK (or, after a restart, its first DATA) arrived
 * @throws L402Error as {@link gbnConnect}; `L402_ERR_LNC_GBN_HANDSHAKE_FAILED` also for a window of 0 or 255
 *   or an ACK, NACK or FIN while waiting for SYNACK
 */
export function gbnAccept(transport: GbnTransport, options: GbnOptions = {}): Promise<GbnConn> {
  return open('server', transport, options);
}

/** The handshake's view of the link. */
interface Link {
  readonly transport: GbnTransport;
  readonly reader: GbnPacketReader;
  readonly abort: AbortController;
  readonly timers: GbnTimers;
  readonly timeouts: GbnTimeouts;
  /** Rejects once `abort` aborts: every wait of the handshake races it, whatever the transport does with the signal. */
  readonly aborted: Promise<never>;
}

async function open(role: 'client' | 'server', transport: GbnTransport, options: GbnOptions): Promise<GbnConn> {
  validate(options);
  const timers = options.timers ?? realGbnTimers;
  const abort = new AbortController();
  const link: Link = {
    transport,
    reader: new GbnPacketReader(transport, abort.signal),
    abort,
    timers,
    timeouts: new GbnTimeouts(options, () => timers.now()),
    aborted: new Promise<never>((_, reject) =>
      abort.signal.addEventListener(
        'abort',
        () => reject(new L402Error('L402_ERR_LNC_GBN_CLOSED', `the gbn ${role} handshake was aborted`)),
        {
          once: true,
        },
      ),
    ),
  };
  link.aborted.catch(() => undefined);
  const outer = options.signal;
  const onAbort = (): void => abort.abort();
  if (outer?.aborted === true) abort.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  let opened: Opened;
  try {
    opened = role === 'client' ? { n: await clientHandshake(link, options.n ?? GBN_DEFAULT_N) } : await serverHandshake(link);
  } catch (error) {
    const aborted = abort.signal.aborted;
    outer?.removeEventListener('abort', onAbort);
    await failHandshake(link);
    if (aborted && !(error instanceof L402Error && error.code === 'L402_ERR_LNC_GBN_CLOSED')) {
      throw new L402Error('L402_ERR_LNC_GBN_CLOSED', `the gbn ${role} handshake was aborted`, { cause: error });
    }
    throw error;
  }
  const conn = new GbnConn({
    role,
    n: opened.n,
    first: opened.first,
    transport,
    reader: link.reader,
    abort,
    timers,
    timeouts: link.timeouts,
    maxChunkSize: options.maxChunkSize ?? 0,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxPendingSends: options.maxPendingSends ?? DEFAULT_MAX_PENDING_SENDS,
    onFin: options.onFin,
  });
  if (outer !== undefined) {
    outer.removeEventListener('abort', onAbort);
    const onLaterAbort = (): void => void conn.close();
    outer.addEventListener('abort', onLaterAbort, { once: true });
    void conn.closed.then(() => outer.removeEventListener('abort', onLaterAbort));
  }
  return conn;
}

async function clientHandshake(link: Link, n: number): Promise<number> {
  let resent = false;
  for (;;) {
    const syn: GbnPacket = { type: 'SYN', n };
    await send(link, syn);
    link.timeouts.sent(syn, resent);
    const answer = await waitFor(link, link.timeouts.handshakeMs, (packet) => packet.type === 'SYN');
    if (answer === undefined) {
      resent = true;
      continue;
    }
    if (answer.type !== 'SYN' || answer.n !== n) {
      throw new L402Error('L402_ERR_LNC_GBN_HANDSHAKE_FAILED', `the gbn server answered a window of ${describe(answer)}, not ${n}`);
    }
    link.timeouts.received(answer);
    await send(link, { type: 'SYNACK' });
    return n;
  }
}

/** The window, and the client's first DATA when it ended the server's handshake. */
interface Opened {
  readonly n: number;
  readonly first?: GbnPacket | undefined;
}

async function serverHandshake(link: Link): Promise<Opened> {
  let resent = false;
  let n = 0;
  for (;;) {
    let packet = await waitFor(link, Infinity, (p) => p.type === 'SYN' || (resent && (p.type === 'SYNACK' || p.type === 'DATA')));
    if (packet === undefined) continue;
    if (packet.type !== 'SYN') {
      // After a restart the client may already be connected: its SYNACK was lost.
      link.timeouts.received(packet);
      return { n, first: packet.type === 'DATA' ? packet : undefined };
    }
    for (;;) {
      n = (packet as Extract<GbnPacket, { type: 'SYN' }>).n;
      if (n === 0 || n === 255) {
        throw new L402Error('L402_ERR_LNC_GBN_HANDSHAKE_FAILED', `a gbn client asked for a window of ${n} (1-254 are usable)`);
      }
      await send(link, { type: 'SYN', n });
      link.timeouts.sent(packet, resent);
      const answer = await waitFor(link, link.timeouts.handshakeMs, () => true);
      if (answer === undefined) {
        // No SYNACK in time: wait for the client to start again.
        resent = true;
        break;
      }
      if (answer.type === 'SYNACK' || answer.type === 'DATA') {
        // DATA: the client is connected and its SYNACK was lost (the reference fails here unless it restarted).
        link.timeouts.received(answer);
        return { n, first: answer.type === 'DATA' ? answer : undefined };
      }
      if (answer.type !== 'SYN') {
        throw new L402Error('L402_ERR_LNC_GBN_HANDSHAKE_FAILED', `a gbn ${answer.type} packet while waiting for the client's SYNACK`);
      }
      resent = true;
      packet = answer;
    }
  }
}

/** The next packet `wanted` accepts within `ms`, skipping others; undefined on timeout. */
async function waitFor(link: Link, ms: number, wanted: (packet: GbnPacket) => boolean): Promise<GbnPacket | undefined> {
  const deadline = ms === Infinity ? Infinity : link.timers.now() + ms;
  for (;;) {
    const left = deadline === Infinity ? Infinity : Math.max(0, deadline - link.timers.now());
    let raced;
    try {
      raced = await raceTimeout(Promise.race([link.reader.next(), link.aborted]), left, link.timers);
    } catch (error) {
      if (link.abort.signal.aborted) throw error;
      throw new L402Error('L402_ERR_LNC_GBN_TRANSPORT', `the gbn transport failed to receive: ${messageOf(error)}`, { cause: error });
    }
    if (!raced.done) return undefined;
    link.reader.taken();
    const packet = decodeGbnPacket(raced.value);
    if (wanted(packet)) return packet;
  }
}

async function send(link: Link, packet: GbnPacket): Promise<void> {
  try {
    await Promise.race([link.transport.send(encodeGbnPacket(packet), link.abort.signal), link.aborted]);
  } catch (error) {
    if (link.abort.signal.aborted) throw error;
    throw new L402Error('L402_ERR_LNC_GBN_TRANSPORT', `the gbn transport failed to send: ${messageOf(error)}`, { cause: error });
  }
}

/** As the reference, a failed handshake still says FIN (best effort), then releases the transport. */
async function failHandshake(link: Link): Promise<void> {
  if (!link.abort.signal.aborted) {
    try {
      await raceTimeout(link.transport.send(encodeGbnPacket({ type: 'FIN' }), link.abort.signal), link.timeouts.finSendMs, link.timers);
    } catch {
      // Best effort.
    }
  }
  link.abort.abort();
  try {
    link.transport.close();
  } catch {
    // Released anyway.
  }
}

function describe(packet: GbnPacket): string {
  return packet.type === 'SYN' ? String(packet.n) : packet.type;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function validate(options: GbnOptions): void {
  const problems: string[] = [];
  const check = (name: keyof GbnOptions, ok: (v: number) => boolean, what: string): void => {
    const value = options[name];
    if (value === undefined) return;
    if (typeof value !== 'number' || Number.isNaN(value) || !ok(value)) problems.push(`${name} must be ${what}, not ${String(value)}`);
  };
  const nonNegative = (v: number): boolean => v >= 0 && Number.isFinite(v);
  const positiveInt = (v: number): boolean => Number.isSafeInteger(v) && v > 0;
  check('n', (v) => Number.isInteger(v) && v >= 1 && v <= 254, 'an integer from 1 to 254');
  check('handshakeTimeoutMs', (v) => v > 0 && Number.isFinite(v), 'a positive number of ms');
  check('staticResendTimeoutMs', (v) => v > 0 && Number.isFinite(v), 'a positive number of ms');
  check('resendMultiplier', positiveInt, 'a positive integer');
  check('timeoutUpdateFrequency', positiveInt, 'a positive integer');
  check('boostPercent', (v) => v >= 0 && Number.isFinite(v), 'a number >= 0');
  check('pingMs', nonNegative, 'a number of ms >= 0 (0: no pings)');
  check('pongMs', nonNegative, 'a number of ms >= 0 (0: no deadline)');
  check('finSendTimeoutMs', nonNegative, 'a number of ms >= 0');
  check('maxChunkSize', (v) => Number.isSafeInteger(v) && v >= 0, 'an integer >= 0 (0: no splitting)');
  check('maxMessageBytes', positiveInt, 'a positive integer');
  check('maxPendingSends', positiveInt, 'a positive integer');
  if (problems.length > 0) throw new L402Error('L402_ERR_LNC_GBN_INVALID_OPTION', `gbn options: ${problems.join('; ')}`);
}
