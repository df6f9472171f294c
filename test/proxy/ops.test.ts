import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { ProxyMetrics } from '../../src/proxy/ops/metrics.js';

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
  const text = lines.join('');
  assert.equal(lines.length, 3);
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
  a.requests.inc({ service: 'svc', outcome: 'challenged' });
  a.challenges.inc({ service: 'svc' });
  a.lightningUp.set(1);
  a.latency.observe({ service: 'svc', outcome: 'challenged' }, 0.002);
  const { contentType, body } = await a.render();
  assert.match(contentType, /text\/plain/);
  assert.match(body, /aperture_requests_total\{service="svc",outcome="challenged"\} 1/);
  assert.match(body, /aperture_challenges_total\{service="svc"\} 1/);
  assert.match(body, /aperture_lightning_up 1/);
  assert.match(body, /aperture_request_duration_seconds_bucket\{le="0.0025",service="svc",outcome="challenged"\} 1/);
  const other = await b.render();
  assert.doesNotMatch(other.body, /outcome="challenged"\} 1/);
});
