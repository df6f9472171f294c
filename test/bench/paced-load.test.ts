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

test("pacedRun with paths sends them in turn and keeps each one's latencies apart", async () => {
  const byPath = new Map<string, number>();
  const server = createServer((req, res) => {
    byPath.set(String(req.url), (byPath.get(String(req.url)) ?? 0) + 1);
    // The slow path answers after 20 ms: its samples must not mix with the fast one's.
    if (req.url === '/slow') setTimeout(() => res.end('ok'), 20);
    else res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const outcome = await pacedRun({
      url: `http://127.0.0.1:${port}/`,
      rate: 200,
      connections: 8,
      durationSec: 0.5,
      authorizations: [],
      record: true,
      paths: ['/slow', '/fast'],
    });
    assert.deepEqual(Object.fromEntries(byPath), { '/slow': 50, '/fast': 50 });
    assert.equal(outcome.byPath.length, 2);
    assert.equal(outcome.byPath[0]?.size, 50);
    assert.equal(outcome.byPath[1]?.size, 50);
    const [slowP50] = outcome.byPath[0]?.percentiles([50]) ?? [];
    const [fastP50] = outcome.byPath[1]?.percentiles([50]) ?? [];
    assert.ok((slowP50 as number) >= 19, `slow p50 ${slowP50}`);
    assert.ok((fastP50 as number) < 10, `fast p50 ${fastP50}`);
  } finally {
    server.close();
  }
});
