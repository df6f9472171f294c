// One suite for every FreebieCounter (memory, Redis).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FreebieCounter, FreebieCounterOptions } from '../../src/ratelimit/freebie-counter.js';
import { TestClock } from '../fixtures/test-clock.js';

export interface FreebieFactory {
  make(options: FreebieCounterOptions): Promise<FreebieCounter>;
  skip: string | false;
}

export function freebieCounterConformance(name: string, factory: FreebieFactory): void {
  describe(`FreebieCounter conformance: ${name}`, { skip: factory.skip }, () => {
    const counters: FreebieCounter[] = [];
    const make = async (options: FreebieCounterOptions) => {
      const c = await factory.make(options);
      counters.push(c);
      return c;
    };
    after(async () => {
      for (const c of counters) await c.close();
    });

    test('grants N free requests per IPv4 /24, then refuses', async () => {
      const c = await make({ limit: 3 });
      const got = [];
      for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.200', '198.51.100.3']) got.push(await c.tryUse(ip));
      assert.deepEqual(got, [true, true, true, false]);
      assert.equal(await c.tryUse('198.51.101.1'), true, 'the next /24 has its own allowance');
      assert.deepEqual(c.stats(), { granted: 4, exhausted: 1, evictions: 0, storeErrors: 0 });
    });

    test('IPv6 shares per /48; IPv4-mapped IPv6 counts as its IPv4 network', async () => {
      const c = await make({ limit: 1 });
      assert.equal(await c.tryUse('2001:db8:1:2::1'), true);
      assert.equal(await c.tryUse('2001:db8:1:ffff::9'), false);
      assert.equal(await c.tryUse('2001:db8:2::1'), true);
      assert.equal(await c.tryUse('203.0.113.9'), true);
      assert.equal(await c.tryUse('::ffff:203.0.113.10'), false);
    });

    test('without a window (absent or 0) counts never reset', async () => {
      const clock = new TestClock();
      for (const c of [await make({ limit: 1, clock }), await make({ limit: 1, windowMs: 0, clock })]) {
        assert.equal(await c.tryUse('192.0.2.1'), true);
        clock.advance(10 * 365 * 86_400_000);
        assert.equal(await c.tryUse('192.0.2.1'), false);
      }
    });

    test('with a window the count starts over one window after the first free request', async () => {
      const clock = new TestClock();
      const c = await make({ limit: 2, windowMs: 60_000, clock });
      assert.equal(await c.tryUse('192.0.2.1'), true);
      clock.advance(30_000);
      assert.equal(await c.tryUse('192.0.2.1'), true);
      assert.equal(await c.tryUse('192.0.2.1'), false);
      clock.advance(29_999);
      assert.equal(await c.tryUse('192.0.2.1'), false);
      clock.advance(1);
      assert.equal(await c.tryUse('192.0.2.1'), true);
      assert.equal(await c.tryUse('192.0.2.1'), true);
      assert.equal(await c.tryUse('192.0.2.1'), false);
    });

    test('freebie 0 grants nothing', async () => {
      const c = await make({ limit: 0 });
      assert.equal(await c.tryUse('192.0.2.1'), false);
    });

    test('concurrent requests never get more than N', async () => {
      const c = await make({ limit: 5 });
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => c.tryUse(`100.64.0.${i}`)));
      assert.equal(results.filter(Boolean).length, 5);
    });

    test('invalid limits and windows are configuration errors', async () => {
      await assert.rejects(async () => factory.make({ limit: -1 }), { code: 'L402_ERR_CONFIG_INVALID' });
      await assert.rejects(async () => factory.make({ limit: 1.5 }), { code: 'L402_ERR_CONFIG_INVALID' });
      await assert.rejects(async () => factory.make({ limit: 1, windowMs: -1 }), { code: 'L402_ERR_CONFIG_INVALID' });
    });
  });
}
