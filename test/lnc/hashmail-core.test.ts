// The hashmail mailbox core on fake timers: the reference's error texts and
// codes, slot acquisition (250 ms), rate limiting, backpressure, the stale
// timeout table of aperture's hashmail_server_test.go, teardown while streaming,
// the 2 MiB message, the limits, and the session activity gauges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashmailCore, HashmailError, requestStreamId, type HashmailCoreOptions } from '../../src/lnc/hashmail-core.js';
import { FakeTimers, settle, track } from '../fixtures/fake-timers.js';

function id(last: number, first = 0xab): Buffer {
  const b = Buffer.alloc(64, first);
  b[63] = last;
  return b;
}

function core(options: HashmailCoreOptions = {}): { mail: HashmailCore; timers: FakeTimers } {
  const timers = new FakeTimers();
  return { mail: new HashmailCore({ messageRateMs: 1, messageBurst: 1_000_000, timers, ...options }), timers };
}

function expectHashmail(error: unknown, code: string, message: string, grpcCode = 2): void {
  assert.ok(error instanceof HashmailError, `a HashmailError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.equal(error.message, message);
  assert.equal(error.grpcCode, grpcCode);
}

test('creating, duplicating, deleting: the reference texts and codes', async () => {
  const { mail } = core();
  mail.createStream(id(1));
  assert.equal(mail.streamCount, 1);
  assert.throws(
    () => mail.createStream(id(1)),
    (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_STREAM_EXISTS', 'stream already active', 6), true),
  );
  assert.throws(
    () => mail.deleteStream(id(2)),
    (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_STREAM_NOT_FOUND', 'stream not found'), true),
  );
  await assert.rejects(mail.openReader(id(2)), (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_STREAM_NOT_FOUND', 'stream not found'), true));
  await assert.rejects(mail.openWriter(id(2)), (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_STREAM_NOT_FOUND', 'stream not found'), true));
  mail.deleteStream(id(1));
  assert.equal(mail.streamCount, 0);
  await assert.rejects(mail.openReader(id(1)), { message: 'stream not found' });
  // IDs that are not 64 bytes (the reference pads or truncates them silently).
  assert.throws(
    () => mail.createStream(Buffer.alloc(0)),
    (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_BAD_REQUEST', 'stream_id required'), true),
  );
  assert.throws(() => mail.createStream(Buffer.alloc(65)), {
    code: 'L402_ERR_HASHMAIL_BAD_REQUEST',
    message: 'stream_id must be 64 bytes, not 65',
  });
});

test('request validation in the reference order and texts; a missing descriptor is an answer, not a crash', () => {
  const sid = id(1);
  assert.throws(() => requestStreamId(undefined, true), { message: 'cipher box descriptor required' });
  assert.throws(() => requestStreamId({ desc: null }, false), { message: 'cipher box descriptor required' });
  assert.throws(() => requestStreamId({ desc: {} }, true), { message: 'stream_id required' });
  assert.throws(() => requestStreamId({ desc: { stream_id: sid } }, true), {
    code: 'L402_ERR_HASHMAIL_BAD_REQUEST',
    message: 'auth type required',
  });
  assert.equal(requestStreamId({ desc: { stream_id: sid }, auth: {} }, true), sid);
  assert.equal(requestStreamId({ desc: { stream_id: sid } }, false), sid);
});

test('messages pass one for one, in order, boundaries kept; a 2 MiB message and 4096-multiples intact', async () => {
  const { mail } = core();
  mail.createStream(id(1));
  const writer = await mail.openWriter(id(1));
  const reader = await mail.openReader(id(1));
  const big = Buffer.alloc(512 * 4096);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const messages = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(4096, 1), big, Buffer.from('after')];
  const written = (async () => {
    for (const m of messages) await writer.write(m);
  })();
  for (const m of messages) assert.deepEqual(await reader.next(), m);
  await written;
  // The core copies: changing a written buffer later changes nothing queued.
  const source = Buffer.from('xyz');
  await writer.write(source);
  source[0] = 0;
  assert.equal((await reader.next()).toString(), 'xyz');
  reader.release();
  writer.release();
});

test('a busy slot: "read stream occupied" after 250 ms, handed over when returned in time', async () => {
  const { mail, timers } = core();
  mail.createStream(id(1));
  const first = await mail.openReader(id(1));
  const second = track(mail.openReader(id(1)));
  await timers.advance(249);
  assert.equal(second.state, 'pending');
  await timers.advance(1);
  assert.equal(second.state, 'rejected');
  expectHashmail(second.error, 'L402_ERR_HASHMAIL_STREAM_OCCUPIED', 'read stream occupied');

  const third = track(mail.openReader(id(1)));
  await timers.advance(100);
  first.release();
  first.release(); // idempotent
  await settle();
  assert.equal(third.state, 'resolved');
  // Its holder reads what is written next.
  const writer = await mail.openWriter(id(1));
  const w2 = track(mail.openWriter(id(1)));
  await timers.advance(250);
  expectHashmail(w2.error, 'L402_ERR_HASHMAIL_STREAM_OCCUPIED', 'write stream occupied');
  await writer.write(Buffer.from('hi'));
  assert.equal((await third.value?.next())?.toString(), 'hi');
  // The old handle can no longer read.
  await assert.rejects(first.next(), { code: 'L402_ERR_HASHMAIL_STREAM_CLOSED', message: 'read stream released' });
});

test('the read slot comes back when its holder goes, and a pending read ends with the slot', async () => {
  const { mail } = core();
  mail.createStream(id(1));
  const reader = await mail.openReader(id(1));
  const pending = track(reader.next());
  reader.release();
  await settle();
  expectHashmail(pending.error, 'L402_ERR_HASHMAIL_STREAM_CLOSED', 'read stream released');
  const again = await mail.openReader(id(1));
  const writer = await mail.openWriter(id(1));
  await writer.write(Buffer.from('one'));
  assert.equal((await again.next()).toString(), 'one', 'the released read took nothing');
});

test('an aborted wait rejects with its reason and takes nothing', async () => {
  const { mail, timers } = core();
  mail.createStream(id(1));
  const reader = await mail.openReader(id(1));
  const controller = new AbortController();
  const pending = track(reader.next(controller.signal));
  controller.abort(new Error('client left'));
  await settle();
  assert.equal((pending.error as Error).message, 'client left');
  const acquiring = new AbortController();
  const waiting = track(mail.openReader(id(1), acquiring.signal));
  acquiring.abort(new Error('gone'));
  await settle();
  assert.equal((waiting.error as Error).message, 'gone');
  await timers.advance(1000);
  const writer = await mail.openWriter(id(1));
  await writer.write(Buffer.from('kept'));
  assert.equal((await reader.next()).toString(), 'kept');
});

test('rate limit: a burst, then one message per interval; the writer waits, nothing is dropped', async () => {
  const { mail, timers } = core({ messageRateMs: 100, messageBurst: 2 });
  mail.createStream(id(1));
  const writer = await mail.openWriter(id(1));
  const reader = await mail.openReader(id(1));
  await writer.write(Buffer.from('1'));
  await writer.write(Buffer.from('2'));
  const third = track(writer.write(Buffer.from('3')));
  await timers.advance(99);
  assert.equal(third.state, 'pending');
  await timers.advance(1);
  assert.equal(third.state, 'resolved');
  const fourth = track(writer.write(Buffer.from('4')));
  await timers.advance(99);
  assert.equal(fourth.state, 'pending');
  await timers.advance(1);
  assert.equal(fourth.state, 'resolved');
  for (const n of ['1', '2', '3', '4']) assert.equal((await reader.next()).toString(), n);
  // Idle time refills the bucket up to the burst only.
  await timers.advance(10_000);
  await writer.write(Buffer.from('5'));
  await writer.write(Buffer.from('6'));
  assert.equal(track(writer.write(Buffer.from('7'))).state, 'pending');
});

test('the defaults are the reference: 500 ms and a burst of 10 (0 means default)', async () => {
  const { mail, timers } = core({ messageRateMs: 0, messageBurst: 0 });
  mail.createStream(id(1));
  const writer = await mail.openWriter(id(1));
  const reader = await mail.openReader(id(1));
  const drain = (async () => {
    for (let i = 0; i < 11; i++) await reader.next();
  })();
  for (let i = 0; i < 10; i++) await writer.write(Buffer.of(i));
  const eleventh = track(writer.write(Buffer.of(10)));
  await timers.advance(499);
  assert.equal(eleventh.state, 'pending');
  await timers.advance(1);
  assert.equal(eleventh.state, 'resolved');
  await drain;
});

test('backpressure: a full queue holds the writer until the reader takes a message', async () => {
  const { mail } = core({ queueMessages: 2 });
  mail.createStream(id(1));
  const writer = await mail.openWriter(id(1));
  await writer.write(Buffer.from('a'));
  await writer.write(Buffer.from('b'));
  const third = track(writer.write(Buffer.from('c')));
  await settle();
  assert.equal(third.state, 'pending');
  const reader = await mail.openReader(id(1));
  assert.equal((await reader.next()).toString(), 'a');
  await settle();
  assert.equal(third.state, 'resolved');
  assert.equal((await reader.next()).toString(), 'b');
  assert.equal((await reader.next()).toString(), 'c');
});

test('stale timeout: 500 ms tears an unused stream down; -1 never does', async () => {
  for (const [staleTimeoutMs, removed] of [
    [500, true],
    [-1, false],
  ] as const) {
    const { mail, timers } = core({ staleTimeoutMs });
    mail.createStream(id(1));
    await timers.advance(499);
    assert.equal(mail.streamCount, 1);
    await timers.advance(10_000_000);
    assert.equal(mail.streamCount, removed ? 0 : 1, `staleTimeoutMs ${staleTimeoutMs}`);
    if (removed) await assert.rejects(mail.openReader(id(1)), { message: 'stream not found' });
    else await (await mail.openReader(id(1))).release();
  }
});

test('stale timeout: stopped while a slot is held, restarted in full when both are free; default 1 h', async () => {
  const { mail, timers } = core({ staleTimeoutMs: 500 });
  mail.createStream(id(1));
  await timers.advance(400);
  const reader = await mail.openReader(id(1));
  const writer = await mail.openWriter(id(1));
  await timers.advance(5000);
  assert.equal(mail.streamCount, 1, 'held slots keep it');
  reader.release();
  await timers.advance(5000);
  assert.equal(mail.streamCount, 1, 'one slot still held');
  writer.release();
  await timers.advance(499);
  assert.equal(mail.streamCount, 1, 'restarted in full');
  await timers.advance(1);
  assert.equal(mail.streamCount, 0);

  const d = core({ staleTimeoutMs: 0 });
  d.mail.createStream(id(1));
  await d.timers.advance(3_600_000 - 1);
  assert.equal(d.mail.streamCount, 1);
  await d.timers.advance(1);
  assert.equal(d.mail.streamCount, 0);
});

test('teardown while streaming ends every wait with "stream shutting down"', async () => {
  const { mail, timers } = core({ queueMessages: 1, messageRateMs: 100, messageBurst: 2 });
  mail.createStream(id(1));
  mail.createStream(id(2));
  const reader = await mail.openReader(id(1));
  const read = track(reader.next());
  const waitingReader = track(mail.openReader(id(1)));
  // Stream 2: the queue holds one message; the second write waits for room.
  const writer2 = await mail.openWriter(id(2));
  await writer2.write(Buffer.from('fills the queue'));
  const roomBound = track(writer2.write(Buffer.from('waits for room')));
  // Stream 1: two tokens, then a write waiting for the next one.
  const writer1 = await mail.openWriter(id(1));
  await writer1.write(Buffer.from('x'));
  await settle();
  assert.equal((read.value as Buffer).toString(), 'x');
  const tokenBound = track(writer1.write(Buffer.from('y')).then(() => writer1.write(Buffer.from('z'))));
  await settle();
  assert.equal(roomBound.state, 'pending');
  assert.equal(tokenBound.state, 'pending');
  mail.deleteStream(id(1));
  mail.close();
  await settle();
  for (const t of [waitingReader, roomBound, tokenBound]) {
    expectHashmail(t.error, 'L402_ERR_HASHMAIL_STREAM_CLOSED', 'stream shutting down');
  }
  assert.equal(mail.streamCount, 0);
  await assert.rejects(reader.next(), { message: 'stream shutting down' });
  reader.release();
  writer1.release();
  assert.throws(() => mail.createStream(id(3)), { code: 'L402_ERR_HASHMAIL_STREAM_CLOSED', message: 'server shutting down' });
  assert.equal(timers.pending, 0, 'no timer left behind');
});

test('limits: message size and number of streams', async () => {
  const { mail } = core({ maxMessageBytes: 10, maxStreams: 2 });
  mail.createStream(id(1));
  mail.createStream(id(2));
  assert.throws(
    () => mail.createStream(id(3)),
    (e) => (expectHashmail(e, 'L402_ERR_HASHMAIL_LIMIT', 'too many streams (limit 2)', 8), true),
  );
  const writer = await mail.openWriter(id(1));
  await assert.rejects(writer.write(Buffer.alloc(11)), (e) => {
    expectHashmail(e, 'L402_ERR_HASHMAIL_MESSAGE_TOO_LARGE', 'message of 11 bytes is above the limit of 10', 8);
    return true;
  });
  await writer.write(Buffer.alloc(10));
  mail.deleteStream(id(2));
  mail.createStream(id(3));
});

test('session activity: odd streams counted per 16-byte base; in use at 0.5/s; idle sessions forgotten', async () => {
  const { mail, timers } = core({ maxActivityEntries: 2, staleTimeoutMs: -1 });
  for (const [last, first] of [
    [1, 0xa1],
    [0, 0xa1],
    [1, 0xb2],
    [1, 0xc3],
  ] as const) {
    mail.createStream(id(last, first));
  }
  const readN = async (stream: Buffer, n: number): Promise<void> => {
    const w = await mail.openWriter(stream);
    const r = await mail.openReader(stream);
    for (let i = 0; i < n; i++) {
      await w.write(Buffer.of(i));
      await r.next();
    }
    w.release();
    r.release();
  };
  await readN(id(1, 0xa1), 5); // 5 reads in 10 s: in use
  await readN(id(0, 0xa1), 50); // even stream: not counted
  await readN(id(1, 0xb2), 1); // 1 read in 10 s: standby
  await timers.advance(10_000);
  assert.deepEqual(mail.classifyActivity(), { active: 2, inUse: 1, standby: 1 });
  await timers.advance(10_000);
  assert.deepEqual(mail.classifyActivity(), { active: 0, inUse: 0, standby: 0 });
  // Bounded: three sessions read, two tracked (the least recently read goes).
  await readN(id(1, 0xa1), 1);
  await readN(id(1, 0xc3), 1);
  await readN(id(1, 0xb2), 1);
  await timers.advance(10_000);
  assert.deepEqual(mail.classifyActivity(), { active: 2, inUse: 0, standby: 2 });
  // Unread for a day: forgotten (the reference never forgets).
  await timers.advance(24 * 3_600_000 + 1);
  mail.classifyActivity();
  await readN(id(1, 0xa1), 1);
  await timers.advance(1000);
  assert.deepEqual(mail.classifyActivity(), { active: 1, inUse: 1, standby: 0 });
});

test('bad options are refused by name', () => {
  for (const [key, value] of [
    ['messageRateMs', -1],
    ['messageBurst', Number.NaN],
    ['messageBurst', 0.5],
    ['maxActivityEntries', 1.5],
    ['maxStreams', 0],
    ['maxMessageBytes', -5],
    ['queueMessages', 0],
    ['acquireTimeoutMs', -1],
    ['staleTimeoutMs', Number.POSITIVE_INFINITY],
  ] as const) {
    assert.throws(() => new HashmailCore({ [key]: value }), { code: 'L402_ERR_HASHMAIL_INVALID_OPTION', message: new RegExp(key) }, key);
  }
});
