import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { L402Error } from '../../src/core/errors.js';
import { RedisFreebieCounter } from '../../src/ratelimit/redis-freebie-counter.js';
import { freebieCounterConformance } from './freebie-counter.conformance.js';
import { REDIS_URL, redisSkipReason, uniquePrefix } from './redis-available.js';
import type { Redis } from 'ioredis';

const skip = await redisSkipReason();

freebieCounterConformance('redis', {
  skip,
  make: async (options) => {
    const counter = new RedisFreebieCounter({ ...options, url: REDIS_URL, keyPrefix: uniquePrefix('freebie') });
    await counter.ready();
    return counter;
  },
});

test('redis freebies: windowed counts expire in Redis too; unwindowed ones do not', { skip }, async () => {
  const prefix = uniquePrefix('freebie-ttl');
  const windowed = new RedisFreebieCounter({ limit: 1, windowMs: 60_000, url: REDIS_URL, keyPrefix: `${prefix}w:` });
  const forever = new RedisFreebieCounter({ limit: 1, url: REDIS_URL, keyPrefix: `${prefix}f:` });
  await windowed.ready();
  await forever.ready();
  await windowed.tryUse('192.0.2.1');
  await forever.tryUse('192.0.2.1');
  const redis = windowed.redis as Redis;
  const wTtl = await redis.pttl(`${prefix}w:192.0.2.0/24`);
  const fTtl = await redis.pttl(`${prefix}f:192.0.2.0/24`);
  await redis.del(`${prefix}w:192.0.2.0/24`, `${prefix}f:192.0.2.0/24`);
  await windowed.close();
  await forever.close();
  assert.ok(wTtl > 60_000 && wTtl <= 61_000, `windowed ttl ${wTtl}`);
  assert.equal(fTtl, -1);
});

test('redis freebies when Redis is unreachable: no freebie by default, reported and counted', { timeout: 5000 }, async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  const errors: L402Error[] = [];
  const deny = new RedisFreebieCounter({ limit: 5, url: `redis://127.0.0.1:${port}`, onError: (e) => errors.push(e) });
  const allow = new RedisFreebieCounter({ limit: 5, url: `redis://127.0.0.1:${port}`, onStoreError: 'allow' });
  assert.equal(await deny.tryUse('192.0.2.1'), false);
  assert.equal(await allow.tryUse('192.0.2.1'), true);
  await deny.close();
  await allow.close();
  assert.equal(errors[0]?.code, 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE');
  assert.deepEqual(deny.stats(), { granted: 0, exhausted: 0, evictions: 0, storeErrors: 1 });
});
