// `ratelimitstore: {backend: redis}` through the aperture config: two instances share one
// limit and one freebie count; an unreachable Redis follows `onstoreerror` (allow: pass, logged
// and counted; deny: 503), and /metrics exports the counts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { REDIS_URL, redisSkipReason, uniquePrefix } from '../ratelimit/redis-available.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, freePort, quiet, tempBaseDir } from './support.js';

const skip = await redisSkipReason();

function yamlFor(backendAddress: string, redisUrl: string, onStoreError: 'allow' | 'deny'): string {
  return `
listenaddr: 127.0.0.1:0
insecure: true
prometheus:
  enabled: true
  listenaddr: 127.0.0.1:0
ratelimitstore:
  backend: redis
  redisurl: ${redisUrl}
  onstoreerror: ${onStoreError}
authenticator:
  backend: dev
services:
  - name: limited
    pathregexp: '^/limited'
    address: ${backendAddress}
    auth: 'off'
    ratelimits:
      - requests: 3
        per: 1h
  - name: freebie
    pathregexp: '^/freebie'
    address: ${backendAddress}
    auth: freebie 2
    price: 5
`;
}

async function scrape(aperture: RunningAperture): Promise<string> {
  const m = aperture.addresses.metrics;
  assert.ok(m !== undefined);
  return (await h1(`http://127.0.0.1:${m.port}/metrics`)).body;
}

/** The value of one sample of the exposition text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('Redis-shared rate limits and freebies through the aperture config', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;

  before(async () => {
    backend = await startBackend((_req, res) => res.end('ok'));
  });
  after(async () => {
    await backend.close();
  });

  test('two instances on one Redis enforce one limit and one freebie count', { skip }, async (t) => {
    const prefix = uniquePrefix('aperture-e2e');
    const start = (): Promise<RunningAperture> =>
      startAperture(configFrom(yamlFor(backend.address, REDIS_URL, 'deny'), tempBaseDir(t)), {
        logger: quiet,
        gcIntervalMs: 0,
        defaultMetrics: false,
        redisKeyPrefix: prefix,
      });
    const a = await start();
    const b = await start();
    try {
      // Three requests per hour for this client network, whichever instance serves them.
      assert.equal((await h1(`${a.url}/limited/1`)).status, 200);
      assert.equal((await h1(`${b.url}/limited/2`)).status, 200);
      assert.equal((await h1(`${a.url}/limited/3`)).status, 200);
      const fourth = await h1(`${b.url}/limited/4`);
      assert.equal(fourth.status, 429);
      assert.ok(Number(fourth.headers['retry-after']) >= 1);
      assert.equal((await h1(`${a.url}/limited/5`)).status, 429);

      // Two freebies for the network across both instances, then the payment challenge.
      assert.equal((await h1(`${a.url}/freebie/1`)).status, 200);
      assert.equal((await h1(`${b.url}/freebie/2`)).status, 200);
      assert.equal((await h1(`${a.url}/freebie/3`)).status, 402);
      assert.equal((await h1(`${b.url}/freebie/4`)).status, 402);

      const ma = await scrape(a);
      const mb = await scrape(b);
      const allowed = (t: string): number => sample(t, 'aperture_rate_limit_total', 'service="limited",result="allowed"');
      const denied = (t: string): number => sample(t, 'aperture_rate_limit_total', 'service="limited",result="denied"');
      assert.equal(allowed(ma) + allowed(mb), 3);
      assert.equal(denied(ma) + denied(mb), 2);
      const granted = (t: string): number => sample(t, 'aperture_freebies_total', 'service="freebie",result="granted"');
      const exhausted = (t: string): number => sample(t, 'aperture_freebies_total', 'service="freebie",result="exhausted"');
      assert.equal(granted(ma) + granted(mb), 2);
      assert.equal(exhausted(ma) + exhausted(mb), 2);
      assert.match(ma, /# TYPE aperture_rate_limit_evictions_total counter/);
      assert.match(ma, /# TYPE aperture_freebie_evictions_total counter/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('Redis unreachable, onstoreerror allow: requests pass, the error is logged and counted', async (t) => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    const aperture = await startAperture(configFrom(yamlFor(backend.address, redisUrl, 'allow'), tempBaseDir(t)), {
      logger,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await h1(`${aperture.url}/limited/${i}`)).status, 200);
      const text = await scrape(aperture);
      assert.ok(sample(text, 'aperture_rate_limit_total', 'service="limited",result="store_error"') >= 5);
      assert.ok(
        lines.some((l) => l.includes('L402_ERR_RATELIMIT_STORE_UNAVAILABLE') && l.includes('"service":"limited"')),
        lines.join(''),
      );
      // Freebies are not granted while the count cannot be kept: the client is challenged instead.
      assert.equal((await h1(`${aperture.url}/freebie/1`)).status, 402);
      assert.ok(sample(await scrape(aperture), 'aperture_freebies_total', 'service="freebie",result="store_error"') >= 1);
    } finally {
      await aperture.close();
    }
  });

  test('Redis unreachable, onstoreerror deny: 503 with Retry-After, coded in the log', async (t) => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    const aperture = await startAperture(configFrom(yamlFor(backend.address, redisUrl, 'deny'), tempBaseDir(t)), {
      logger,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    try {
      const res = await h1(`${aperture.url}/limited/1`);
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.body, 'service unavailable (L402_ERR_RATELIMIT_STORE_UNAVAILABLE)\n');
      assert.ok(lines.some((l) => l.includes('L402_ERR_RATELIMIT_STORE_UNAVAILABLE')));
      const text = await scrape(aperture);
      assert.ok(sample(text, 'aperture_rate_limit_total', 'service="limited",result="store_error"') >= 1);
      assert.ok(sample(text, 'aperture_requests_total', 'service="limited",outcome="unavailable"') >= 1);
    } finally {
      await aperture.close();
    }
  });
});
