// The reconnecting settlement stream shared by the HTTP and NWC backends, without a backend:
// delivery once per hash, bounded memory of pending invoices, health across a lost stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InvoiceStatus } from '../../src/core/types.js';
import { SettlementFeed, type FeedStream } from '../../src/lightning/settlement-feed.js';
import { TestClock } from '../fixtures/test-clock.js';

function stream(): FeedStream & { end: (reason: unknown) => void } {
  let end!: (reason: unknown) => void;
  const ended = new Promise<unknown>((resolve) => (end = resolve));
  return { ended, close: () => end('closed'), end };
}

test('delivers each settlement once and forgets pending invoices past a bound, expired ones first', async () => {
  const clock = new TestClock(1_000_000);
  const feed = new SettlementFeed({
    name: 'test',
    clock,
    open: async () => stream(),
    lookup: async (hash) => ({ paymentHash: hash, state: 'open' }),
  });
  await feed.start();
  const seen: InvoiceStatus[] = [];
  feed.onSettled((s) => seen.push(s));
  const settled: InvoiceStatus = { paymentHash: 'a'.repeat(64), state: 'settled', amountPaidSats: 1, settledAt: 1 };
  feed.deliver(settled);
  feed.deliver(settled);
  feed.deliver({ paymentHash: 'b'.repeat(64), state: 'open' });
  assert.equal(seen.length, 1);
  for (let i = 0; i < 50_000; i++) feed.track(`expired${i}`, clock.now() - 1);
  for (let i = 0; i < 50_000; i++) feed.track(`live${i}`, clock.now() + 60_000);
  assert.equal(feed.pendingCount, 100_000);
  feed.track('next', clock.now() + 60_000);
  assert.equal(feed.pendingCount, 50_001, 'the expired ones went first');
  for (let i = 0; i < 49_999; i++) feed.track(`more${i}`, clock.now() + 60_000);
  feed.track('last', clock.now() + 60_000);
  assert.ok(feed.pendingCount <= 90_001 && feed.pendingCount > 80_000, String(feed.pendingCount));
  feed.close();
});

test('goes not-ok when the stream ends, reconnects with backoff, and looks pending invoices up', async () => {
  const clock = new TestClock(1_000_000);
  const streams: Array<ReturnType<typeof stream>> = [];
  const looked: string[] = [];
  const health: boolean[] = [];
  let reconnected!: () => void;
  const again = new Promise<void>((resolve) => (reconnected = resolve));
  const feed = new SettlementFeed({
    name: 'test',
    clock,
    backoff: { initialMs: 1, maxMs: 5 },
    open: async () => {
      const s = stream();
      streams.push(s);
      return s;
    },
    lookup: async (hash) => {
      looked.push(hash);
      reconnected();
      return { paymentHash: hash, state: 'settled', amountPaidSats: 2, settledAt: 5 };
    },
    onHealthChange: (h) => health.push(h.ok),
  });
  await feed.start();
  const got = new Promise<InvoiceStatus>((resolve) => feed.onSettled(resolve));
  feed.track('c'.repeat(64), clock.now() + 60_000);
  streams[0]?.end(new Error('gone'));
  await again;
  assert.equal((await got).paymentHash, 'c'.repeat(64));
  assert.deepEqual(looked, ['c'.repeat(64)]);
  assert.deepEqual(health, [true, false, true]);
  assert.equal(feed.health().ok, true);
  feed.close();
  assert.equal(feed.health().ok, false);
});
