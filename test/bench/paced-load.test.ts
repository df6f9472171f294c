// The fixed-rate load generator spreads requests over time instead of sending
// each second's quota in one burst (what autocannon's overallRate does).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pacedRun } from '../../bench/load/paced-load.js';

test('pacedRun sends rate x duration requests, spread out, with the credentials in turn', async () => {
  const arrivals: number[] = [];
  const auth: string[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    auth.push(String(req.headers.authorization));
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const outcome = await pacedRun({
      url: `http://127.0.0.1:${port}/`,
      rate: 200,
      connections: 4,
      durationSec: 0.5,
      authorizations: ['L402 a:1', 'L402 b:2'],
      record: true,
    });
    assert.equal(outcome.samples.size, 100);
    assert.deepEqual(outcome.statuses, { '200': 100 });
    assert.equal(outcome.errors, 0);
    assert.equal(arrivals.length, 100);
    // Credentials go out in turn; requests on different connections may arrive
    // in either order, so count them instead of checking the order.
    assert.equal(auth.filter((a) => a === 'L402 a:1').length, 50);
    assert.equal(auth.filter((a) => a === 'L402 b:2').length, 50);
    // 200 req/s is one request every 5 ms. A burst sender would deliver all 100
    // within a few milliseconds; paced, the span is about 500 ms.
    const span = (arrivals.at(-1) as number) - (arrivals[0] as number);
    assert.ok(span > 300, `requests arrived within ${span.toFixed(1)} ms`);
    for (const p of outcome.samples.percentiles([50])) assert.ok(p > 0);
  } finally {
    server.close();
  }
});
