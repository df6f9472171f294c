// gbn over an in-memory link on a fake clock: the scenarios of the reference's
// gbn_conn_test.go (normal, dropped data, dropped ACKs, duplicates, both ways,
// N sends before an ACK, dropped first packets, every third packet dropped,
// many messages, resend after timeout, payload splitting) and the rest of the
// behaviour: the wire bytes, window full and backpressure, keepalive, close
// from both sides, handshake loss and restart, refusals and coded errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { L402Error } from '../../src/core/errors.js';
import { encodeGbnPacket } from '../../src/lnc/framing.js';
import { gbnAccept, gbnConnect, LNC_CLIENT_GBN_OPTIONS, LNC_SERVER_GBN_OPTIONS } from '../../src/lnc/gbn-connect.js';
import { connectBoth, newLink, receiveAll, sendAll, track, type Link } from './gbn-harness.js';

function code(error: unknown): string | undefined {
  return error instanceof L402Error ? error.code : undefined;
}

/** Drops the first `count` packets of `type` on a pipe. */
function dropFirst(type: string, count: number): (p: { type: string }) => 'drop' | 'deliver' {
  let seen = 0;
  return (p) => (p.type === type && seen++ < count ? 'drop' : 'deliver');
}

async function noMore(link: Link, conn: { recv(): Promise<Buffer>; setRecvTimeout(ms: number): void }): Promise<void> {
  conn.setRecvTimeout(5000);
  const extra = track(conn.recv());
  await link.timers.advance(5001);
  assert.equal(extra.state, 'rejected', `an extra message arrived: ${String(extra.value)}`);
  assert.equal(code(extra.error), 'L402_ERR_LNC_GBN_TIMEOUT');
  conn.setRecvTimeout(Infinity);
}

test('normal: the handshake and two messages, byte for byte on the wire', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  assert.equal(client.n, 2);
  assert.equal(server.n, 2, 'the server adopts the client window');
  await client.send(Buffer.from('payload 1'));
  await client.send(Buffer.from('payload 2'));
  assert.deepEqual(await receiveAll(link.timers, server, 2), ['payload 1', 'payload 2']);
  const up = link.up.sent.map((p) => encodeGbnPacket(p).toString('hex'));
  const down = link.down.sent.map((p) => encodeGbnPacket(p).toString('hex'));
  assert.deepEqual(up, [
    '0102',
    '06',
    '02000100' + Buffer.from('payload 1').toString('hex'),
    '02010100' + Buffer.from('payload 2').toString('hex'),
  ]);
  assert.deepEqual(down, ['0102', '0300', '0301']);
  await client.close();
  await server.closed;
});

test('a dropped DATA packet is NACKed and the window resent', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  link.up.fault = dropFirst('DATA', 1);
  await sendAll(client, ['payload 1', 'payload 2']);
  assert.deepEqual(await receiveAll(link.timers, server, 2), ['payload 1', 'payload 2']);
  assert.ok(
    link.down.sent.some((p) => p.type === 'NACK' && p.seq === 0),
    'the server asked for 0 again',
  );
  await noMore(link, server);
  await client.close();
});

test('dropped ACKs: the resend timer resends, the receiver NACKs the duplicates, nothing is delivered twice', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 3 });
  link.down.fault = dropFirst('ACK', 3);
  await sendAll(client, ['payload 1', 'payload 2', 'payload 3']);
  const fourth = track(client.send(Buffer.from('payload 4')));
  assert.deepEqual(await receiveAll(link.timers, server, 3), ['payload 1', 'payload 2', 'payload 3']);
  await link.timers.until(() => fourth.state !== 'pending', 10_000);
  assert.equal(fourth.state, 'resolved', 'the window opened after the resend');
  assert.deepEqual(await receiveAll(link.timers, server, 1), ['payload 4']);
  assert.ok(
    link.down.sent.some((p) => p.type === 'NACK' && p.seq === 3),
    'NACK(top) told the sender all had arrived',
  );
  await noMore(link, server);
  await client.close();
});

test('duplicated DATA is delivered once', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  link.up.fault = (p) => (p.type === 'DATA' ? 'duplicate' : 'deliver');
  await sendAll(client, ['payload 1', 'payload 2']);
  assert.deepEqual(await receiveAll(link.timers, server, 2), ['payload 1', 'payload 2']);
  await noMore(link, server);
  await client.close();
});

test('duplicated DATA and ACKs: delivered once, both ways', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  link.up.fault = () => 'duplicate';
  link.down.fault = () => 'duplicate';
  await Promise.all([sendAll(client, ['c1', 'c2', 'c3']), sendAll(server, ['s1', 's2', 's3'])]);
  assert.deepEqual(await receiveAll(link.timers, server, 3), ['c1', 'c2', 'c3']);
  assert.deepEqual(await receiveAll(link.timers, client, 3), ['s1', 's2', 's3']);
  await noMore(link, server);
  await noMore(link, client);
  await client.close();
});

test('bidirectional: both send before either reads', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  await sendAll(client, ['payload 1', 'payload 2']);
  await sendAll(server, ['payload 3', 'payload 4']);
  assert.deepEqual(await receiveAll(link.timers, client, 2), ['payload 3', 'payload 4']);
  assert.deepEqual(await receiveAll(link.timers, server, 2), ['payload 1', 'payload 2']);
  await server.close();
  await client.closed;
});

test('bidirectional, interleaved (the reference Bidirectional2)', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  const serverSide = (async () => {
    await server.send(Buffer.from('payload 1'));
    assert.equal((await server.recv()).toString(), 'payload 2');
    await sendAll(server, ['payload 3', 'payload 4', 'payload 5']);
    assert.equal((await server.recv()).toString(), 'payload 6');
    assert.equal((await server.recv()).toString(), 'payload 7');
    await server.send(Buffer.from('payload 8'));
    assert.equal((await server.recv()).toString(), 'payload 9');
  })();
  const clientSide = (async () => {
    assert.equal((await client.recv()).toString(), 'payload 1');
    await client.send(Buffer.from('payload 2'));
    for (const want of ['payload 3', 'payload 4', 'payload 5']) assert.equal((await client.recv()).toString(), want);
    await sendAll(client, ['payload 6', 'payload 7']);
    assert.equal((await client.recv()).toString(), 'payload 8');
    await client.send(Buffer.from('payload 9'));
  })();
  const both = track(Promise.all([serverSide, clientSide]));
  assert.ok(await link.timers.until(() => both.state !== 'pending', 30_000));
  if (both.state === 'rejected') throw both.error;
  await client.close();
});

test('N sends complete before any ACK; the next waits for one (window full)', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 3 });
  link.down.fault = () => 'drop';
  const sends = ['a', 'b', 'c', 'd'].map((m) => track(client.send(Buffer.from(m))));
  await link.timers.advance(0);
  assert.deepEqual(
    sends.map((s) => s.state),
    ['resolved', 'resolved', 'resolved', 'pending'],
  );
  await link.timers.advance(20_000);
  assert.equal(sends[3]?.state, 'pending', 'no ACK, no room');
  link.down.fault = () => 'deliver';
  assert.ok(await link.timers.until(() => sends[3]?.state === 'resolved', 20_000), 'a resend got through and opened the window');
  assert.deepEqual(await receiveAll(link.timers, server, 4), ['a', 'b', 'c', 'd']);
  await noMore(link, server);
  await client.close();
});

test('the first N DATA packets dropped: resent after the resend timeout', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 3 });
  link.up.fault = dropFirst('DATA', 3);
  await sendAll(client, ['payload 1', 'payload 2', 'payload 3']);
  assert.deepEqual(await receiveAll(link.timers, server, 3), ['payload 1', 'payload 2', 'payload 3']);
  await client.close();
});

test('every third packet dropped, both ways (SendingIsNonBlockingUpToN)', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  link.down.fault = (_p, i) => (i % 3 === 0 ? 'drop' : 'deliver');
  const serverSide = (async () => {
    await sendAll(server, ['payload 1', 'payload 2']);
    assert.equal((await server.recv()).toString(), 'payload 3');
    await server.send(Buffer.from('payload 4'));
  })();
  await client.send(Buffer.from('payload 3'));
  assert.deepEqual(await receiveAll(link.timers, client, 3), ['payload 1', 'payload 2', 'payload 4']);
  const done = track(serverSide);
  assert.ok(await link.timers.until(() => done.state !== 'pending', 10_000));
  if (done.state === 'rejected') throw done.error;
  await client.close();
});

test('many messages back and forth (SendingLargeNumberOfMessages)', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 20 });
  const rounds = 2000;
  const side = async (conn: typeof client, mine: string, theirs: string): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      await conn.send(Buffer.from(`${mine} ${i}`));
      assert.equal((await conn.recv()).toString(), `${theirs} ${i}`);
    }
  };
  const both = track(Promise.all([side(client, 'c', 's'), side(server, 's', 'c')]));
  assert.ok(await link.timers.until(() => both.state !== 'pending', 10_000));
  if (both.state === 'rejected') throw both.error;
  assert.equal(link.up.count('DATA'), rounds, 'no resends on a clean link');
  await client.close();
});

test('a lost last packet is resent when the resend timer (1 s) fires', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 20 });
  link.up.fault = dropFirst('DATA', 1);
  const start = link.timers.ms;
  await client.send(Buffer.from('payload 1'));
  const got = track(server.recv());
  await link.timers.advance(990);
  assert.equal(got.state, 'pending');
  await link.timers.advance(20);
  assert.equal(got.state, 'resolved');
  assert.equal(String(got.value), 'payload 1');
  assert.equal(link.up.sentAt[link.up.sent.length - 1], start + 1000);
  await client.close();
});

test('a lost last packet is resent even while the peer pings more often than the resend timeout', async () => {
  // The reference restarts the resend timer on every packet received, so pings every 800 ms kept
  // a 1 s resend timer from ever firing; here only a moving window restarts it.
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 20 }, { pingMs: 800 });
  link.up.fault = dropFirst('DATA', 1);
  await client.send(Buffer.from('payload 1'));
  const got = track(server.recv());
  await link.timers.advance(3000);
  assert.ok(link.down.count('DATA') >= 3, 'the server pinged meanwhile');
  assert.equal(got.state, 'resolved');
  assert.equal(String(got.value), 'payload 1');
  await client.close();
});

test('payload splitting: 4000 bytes in DATA packets of at most 1000, reassembled', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 }, { maxChunkSize: 1000 });
  const payload = randomBytes(4000);
  const sent = track(server.send(payload));
  const got = track(client.recv());
  assert.ok(await link.timers.until(() => got.state !== 'pending', 10_000));
  assert.equal(sent.state, 'resolved');
  assert.ok(Buffer.from(got.value as Buffer).equals(payload));
  const data = link.down.sent.filter((p) => p.type === 'DATA');
  assert.deepEqual(
    data.map((p) => (p.type === 'DATA' ? [p.payload.length, p.finalChunk] : [])),
    [
      [1000, false],
      [1000, false],
      [1000, false],
      [1000, true],
    ],
  );
  await client.close();
});

test('backpressure: with N messages unread the receiver stops reading, then catches up in order', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 3 });
  const messages = Array.from({ length: 10 }, (_, i) => `m${i}`);
  const sending = track(sendAll(client, messages));
  await link.timers.advance(10_000);
  assert.equal(sending.state, 'pending');
  assert.equal(link.down.count('ACK'), 4, 'three messages wait in the inbox and one more was ACKed before the receiver stopped');
  assert.deepEqual(await receiveAll(link.timers, server, 10), messages);
  await client.close();
});

test('keepalive: idle connections ping (a DATA with a sequence number) and stay up', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, LNC_CLIENT_GBN_OPTIONS, LNC_SERVER_GBN_OPTIONS);
  await link.timers.advance(60_000);
  assert.equal(client.closeReason, undefined);
  assert.equal(server.closeReason, undefined);
  const pings =
    link.up.sent.filter((p) => p.type === 'DATA' && p.isPing).length + link.down.sent.filter((p) => p.type === 'DATA' && p.isPing).length;
  assert.ok(pings >= 8, `${pings} pings in a minute`);
  const firstPing = link.down.sent.findIndex((p) => p.type === 'DATA' && p.isPing);
  assert.equal(encodeGbnPacket(link.down.sent[firstPing] as never).toString('hex'), '02000001', 'ping = 02 seq 00 01');
  await client.send(Buffer.from('after the pings'));
  assert.deepEqual(await receiveAll(link.timers, server, 1), ['after the pings'], 'pings used sequence numbers and were not delivered');
  await client.close();
});

test('keepalive: no pong within pongMs after a ping closes with L402_ERR_LNC_GBN_KEEPALIVE_TIMEOUT', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { pingMs: 7000, pongMs: 3000 });
  const start = link.timers.ms;
  link.down.fault = () => 'drop';
  const pending = track(client.recv());
  await link.timers.until(() => client.closeReason !== undefined, 20_000, 10);
  assert.equal(client.closeReason?.code, 'L402_ERR_LNC_GBN_KEEPALIVE_TIMEOUT');
  assert.equal(link.timers.ms - start, 10_000, 'ping at 7 s, deadline 3 s later');
  await link.timers.advance(0);
  assert.equal(code(pending.error), 'L402_ERR_LNC_GBN_KEEPALIVE_TIMEOUT');
  assert.ok(link.clientTransport.closed);
  await server.close();
});

test('close: FIN to the peer, messages before it still delivered, coded errors after, transports released', async () => {
  const link = newLink();
  let fins = 0;
  const { client, server } = await connectBoth(
    link,
    {},
    {
      onFin: () => {
        fins++;
        throw new Error('a throwing hook does not crash anything');
      },
    },
  );
  await client.send(Buffer.from('last words'));
  await client.close();
  assert.equal(link.up.sent.at(-1)?.type, 'FIN');
  await link.timers.advance(0);
  assert.equal(fins, 1);
  assert.equal(server.closeReason?.code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
  assert.equal((await server.recv()).toString(), 'last words');
  await assert.rejects(server.recv(), (e) => code(e) === 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
  await assert.rejects(server.send(Buffer.from('x')), (e) => code(e) === 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
  await assert.rejects(client.recv(), (e) => code(e) === 'L402_ERR_LNC_GBN_CLOSED');
  await assert.rejects(client.send(Buffer.from('x')), (e) => code(e) === 'L402_ERR_LNC_GBN_CLOSED');
  assert.equal(link.down.count('FIN'), 0, 'no FIN answers a FIN');
  assert.ok(link.clientTransport.closed && link.serverTransport.closed);
  assert.equal((await client.closed).code, 'L402_ERR_LNC_GBN_CLOSED');
  await client.close();
  assert.equal(link.up.count('FIN'), 1, 'close is idempotent');
});

test('close from the server side, with a receive pending on the client', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link);
  const pending = track(client.recv());
  await server.close();
  await link.timers.advance(0);
  assert.equal(code(pending.error), 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
  assert.equal(link.timers.pending, 0, 'no timer left behind on either side');
});

test('close: the FIN attempt gives up after finSendTimeoutMs when the transport hangs', async () => {
  const link = newLink();
  const { client } = await connectBoth(link, { finSendTimeoutMs: 1000 });
  link.clientTransport.send = () => new Promise<void>(() => undefined);
  const closing = track(client.close());
  await link.timers.advance(999);
  assert.equal(closing.state, 'pending');
  await link.timers.advance(1);
  assert.equal(closing.state, 'resolved');
  assert.ok(link.clientTransport.closed);
});

test('handshake: lost SYNs are resent with the timeout boosted by half each time', async () => {
  const link = newLink();
  link.up.fault = dropFirst('SYN', 3);
  const { client, server } = await connectBoth(link, { n: 4, handshakeTimeoutMs: 2000 });
  assert.deepEqual(link.up.sentAt.slice(0, 4), [0, 2000, 5000, 9000]);
  await client.send(Buffer.from('hello'));
  assert.deepEqual(await receiveAll(link.timers, server, 1), ['hello']);
  await client.close();
});

test('handshake: a lost SYN echo makes the client resend SYN and the waiting server echo again', async () => {
  const link = newLink();
  link.down.fault = dropFirst('SYN', 1);
  const { client, server } = await connectBoth(link, { n: 5 });
  assert.equal(link.down.count('SYN'), 2);
  assert.equal(server.n, 5);
  await client.send(Buffer.from('hello'));
  assert.deepEqual(await receiveAll(link.timers, server, 1), ['hello']);
  await client.close();
});

test('handshake: a lost SYNACK; the server takes the client first DATA as the end of its handshake, and keeps that DATA', async () => {
  for (const restartFirst of [false, true]) {
    const link = newLink();
    link.up.fault = dropFirst('SYNACK', 1);
    const s = track(gbnAccept(link.serverTransport, { timers: link.timers }));
    const client = await gbnConnect(link.clientTransport, { timers: link.timers, n: 3 });
    if (restartFirst) {
      await link.timers.advance(1500);
      assert.equal(s.state, 'pending', 'the server timed out waiting for SYNACK and waits again');
    }
    await client.send(Buffer.from('first'));
    await link.timers.advance(0);
    assert.equal(s.state, 'resolved');
    const server = s.value as NonNullable<typeof s.value>;
    assert.equal(server.n, 3);
    assert.deepEqual(await receiveAll(link.timers, server, 1), ['first']);
    assert.equal(link.up.count('DATA'), 1, 'not resent: the handshake handed it over');
    await noMore(link, server);
    await client.close();
  }
});

test('handshake: a SYNACK delayed past the server timeout still completes it (ServerHandshakeTimeout)', async () => {
  const link = newLink();
  link.up.fault = (p) => (p.type === 'SYNACK' ? 'hold' : 'deliver');
  const s = track(gbnAccept(link.serverTransport, { timers: link.timers }));
  const client = await gbnConnect(link.clientTransport, { timers: link.timers, n: 10 });
  client.setRecvTimeout(1000);
  const early = track(client.recv());
  await link.timers.advance(2000);
  assert.equal(code(early.error), 'L402_ERR_LNC_GBN_TIMEOUT', 'the server is not connected yet');
  assert.equal(s.state, 'pending');
  link.up.release();
  await link.timers.advance(0);
  assert.equal(s.state, 'resolved');
  const server = s.value as NonNullable<typeof s.value>;
  await server.send(Buffer.from('payload 1'));
  client.setRecvTimeout(Infinity);
  assert.deepEqual(await receiveAll(link.timers, client, 1), ['payload 1']);
  await client.close();
});

test('handshake refusals: another window, a window of 0, an unexpected packet before SYNACK', async () => {
  {
    const link = newLink();
    const c = track(gbnConnect(link.clientTransport, { timers: link.timers, n: 2 }));
    await link.timers.advance(0);
    link.down.inject(encodeGbnPacket({ type: 'SYN', n: 5 }));
    await link.timers.advance(0);
    assert.equal(code(c.error), 'L402_ERR_LNC_GBN_HANDSHAKE_FAILED');
    assert.equal(link.up.sent.at(-1)?.type, 'FIN', 'a failed handshake says FIN, as the reference');
    assert.ok(link.clientTransport.closed);
  }
  {
    const link = newLink();
    const s = track(gbnAccept(link.serverTransport, { timers: link.timers }));
    link.up.inject(encodeGbnPacket({ type: 'SYN', n: 0 }));
    await link.timers.advance(0);
    assert.equal(code(s.error), 'L402_ERR_LNC_GBN_HANDSHAKE_FAILED');
  }
  {
    const link = newLink();
    const s = track(gbnAccept(link.serverTransport, { timers: link.timers }));
    link.up.inject(encodeGbnPacket({ type: 'ACK', seq: 1 }));
    link.up.inject(encodeGbnPacket({ type: 'SYN', n: 4 }));
    await link.timers.advance(0);
    assert.equal(s.state, 'pending', 'packets before the SYN are leftovers and skipped');
    link.up.inject(encodeGbnPacket({ type: 'ACK', seq: 1 }));
    await link.timers.advance(0);
    assert.equal(code(s.error), 'L402_ERR_LNC_GBN_HANDSHAKE_FAILED');
  }
});

test('handshake: the client skips leftovers of an older connection while waiting for SYN', async () => {
  const link = newLink();
  const c = track(gbnConnect(link.clientTransport, { timers: link.timers, n: 2 }));
  await link.timers.advance(0);
  link.down.inject(encodeGbnPacket({ type: 'ACK', seq: 7 }));
  link.down.inject(encodeGbnPacket({ type: 'DATA', seq: 3, finalChunk: true, isPing: false, payload: Buffer.from('old') }));
  link.down.inject(encodeGbnPacket({ type: 'SYN', n: 2 }));
  await link.timers.advance(0);
  assert.equal(c.state, 'resolved');
  assert.equal(link.up.sent.at(-1)?.type, 'SYNACK');
  await (c.value as NonNullable<typeof c.value>).close();
});

test('an aborted handshake fails with L402_ERR_LNC_GBN_CLOSED and releases the transport; an abort later closes', async () => {
  const link = newLink();
  const controller = new AbortController();
  const c = track(gbnConnect(link.clientTransport, { timers: link.timers, signal: controller.signal }));
  await link.timers.advance(5000);
  controller.abort();
  await link.timers.advance(0);
  assert.equal(code(c.error), 'L402_ERR_LNC_GBN_CLOSED');
  assert.ok(link.clientTransport.closed);

  const link2 = newLink();
  const later = new AbortController();
  const { client, server } = await connectBoth(link2, { signal: later.signal });
  later.abort();
  await link2.timers.advance(0);
  assert.equal(client.closeReason?.code, 'L402_ERR_LNC_GBN_CLOSED');
  assert.equal(server.closeReason?.code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
});

test('after the handshake: a server closes on a new SYN (the client restarted), a client ignores a stray SYN or SYNACK', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 2 });
  link.down.inject(encodeGbnPacket({ type: 'SYN', n: 2 }));
  link.down.inject(encodeGbnPacket({ type: 'SYNACK' }));
  link.up.inject(encodeGbnPacket({ type: 'SYNACK' }));
  await client.send(Buffer.from('still here'));
  assert.deepEqual(await receiveAll(link.timers, server, 1), ['still here']);
  link.up.inject(encodeGbnPacket({ type: 'SYN', n: 2 }));
  await link.timers.advance(0);
  assert.equal(server.closeReason?.code, 'L402_ERR_LNC_GBN_PROTOCOL');
  assert.equal(client.closeReason?.code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
});

test('garbage from the transport closes with L402_ERR_LNC_PACKET_MALFORMED (an unknown type, a 3-byte DATA)', async () => {
  for (const bytes of [Buffer.of(0x07), Buffer.of(0x02, 0x00, 0x01), Buffer.alloc(0)]) {
    const link = newLink();
    const { client, server } = await connectBoth(link);
    link.up.inject(bytes);
    await link.timers.advance(0);
    assert.equal(server.closeReason?.code, 'L402_ERR_LNC_PACKET_MALFORMED', bytes.toString('hex'));
    assert.equal(client.closeReason?.code, 'L402_ERR_LNC_GBN_REMOTE_CLOSED');
  }
});

test('a transport failure closes with L402_ERR_LNC_GBN_TRANSPORT, its error as the cause', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link);
  const boom = new Error('stream reset');
  link.clientTransport.failSends = boom;
  const pending = track(client.recv());
  await client.send(Buffer.from('x'));
  await link.timers.advance(0);
  assert.equal(client.closeReason?.code, 'L402_ERR_LNC_GBN_TRANSPORT');
  assert.equal(client.closeReason?.cause, boom);
  assert.equal(code(pending.error), 'L402_ERR_LNC_GBN_TRANSPORT');
  link.serverTransport.inbox.close();
  await link.timers.advance(0);
  assert.equal(server.closeReason?.code, 'L402_ERR_LNC_GBN_TRANSPORT', 'a receive failure too');
});

test('bounds and timeouts: BUSY past maxPendingSends, send and receive timeouts leave the connection open, oversized messages refused', async () => {
  const link = newLink();
  const { client, server } = await connectBoth(link, { n: 1, maxPendingSends: 3 }, { maxMessageBytes: 10 });
  link.down.fault = () => 'drop';
  const sends = [track(client.send(Buffer.from('1')))];
  await link.timers.advance(0);
  sends.push(...['2', '3'].map((m) => track(client.send(Buffer.from(m)))));
  client.setSendTimeout(500);
  const timed = track(client.send(Buffer.from('never')));
  await link.timers.advance(500);
  assert.equal(code(timed.error), 'L402_ERR_LNC_GBN_TIMEOUT');
  assert.equal(client.closeReason, undefined);
  client.setSendTimeout(Infinity);
  sends.push(track(client.send(Buffer.from('4'))));
  await assert.rejects(client.send(Buffer.from('busy')), (e) => code(e) === 'L402_ERR_LNC_GBN_BUSY');
  await link.timers.advance(0);
  assert.deepEqual(
    sends.map((s) => s.state),
    ['resolved', 'pending', 'pending', 'pending'],
  );
  link.down.fault = () => 'deliver';
  assert.deepEqual(await receiveAll(link.timers, server, 4), ['1', '2', '3', '4']);
  server.setRecvTimeout(100);
  const idle = track(server.recv());
  await link.timers.advance(100);
  assert.equal(code(idle.error), 'L402_ERR_LNC_GBN_TIMEOUT');
  assert.equal(server.closeReason, undefined);
  await client.send(Buffer.from('eleven byte'));
  await link.timers.until(() => server.closeReason !== undefined, 10_000);
  assert.equal(code(server.closeReason), 'L402_ERR_LNC_MESSAGE_TOO_LARGE');
});

test('bad options are refused with every problem named', async () => {
  const link = newLink();
  await assert.rejects(
    gbnConnect(link.clientTransport, { n: 255, pingMs: -1, maxPendingSends: 0, handshakeTimeoutMs: Number.NaN }),
    (e: unknown) =>
      code(e) === 'L402_ERR_LNC_GBN_INVALID_OPTION' &&
      ['n must', 'pingMs', 'maxPendingSends', 'handshakeTimeoutMs'].every((w) => (e as Error).message.includes(w)),
  );
  assert.equal(link.up.sent.length, 0, 'nothing was sent');
});
