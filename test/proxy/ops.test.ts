import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { Counter, Histogram, Registry } from 'prom-client';
import { ProxyMetrics } from '../../src/proxy/ops/metrics.js';
import { RequestSeries } from '../../src/proxy/ops/request-series.js';

test('the logger never writes a credential, even in objects logged whole', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = createLogger('debug', sink);
  const secretMac = 'AgEEbHNhdAJCAAAsecretmacaroon';
  const secretPreimage = 'ab'.repeat(32);
  log.info({ headers: { authorization: `L402 ${secretMac}:${secretPreimage}`, 'grpc-metadata-macaroon': 'cafe' } }, 'request');
  log.info({ credential: { macaroon: secretMac, preimage: secretPreimage } }, 'nested');
  log.info({ preimage: secretPreimage }, 'top level');
  log.info({ authenticator: { passphrase: 'abandon ability able about above absent absorb abstract absurd abuse' } }, 'lnc');
  const text = lines.join('');
  assert.equal(lines.length, 4);
  assert.ok(!text.includes('absorb abstract'), text);
  assert.ok(!text.includes(secretMac), text);
  assert.ok(!text.includes(secretPreimage), text);
  assert.ok(!text.includes('cafe'), text);
  assert.match(text, /\[redacted\]/);
});

test('the reference debug levels map onto pino levels', () => {
  const sink = new Writable({ write: (_c, _e, done) => done() });
  assert.equal(createLogger('critical', sink).level, 'fatal');
  assert.equal(createLogger('off', sink).level, 'silent');
  assert.equal(createLogger('trace', sink).level, 'trace');
});

test('metrics render in the Prometheus text format, per instance', async () => {
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  a.recordRequest('svc', 'challenged', 0.002);
  a.challenges.inc({ service: 'svc' });
  a.lightningUp.set(1);
  const { contentType, body } = await a.render();
  assert.match(contentType, /text\/plain/);
  assert.match(body, /aperture_requests_total\{service="svc",outcome="challenged"\} 1/);
  assert.match(body, /aperture_challenges_total\{service="svc"\} 1/);
  assert.match(body, /aperture_lightning_up 1/);
  assert.match(body, /aperture_request_duration_seconds_bucket\{le="0.0025",service="svc",outcome="challenged"\} 1/);
  const other = await b.render();
  assert.doesNotMatch(other.body, /outcome="challenged"\} 1/);
});

test('request counts and latencies render exactly as prom-client renders the same observations', async () => {
  const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const ours = new Registry();
  const series = new RequestSeries(bounds, {
    counter: { name: 'x_requests_total', help: 'Requests.' },
    histogram: { name: 'x_duration_seconds', help: 'Latency.' },
  });
  ours.registerMetric(series.counter as never);
  ours.registerMetric(series.histogram as never);
  const theirs = new Registry();
  const counter = new Counter({
    name: 'x_requests_total',
    help: 'Requests.',
    labelNames: ['service', 'outcome'] as const,
    registers: [theirs],
  });
  const histogram = new Histogram({
    name: 'x_duration_seconds',
    help: 'Latency.',
    labelNames: ['service', 'outcome'] as const,
    buckets: bounds,
    registers: [theirs],
  });
  // Values on and around every bound, and beyond the last one.
  const values = [0, 0.0004, 0.0005, 0.00051, 0.001, 0.003, 0.01, 0.7, 1, 2.5, 9.99, 10, 10.01, 120];
  const labels = [
    ['api', 'forwarded'],
    ['api', 'challenged'],
    ['', 'not_found'],
    ['other', 'forwarded'],
  ] as const;
  for (const [i, v] of values.entries()) {
    const [service, outcome] = labels[i % labels.length] as readonly [string, string];
    series.record(service, outcome, v);
    counter.inc({ service, outcome });
    histogram.observe({ service, outcome }, v);
  }
  // Series appear in first-seen order in both; compare line sets to stay independent of it.
  const lines = (text: string): string[] => text.split('\n').sort();
  assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
  const json = async (r: Registry): Promise<unknown> => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
  assert.deepEqual(await json(ours), await json(theirs));
  ours.resetMetrics();
  assert.doesNotMatch(await ours.metrics(), /service=/);
});

test('request series refuse bounds that are not ascending', () => {
  assert.throws(
    () => new RequestSeries([0.1, 0.1], { counter: { name: 'a', help: 'a' }, histogram: { name: 'b', help: 'b' } }),
    RangeError,
  );
});
