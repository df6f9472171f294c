// Rate limiting micro-benchmarks. Run: node --import tsx bench/micro/ratelimit.ts
// Memory-backed checks against the TokenBucket baseline; Redis-backed checks on
// loopback (127.0.0.1:6379), sequential and with many requests in flight.
import { cpus } from 'node:os';
import { randomBytes } from 'node:crypto';
import { RateLimiter } from '../../src/ratelimit/rate-limiter.js';
import { RedisRateLimitStore } from '../../src/ratelimit/redis-rate-limit-store.js';
import { TokenBucket } from '../../src/ratelimit/token-bucket.js';
import type { Redis } from 'ioredis';

const CLIENTS = 10_000;
const keys = Array.from({ length: CLIENTS }, (_, i) => `token:${i.toString(16).padStart(64, '0')}`);
const oneRule = [{ requests: 100, per: '1s' }];
const twoRules = [
  { requests: 100, per: '1s' },
  { pathregexp: '^/api/v1/expensive', requests: 5, per: '1m' },
];

interface Row {
  name: string;
  ops: number;
  perSec: number;
  note: string;
}
const rows: Row[] = [];

function timeSync(name: string, ops: number, note: string, fn: (i: number) => void): void {
  for (let i = 0; i < Math.min(ops, 200_000); i++) fn(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) fn(i);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  rows.push({ name, ops, perSec: ops / s, note });
}

async function timeAsync(name: string, ops: number, inFlight: number, note: string, fn: (i: number) => Promise<unknown>): Promise<void> {
  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next < n) await fn(next++);
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  };
  await run(Math.min(ops, 2000));
  const start = process.hrtime.bigint();
  await run(ops);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  rows.push({ name, ops, perSec: ops / s, note });
}

const bucket = new TokenBucket({ requests: 1e9, per: 1000 });
timeSync('TokenBucket.take (baseline)', 5_000_000, 'one bucket, always allowed', () => {
  bucket.take();
});

const mem1 = new RateLimiter({ service: 'bench', rules: oneRule });
timeSync('RateLimiter.check, memory, 1 rule', 3_000_000, `${CLIENTS} clients round-robin`, (i) => {
  mem1.check(keys[i % CLIENTS] as string, '/api/v1/cheap');
});

const mem2 = new RateLimiter({ service: 'bench', rules: twoRules });
timeSync('RateLimiter.check, memory, 2 rules (1 regexp)', 3_000_000, `${CLIENTS} clients, path matches both`, (i) => {
  mem2.check(keys[i % CLIENTS] as string, '/api/v1/expensive/q');
});

const memHot = new RateLimiter({ service: 'bench', rules: oneRule });
timeSync('RateLimiter.check, memory, 1 rule, 1 client', 3_000_000, 'mostly denied', () => {
  memHot.check('token:x', '/');
});

const memChurn = new RateLimiter({ service: 'bench', rules: oneRule, maxClients: 1000 });
timeSync('RateLimiter.check, memory, LRU churn', 2_000_000, `${CLIENTS} clients over a 1,000 bound`, (i) => {
  memChurn.check(keys[i % CLIENTS] as string, '/');
});

const prefix = `aperture-bench:${randomBytes(4).toString('hex')}:`;
const store = new RedisRateLimitStore({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix, commandTimeoutMs: 2000 });
let redisNote = '';
try {
  await store.ready();
  const red1 = new RateLimiter({ service: 'bench', rules: oneRule, store });
  const red2 = new RateLimiter({ service: 'bench', rules: twoRules, store });
  await timeAsync('RateLimiter.check, Redis, 1 rule, sequential', 20_000, 1, 'one request in flight', (i) =>
    Promise.resolve(red1.check(keys[i % CLIENTS] as string, '/')),
  );
  await timeAsync('RateLimiter.check, Redis, 2 rules, sequential', 20_000, 1, 'one request in flight', (i) =>
    Promise.resolve(red2.check(keys[i % CLIENTS] as string, '/api/v1/expensive')),
  );
  await timeAsync('RateLimiter.check, Redis, 1 rule, 64 in flight', 200_000, 64, 'pipelined on one connection', (i) =>
    Promise.resolve(red1.check(keys[i % CLIENTS] as string, '/')),
  );
  await timeAsync('RateLimiter.check, Redis, 2 rules, 64 in flight', 200_000, 64, 'pipelined on one connection', (i) =>
    Promise.resolve(red2.check(keys[i % CLIENTS] as string, '/api/v1/expensive')),
  );
  const errors = red1.stats().storeErrors + red2.stats().storeErrors;
  if (errors > 0) redisNote = `${errors} store errors during the Redis runs`;
  const redis = store.redis as Redis;
  const leftovers = await redis.keys(`${prefix}*`);
  if (leftovers.length > 0) await redis.del(...leftovers);
} catch (error) {
  redisNote = `Redis runs skipped: ${(error as Error).message}`;
} finally {
  await store.close();
}

const base = rows[0]?.perSec ?? 1;
console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), ${process.platform}/${process.arch}`);
console.log('| benchmark | ops | ops/s | vs baseline | notes |');
console.log('|---|---:|---:|---:|---|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.ops.toLocaleString('en-US')} | ${Math.round(r.perSec).toLocaleString('en-US')} | ${(r.perSec / base).toPrecision(2)}× | ${r.note} |`,
  );
}
if (redisNote !== '') console.log(`\n${redisNote}`);
