import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { L402Error } from '../../src/core/errors.js';
import { compileRateLimitRules } from '../../src/ratelimit/rate-limit-rules.js';
import { RateLimiter } from '../../src/ratelimit/rate-limiter.js';
import { RedisRateLimitStore } from '../../src/ratelimit/redis-rate-limit-store.js';
import { TestClock } from '../fixtures/test-clock.js';
import { rateLimitStoreConformance } from './rate-limit-store.conformance.js';
import { TcpForwarder } from '../fixtures/tcp-forwarder.js';
import { REDIS_URL, redisSkipReason, uniquePrefix } from './redis-available.js';

const skip = await redisSkipReason();

rateLimitStoreConformance('redis', {
  skip,
  runs: 25,
  make: async () => {
    const store = new RedisRateLimitStore({ url: REDIS_URL, keyPrefix: uniquePrefix('rl') });
    await store.ready();
    return store;
  },
});

describe('RedisRateLimitStore with Redis running', { skip }, () => {
  const prefix = uniquePrefix('rl-ttl');
  const store = new RedisRateLimitStore({ url: REDIS_URL, keyPrefix: prefix, idleSlackMs: 500 });
  after(() => store.close());

  test('buckets carry a TTL of the time to refill plus the slack, under one hash tag per client', async () => {
    await store.ready();
    const r = compileRateLimitRules([
      { requests: 1, per: 10_000 },
      { requests: 5, per: 1000 },
    ]);
    assert.equal((await store.take('svc', 'token:ab', r, 1_000_000)).allowed, true);
    const keys = (await (store.redis as Redis).keys(`${prefix}*`)).sort();
    assert.deepEqual(keys, [`${prefix}{svc|token:ab}:0:1/10000/1`, `${prefix}{svc|token:ab}:1:5/1000/5`]);
    const ttls = await Promise.all(keys.map((k) => (store.redis as Redis).pttl(k)));
    // Empty 1-per-10s bucket: 10 s to refill; 5-per-second bucket short one token: 200 ms.
    assert.ok((ttls[0] ?? 0) > 10_000 && (ttls[0] ?? 0) <= 10_500, `ttl ${ttls[0]}`);
    assert.ok((ttls[1] ?? 0) > 200 && (ttls[1] ?? 0) <= 700, `ttl ${ttls[1]}`);
  });

  test('a denied request writes nothing', async () => {
    await store.ready();
    const r = compileRateLimitRules([{ requests: 1, per: 60_000 }]);
    await store.take('svc', 'deny-check', r, 5_000);
    const key = `${prefix}{svc|deny-check}:0:1/60000/1`;
    const before = await (store.redis as Redis).hgetall(key);
    assert.equal((await store.take('svc', 'deny-check', r, 6_000)).allowed, false);
    assert.deepEqual(await (store.redis as Redis).hgetall(key), before);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('RedisRateLimitStore when Redis is unreachable', () => {
  const rules = [{ requests: 1, per: 1000 }];

  test('onStoreError allow (the default): allowed, reported and counted, quickly', { timeout: 5000 }, async () => {
    const port = await closedPort();
    const store = new RedisRateLimitStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix('down') });
    const errors: L402Error[] = [];
    const limiter = new RateLimiter({ service: 's', rules, store, onError: (e) => errors.push(e) });
    const r1 = await limiter.check('k', '/');
    const r2 = await limiter.check('k', '/');
    await store.close();
    assert.deepEqual({ ...r1 }, { allowed: true, retryAfterMs: 0, storeError: true });
    assert.equal(r2.allowed, true, 'the failure does not turn into a denial on the next request');
    assert.equal(errors.length, 2);
    assert.ok(errors[0] instanceof L402Error);
    assert.equal(errors[0]?.code, 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE');
    assert.deepEqual(limiter.stats(), { allowed: 2, denied: 0, evictions: 0, storeErrors: 2 });
  });

  test('onStoreError deny: denied with a Retry-After', { timeout: 5000 }, async () => {
    const port = await closedPort();
    const store = new RedisRateLimitStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix('down') });
    const limiter = new RateLimiter({ service: 's', rules, store, onStoreError: 'deny' });
    const r = await limiter.check('k', '/');
    await store.close();
    assert.deepEqual({ ...r }, { allowed: false, retryAfterMs: 1000, storeError: true });
    assert.deepEqual(limiter.stats(), { allowed: 0, denied: 1, evictions: 0, storeErrors: 1 });
  });

  test('ready() rejects with a code instead of waiting forever', { timeout: 5000 }, async () => {
    const port = await closedPort();
    const store = new RedisRateLimitStore({ url: `redis://127.0.0.1:${port}` });
    await assert.rejects(store.ready(200), { code: 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE' });
    await store.close();
  });
});

describe('RedisRateLimitStore when Redis stops answering mid-connection', { skip }, () => {
  // A TCP relay in front of the real Redis that can be frozen: it keeps the
  // connection open but stops forwarding, as a hung server or a partition would.
  let frozen = false;
  const sockets: Socket[] = [];
  let relay: Server;

  test('a check fails after the command timeout instead of hanging', { timeout: 5000 }, async () => {
    relay = createServer((client) => {
      const upstream = connect(6379, '127.0.0.1');
      sockets.push(client, upstream);
      client.on('data', (d) => {
        if (!frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!frozen) client.write(d);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const { port } = relay.address() as AddressInfo;
    const store = new RedisRateLimitStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix('hang'), commandTimeoutMs: 100 });
    await store.ready();
    const clock = new TestClock();
    const limiter = new RateLimiter({ service: 's', rules: [{ requests: 1, per: 60_000 }], store, clock, onStoreError: 'deny' });
    assert.deepEqual({ ...(await limiter.check('k', '/')) }, { allowed: true, retryAfterMs: 0 }, 'works while the relay forwards');
    frozen = true;
    const started = Date.now();
    const r = await limiter.check('k2', '/');
    const elapsed = Date.now() - started;
    assert.equal(r.storeError, true);
    assert.equal(r.allowed, false);
    assert.ok(elapsed >= 90 && elapsed < 1500, `answered after ${elapsed} ms`);
    (store.redis as Redis).disconnect();
    for (const s of sockets) s.destroy();
    relay.close();
    await once(relay, 'close');
  });
});

describe('RedisRateLimitStore when the replies of an open connection are lost', { skip }, () => {
  test(
    'after a few command timeouts the client reconnects (through the forwarder) and commands succeed again',
    { timeout: 15_000 },
    async () => {
      const forwarder = new TcpForwarder(6379);
      const port = await forwarder.listen();
      const connectionErrors: string[] = [];
      // Default timeouts: 250 ms per command, the connection is dropped after 1 s without a reply.
      const store = new RedisRateLimitStore({
        url: `redis://127.0.0.1:${port}`,
        keyPrefix: uniquePrefix('blackhole'),
        onConnectionError: (e) => connectionErrors.push(e.message),
      });
      const rules = compileRateLimitRules([{ requests: 1000, per: 1000 }]);
      try {
        await store.ready();
        assert.equal((await store.take('svc', 'k', rules, 1000)).allowed, true);
        assert.equal(forwarder.accepted, 1);
        const reconnected = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no reconnection; connection errors: ${JSON.stringify(connectionErrors)}`)),
            8000,
          );
          (store.redis as Redis).once('ready', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        reconnected.catch(() => undefined);
        assert.equal(forwarder.blackhole(), 1);
        // The connection stays open; every command now times out.
        for (let i = 0; i < 3; i++) {
          await assert.rejects(
            store.take('svc', 'k', rules, 1000 + i),
            (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_RATELIMIT_STORE_UNAVAILABLE' && /timed out/.test(e.message),
          );
        }
        // Dropped for its silence and opened again through the forwarder, which passes new connections.
        await reconnected;
        assert.equal(forwarder.accepted, 2);
        assert.ok(
          connectionErrors.some((m) => /Socket timeout/.test(m)),
          JSON.stringify(connectionErrors),
        );
        assert.equal((await store.take('svc', 'k', rules, 2000)).allowed, true);
      } finally {
        await store.close();
        await forwarder.close();
      }
    },
  );
});
