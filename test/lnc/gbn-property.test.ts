// Property: over a link that drops, duplicates and swaps packets (in both
// directions, from the first SYN on), with pings running, every message sent
// either way arrives exactly once and in order, for windows from 1 to 20.
// Client handshake packets are only dropped, never duplicated or held back: a
// client SYN reaching the server after its handshake means a restarted client
// (a new connection, as in the reference). Only DATA packets are held back,
// and only with a window of 2 or more: go-back-N with s = N + 1 sequence
// numbers (the reference's protocol) assumes FIFO order, which the mailbox
// streams give. Out of order, an old ACK or NACK can pass for a new one at any
// N (a NACK of the next sequence number means "all arrived"), and with N = 1
// (s = 2) so can an old DATA packet overtaken by one other; an adjacent swap
// of DATA cannot alias with N >= 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GbnPacket } from '../../src/lnc/framing.js';
import type { GbnConn } from '../../src/lnc/gbn-conn.js';
import { connectBoth, newLink, type Fault } from './gbn-harness.js';

const fault = fc.constantFrom<Fault>('deliver', 'deliver', 'deliver', 'drop', 'drop', 'duplicate', 'hold');

/** Receives into `got` until closed. */
function collect(conn: GbnConn, got: string[]): void {
  const next = (): void => {
    conn.recv().then(
      (m) => {
        got.push(m.toString());
        next();
      },
      () => undefined,
    );
  };
  next();
}

test('property: every message arrives exactly once and in order over a lossy, duplicating, reordering link', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 3, 5, 20),
      fc.array(fc.string({ maxLength: 6 }), { maxLength: 40 }),
      fc.array(fc.string({ maxLength: 6 }), { maxLength: 40 }),
      fc.array(fault, { maxLength: 120 }),
      fc.array(fault, { maxLength: 120 }),
      async (n, upMessages, downMessages, upFaults, downFaults) => {
        const link = newLink();
        const allowed = (p: GbnPacket, f: Fault | undefined): Fault =>
          f === undefined || (f === 'hold' && (n === 1 || p.type !== 'DATA')) ? 'deliver' : f;
        link.up.fault = (p, i) => {
          const f = allowed(p, upFaults[i]);
          return (p.type === 'SYN' || p.type === 'SYNACK') && f !== 'drop' ? 'deliver' : f;
        };
        link.down.fault = (p, i) => allowed(p, downFaults[i]);
        const keepalive = { pingMs: 2000, pongMs: 600_000 };
        const { client, server } = await connectBoth(link, { n, ...keepalive }, keepalive, 600_000);
        const atServer: string[] = [];
        const atClient: string[] = [];
        collect(server, atServer);
        collect(client, atClient);
        const send = async (conn: GbnConn, messages: string[]): Promise<void> => {
          for (const m of messages) await conn.send(Buffer.from(m));
        };
        void send(client, upMessages);
        void send(server, downMessages);
        const done = await link.timers.until(
          () =>
            (atServer.length >= upMessages.length && atClient.length >= downMessages.length) ||
            client.closeReason !== undefined ||
            server.closeReason !== undefined,
          600_000,
          250,
        );
        // A little longer: a duplicate would show up now.
        await link.timers.advance(5000);
        assert.equal(client.closeReason, undefined, `client closed: ${client.closeReason?.message}`);
        assert.equal(server.closeReason, undefined, `server closed: ${server.closeReason?.message}`);
        assert.ok(done, `not all delivered: ${atServer.length}/${upMessages.length} up, ${atClient.length}/${downMessages.length} down`);
        assert.deepEqual(atServer, upMessages);
        assert.deepEqual(atClient, downMessages);
        // The FIN on a clean link (a lost FIN is the keepalive's business).
        link.up.fault = () => 'deliver';
        link.up.release();
        await client.close();
        await link.timers.advance(0);
        assert.equal((server.closeReason as { code?: string } | undefined)?.code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
      },
    ),
    { numRuns: 100 },
  );
});
