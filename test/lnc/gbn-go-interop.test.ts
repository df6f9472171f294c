// Our gbn against the Go reference (lightning-node-connect's gbn at the pin
// aperture v0.5.0 runs): test/go/lnc/cmd/gbn-peer runs Go's gbn over
// stdin/stdout (each packet framed as a 4-byte big-endian length and its
// bytes), and this test plays the other side in both roles, on real timers with
// the mailbox's options: our client against Go's server and Go's client
// against our server, hundreds of messages of varying size both ways, on a
// clean link and on one where this side drops a few DATA, ACK and NACK packets
// in both directions; each side closes once. Needs Go and the Go module proxy
// (scripts/build-go-tools.ts builds and caches gbn-peer on first use); skips
// visibly without Go, except under CI, where it fails.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { buildTool, goCommand } from '../../scripts/build-go-tools.js';
import { mustRun } from '../regtest/go-binaries.js';
import { decodeGbnPacket, type GbnPacket } from '../../src/lnc/framing.js';
import { gbnAccept, gbnConnect, LNC_CLIENT_GBN_OPTIONS, LNC_SERVER_GBN_OPTIONS } from '../../src/lnc/gbn-connect.js';
import type { GbnConn } from '../../src/lnc/gbn-conn.js';
import type { GbnTransport } from '../../src/lnc/gbn-transport.js';
import { PacketInbox } from '../fixtures/packet-inbox.js';

function gbnPeer(): { path: string } | { reason: string } {
  const go = goCommand();
  if (go === undefined) {
    return { reason: 'Go is not installed (the Go module proxy fetches lightning-node-connect/gbn: see README, Development)' };
  }
  try {
    return { path: buildTool('gbn-peer', go).path };
  } catch (error) {
    return { reason: `gbn-peer did not build: ${error instanceof Error ? error.message : String(error)}` };
  }
}

const peer = gbnPeer();

/** The i-th message of a side, as gbn-peer builds it. */
function message(side: 'go' | 'ts', i: number): Buffer {
  return Buffer.from(`${side} ${i} ${'x'.repeat((i * 37) % 1500)}`);
}

/** Drops the DATA, ACK and NACK packets at these 1-based positions (counting only those three types; never a handshake packet or FIN). */
function dropper(positions: readonly number[]): (packet: GbnPacket) => boolean {
  let seen = 0;
  return (packet) => ['DATA', 'ACK', 'NACK'].includes(packet.type) && positions.includes(++seen);
}

/** gbn packets over the child's stdin/stdout, with optional losses both ways. */
class ChildTransport implements GbnTransport {
  // Packets read before gbn-peer's stdout ended are still received after it.
  readonly #inbox = new PacketInbox('gbn-peer transport closed', true);
  #buffered = Buffer.alloc(0);
  #peerGone = false;
  dropped = 0;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly dropOut: (p: GbnPacket) => boolean,
    private readonly dropIn: (p: GbnPacket) => boolean,
  ) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      while (this.#buffered.length >= 4 && this.#buffered.length >= 4 + this.#buffered.readUInt32BE(0)) {
        const packet = this.#buffered.subarray(4, 4 + this.#buffered.readUInt32BE(0));
        this.#buffered = this.#buffered.subarray(4 + packet.length);
        if (this.dropIn(decodeGbnPacket(packet))) {
          this.dropped++;
          continue;
        }
        this.#inbox.deliver(Buffer.from(packet));
      }
    });
    child.stdout.on('end', () => this.#end());
    // Once gbn-peer exits (after its FIN), a late write (an ACK) fails with EPIPE while its last
    // packets may still be unread here: like a packet to a host that left, it just vanishes.
    child.stdin.on('error', () => (this.#peerGone = true));
  }

  send(packet: Uint8Array): Promise<void> {
    if (this.#inbox.closed) return Promise.reject(new Error('gbn-peer is gone'));
    if (this.dropOut(decodeGbnPacket(packet))) {
      this.dropped++;
      return Promise.resolve();
    }
    const header = Buffer.alloc(4);
    header.writeUInt32BE(packet.length);
    if (this.#peerGone) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.child.stdin.write(Buffer.concat([header, packet]), () => resolve());
    });
  }

  receive(signal: AbortSignal): Promise<Uint8Array> {
    return this.#inbox.receive(signal);
  }

  close(): void {
    this.#end();
  }

  #end(): void {
    this.#inbox.close();
  }
}

interface Scenario {
  /** Our role; gbn-peer takes the other. */
  ours: 'client' | 'server';
  count: number;
  /** Who closes after the exchange. */
  closer: 'go' | 'ts';
  /** Drop the DATA/ACK/NACK packets at these positions, each way. */
  drops: readonly number[];
}

async function exchange(conn: GbnConn, count: number): Promise<void> {
  const sending = (async () => {
    for (let i = 0; i < count; i++) await conn.send(message('ts', i));
  })();
  const receiving = (async () => {
    for (let i = 0; i < count; i++) {
      const got = await conn.recv();
      assert.ok(got.equals(message('go', i)), `message ${i} from Go: ${got.subarray(0, 20).toString()}…`);
    }
  })();
  await Promise.all([sending, receiving]);
  await conn.send(Buffer.from('ts done'));
  assert.equal((await conn.recv()).toString(), 'go done');
}

async function run(t: TestContext, scenario: Scenario): Promise<void> {
  if ('reason' in peer) {
    if (mustRun) assert.fail(`${peer.reason}; CI must run the Go gbn interop test`);
    t.skip(peer.reason);
    return;
  }
  const theirs = scenario.ours === 'client' ? 'server' : 'client';
  const child = spawn(peer.path, [`-role=${theirs}`, `-count=${scenario.count}`, `-close=${scenario.closer}`], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const transport = new ChildTransport(child, dropper(scenario.drops), dropper(scenario.drops));
  try {
    const conn =
      scenario.ours === 'client'
        ? await gbnConnect(transport, { ...LNC_CLIENT_GBN_OPTIONS })
        : await gbnAccept(transport, { ...LNC_SERVER_GBN_OPTIONS });
    assert.equal(conn.n, 20);
    await exchange(conn, scenario.count);
    if (scenario.closer === 'ts') {
      await conn.close();
      assert.equal((await conn.closed).code, 'L402_ERR_LNC_GBN_CLOSED');
    } else {
      assert.equal((await conn.closed).code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED', 'Go said FIN');
    }
    assert.equal(await exited, 0, `gbn-peer failed: ${stderr}`);
    assert.match(stderr, new RegExp(`exchanged ${scenario.count} messages each way, closed by ${scenario.closer}`));
    assert.equal(transport.dropped, scenario.drops.length * 2, 'every planned loss happened');
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\ngbn-peer stderr: ${stderr}`, { cause: error });
  } finally {
    if (child.exitCode === null) child.kill();
    await exited;
  }
}

// Losses: two in a row early on, one mid-stream, one near the end, in each direction: each costs the
// reference's protocol a NACK-driven or timed resend and a wait for sync (up to 3 resend timeouts,
// the timeout growing by half per resend), so a steady loss rate would make the run take minutes.
const LOSSES = [25, 26, 90, 160];

test('our gbn client against the Go server: 500 messages each way, Go closes', { timeout: 120_000 }, (t) =>
  run(t, { ours: 'client', count: 500, closer: 'go', drops: [] }),
);

test('the Go client against our gbn server: 500 messages each way, we close', { timeout: 120_000 }, (t) =>
  run(t, { ours: 'server', count: 500, closer: 'ts', drops: [] }),
);

test('our client against the Go server, with DATA, ACK and NACK packets lost both ways', { timeout: 180_000 }, (t) =>
  run(t, { ours: 'client', count: 200, closer: 'ts', drops: LOSSES }),
);

test('the Go client against our server, with DATA, ACK and NACK packets lost both ways', { timeout: 180_000 }, (t) =>
  run(t, { ours: 'server', count: 200, closer: 'go', drops: LOSSES }),
);
