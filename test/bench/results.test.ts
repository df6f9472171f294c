// The target report says when a saturating comparison was not saturated:
// a throughput ratio then reflects the load side, not the servers compared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTargets, serverBusyPct, toEntries } from '../../bench/lib/results.js';
import type { Measurement } from '../../bench/lib/scenarios.js';

function row(name: string, baseline: string | undefined, rps: number, cpuUsPerReq: number): Measurement {
  const requests = rps * 5;
  return {
    name,
    kind: 'http',
    description: name,
    baseline,
    requests,
    errors: 0,
    rps,
    p50_ms: 1,
    p99_ms: 2,
    p999_ms: 3,
    rss_mb: 100,
    rss_end_mb: 100,
    server_cpu_s: (cpuUsPerReq * requests) / 1e6,
    params: {},
  };
}

test('server busy is CPU per request times requests per second, in % of one CPU', () => {
  const [e] = toEntries([row('proxy-auth-off', undefined, 20_000, 45)], []);
  assert.ok(e !== undefined);
  assert.ok(Math.abs((serverBusyPct(e) as number) - 90) < 1e-9);
});

test('a comparison whose server was not saturated says so; a saturated one does not', () => {
  const target = (offRps: number, offCpu: number): string => {
    const entries = toEntries([row('peer-proxy', undefined, 10_000, 99), row('proxy-auth-off', 'peer-proxy', offRps, offCpu)], []);
    const t = evaluateTargets(entries).find((x) => x.target.startsWith('auth off'));
    assert.ok(t !== undefined);
    return t.measured;
  };
  assert.match(target(14_000, 50), /not saturated \(proxy-auth-off 70 % busy\): the load side set that throughput/);
  assert.doesNotMatch(target(14_000, 70), /not saturated/);
});

test('the interleaved p99 target is the median of the per-round differences between the paid and the free path', () => {
  const m = row('proxy-mixed-fixed-rate', undefined, 2000, 150);
  const paths = (paid: number, free: number): Record<string, { p50_ms: number; p99_ms: number }> => ({
    '/paid': { p50_ms: 0.7, p99_ms: paid },
    '/free': { p50_ms: 0.6, p99_ms: free },
  });
  m.params = {
    rate: 2000,
    by_path: paths(5.2, 5.0),
    runs: [
      { rps: 2000, p50_ms: 1, p99_ms: 5, cpu_us_per_req: 150, by_path: paths(9.0, 8.0) },
      { rps: 2000, p50_ms: 1, p99_ms: 5, cpu_us_per_req: 150, by_path: paths(5.3, 5.0) },
      { rps: 2000, p50_ms: 1, p99_ms: 5, cpu_us_per_req: 150, by_path: paths(4.9, 5.1) },
    ],
  };
  const t = evaluateTargets(toEntries([m], [])).find((x) => x.target.includes('interleaved'));
  assert.ok(t !== undefined);
  assert.match(t.measured, /^0\.30 ms, median of the rounds \(1\.00, 0\.30, -0\.20\)/);
  assert.equal(t.met, true);
  m.params['runs'] = (m.params['runs'] as { by_path: unknown }[]).map((r) => ({ ...r, by_path: paths(6.0, 5.0) }));
  assert.equal(evaluateTargets(toEntries([m], [])).find((x) => x.target.includes('interleaved'))?.met, false);
});
