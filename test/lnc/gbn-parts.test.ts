// The parts of gbn on a fake clock, as the reference's timeout_manager_test,
// queue_test and syncer_test pin them: the resend timeout from the SYN and
// DATA round trips (5 × RTT, at least 1 s, sampled every updateFrequency-th
// ACK), the boosts, a static timeout; the window's size modulo s, ACK and NACK
// handling, and the resend's wait for sync (3 timeouts, one timeout after the
// expected ACK, at once on the expected NACK).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GbnPacket } from '../../src/lnc/framing.js';
import { contains, GbnSendQueue, type GbnDataPacket } from '../../src/lnc/gbn-send-queue.js';
import { GbnTimeouts } from '../../src/lnc/gbn-timeouts.js';
import { FakeTimers, track } from './gbn-harness.js';

const syn: GbnPacket = { type: 'SYN', n: 20 };
const data = (seq: number): GbnPacket => ({ type: 'DATA', seq, finalChunk: true, isPing: false, payload: Buffer.alloc(0) });
const ack = (seq: number): GbnPacket => ({ type: 'ACK', seq });

test('timeouts: the defaults, and the handshake timeout boosted by half per SYN resend', () => {
  const clock = new FakeTimers();
  const t = new GbnTimeouts({}, clock.now);
  assert.equal(t.resendMs, 1000);
  assert.equal(t.handshakeMs, 1000);
  assert.equal(t.finSendMs, 1000);
  assert.equal(t.pingMs, Infinity, 'no pings unless asked');
  assert.equal(t.pongMs, Infinity);
  const lnc = new GbnTimeouts({ handshakeTimeoutMs: 2000 }, clock.now);
  lnc.sent(syn, false);
  lnc.sent(syn, true);
  assert.equal(lnc.handshakeMs, 3000);
  lnc.sent(syn, true);
  assert.equal(lnc.handshakeMs, 4000, 'the handshake boost has no frequency limit');
});

test('timeouts: a SYN round trip sets the resend timeout to 5 × RTT, never below 1 s; a resent SYN is not timed', async () => {
  const clock = new FakeTimers();
  const t = new GbnTimeouts({}, clock.now);
  t.sent(syn, false);
  await clock.advance(2000);
  t.received({ type: 'SYNACK' });
  assert.equal(t.resendMs, 10_000);
  t.sent(syn, false);
  await clock.advance(100);
  t.received(syn);
  assert.equal(t.resendMs, 1000, 'the minimum');
  t.sent(syn, true);
  await clock.advance(5000);
  t.received(syn);
  assert.equal(t.resendMs, 1000, 'a resent SYN measures nothing');
  t.received(syn);
  assert.equal(t.resendMs, 1000, 'an unanswered SYN is measured once');
});

test('timeouts: DATA round trips are sampled on the first ACK, then every updateFrequency-th', async () => {
  const clock = new FakeTimers();
  const t = new GbnTimeouts({ timeoutUpdateFrequency: 3 }, clock.now);
  const roundTrip = async (seq: number, ms: number): Promise<void> => {
    t.sent(data(seq), false);
    await clock.advance(ms);
    t.received(ack(seq));
  };
  await roundTrip(1, 400);
  assert.equal(t.resendMs, 2000, 'the first ACK sets it');
  await roundTrip(2, 600);
  await roundTrip(3, 600);
  assert.equal(t.resendMs, 2000, 'not sampled in between');
  await roundTrip(4, 600);
  assert.equal(t.resendMs, 3000, 'the third one after it is sampled');
  t.received(ack(9));
  assert.equal(t.resendMs, 3000, 'an ACK of nothing timed is ignored');
});

test('timeouts: resends boost the resend timeout at most once per timeout, a new measurement resets the boost', async () => {
  const clock = new FakeTimers();
  const t = new GbnTimeouts({ boostPercent: 0.1, timeoutUpdateFrequency: 1 }, clock.now);
  await clock.advance(5000);
  t.sent(data(20), true);
  assert.equal(t.resendMs, 1100);
  t.sent(data(20), true);
  assert.equal(t.resendMs, 1100, 'within the timeout of the last boost');
  await clock.advance(1000);
  t.sent(data(20), true);
  assert.equal(t.resendMs, 1200);
  t.received(ack(20));
  assert.equal(t.resendMs, 1200, 'a resent packet is not timed');
  t.sent(data(20), false);
  await clock.advance(1000);
  t.received(ack(20));
  assert.equal(t.resendMs, 5000, 'measured: 5 × 1 s, boost reset');
  t.sent(data(21), true);
  assert.equal(t.resendMs, 5000, 'no boost right after a measurement');
  await clock.advance(5000);
  t.sent(data(21), true);
  assert.equal(t.resendMs, 5500);
});

test('timeouts: a static resend timeout never moves', async () => {
  const clock = new FakeTimers();
  const t = new GbnTimeouts({ staticResendTimeoutMs: 1500 }, clock.now);
  t.sent(syn, false);
  await clock.advance(1000);
  t.received(syn);
  t.sent(data(1), true);
  assert.equal(t.resendMs, 1500);
});

function queue(s: number, clock: FakeTimers): { q: GbnSendQueue; resent: number[] } {
  const resent: number[] = [];
  const q = new GbnSendQueue(s, clock, new GbnTimeouts({}, clock.now), (p) => {
    resent.push(p.seq);
    return Promise.resolve();
  });
  return { q, resent };
}

const packet = (): GbnDataPacket => ({ seq: 0, finalChunk: true, isPing: false, payload: Buffer.alloc(0) });

test('queue: size modulo s, and the sequence numbers wrap', () => {
  const clock = new FakeTimers();
  const { q } = queue(4, clock);
  assert.equal(q.size, 0);
  q.add(packet());
  assert.equal(q.size, 1);
  q.add(packet());
  q.add(packet());
  assert.equal(q.size, 3);
  for (const seq of [0, 1, 2]) assert.ok(q.processAck(seq));
  const wrapped = [packet(), packet()];
  for (const p of wrapped) q.add(p);
  assert.deepEqual(
    wrapped.map((p) => p.seq),
    [3, 0],
  );
  assert.equal(q.size, 2);
  assert.deepEqual([q.base, q.top], [3, 1]);
});

test('queue: ACKs move the base (a later ACK covers the earlier ones); NACKs ask for a resend or say all arrived', () => {
  const clock = new FakeTimers();
  const { q } = queue(5, clock);
  for (let i = 0; i < 4; i++) q.add(packet());
  assert.equal(q.processAck(2), true, 'a cumulative ACK');
  assert.equal(q.base, 3);
  assert.equal(q.processAck(1), false, 'an old ACK');
  assert.deepEqual(q.processNack(3), { resend: true, bumped: false });
  assert.deepEqual(q.processNack(1), { resend: false, bumped: false }, 'not in the window');
  assert.deepEqual(q.processNack(4), { resend: false, bumped: true }, 'NACK(top): everything arrived');
  assert.equal(q.size, 0);
  assert.equal(q.processAck(4), false, 'an ACK on an empty window');
  assert.ok(contains(3, 1, 4) && contains(3, 1, 0) && !contains(3, 1, 1) && !contains(2, 2, 2));
});

test('queue: a resend sends the window, then waits 3 resend timeouts for sync; not again within a handshake timeout', async () => {
  const clock = new FakeTimers();
  const { q, resent } = queue(5, clock);
  q.add(packet());
  q.add(packet());
  const first = track(q.resend());
  await clock.advance(0);
  assert.deepEqual(resent, [0, 1]);
  await clock.advance(2999);
  assert.equal(first.state, 'pending');
  await clock.advance(1);
  assert.equal(first.state, 'resolved');

  const again = track(q.resend());
  await clock.advance(0);
  assert.deepEqual(resent, [0, 1, 0, 1]);
  q.processNack(2);
  await clock.advance(0);
  assert.equal(again.state, 'resolved', 'the expected NACK ends the wait');
  q.add(packet());
  await clock.advance(999);
  await q.resend();
  assert.deepEqual(resent, [0, 1, 0, 1], 'within a handshake timeout of the last resend: skipped');
  await clock.advance(1);
  const third = track(q.resend());
  await clock.advance(0);
  assert.deepEqual(resent, [0, 1, 0, 1, 2]);
  q.processNack(3);
  await clock.advance(0);
  assert.equal(third.state, 'resolved');
});

test('queue: sync one resend timeout after the expected ACK, or at once on the expected NACK', async () => {
  const clock = new FakeTimers();
  const { q, resent } = queue(5, clock);
  q.add(packet());
  await clock.advance(2000);
  const viaAck = track(q.resend());
  await clock.advance(0);
  q.processAck(0);
  await clock.advance(999);
  assert.equal(viaAck.state, 'pending');
  await clock.advance(1);
  assert.equal(viaAck.state, 'resolved');

  q.add(packet());
  await clock.advance(2000);
  const viaNack = track(q.resend());
  await clock.advance(0);
  assert.deepEqual(resent, [0, 1]);
  q.processNack(2);
  await clock.advance(0);
  assert.equal(viaNack.state, 'resolved');
  assert.equal(clock.pending, 0, 'no timer left');
});
