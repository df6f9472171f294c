// The target report says when a saturating comparison was not saturated:
// a throughput ratio then reflects the load side, not the servers compared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTargets, serverBusyPct, toEntries } from '../../bench/lib/results.js';
import type { Measurement } from '../../bench/lib/scenarios.js';

function row(name: string, baseline: string | undefined, rps: number, cpuUsPerReq: number): Measurement {
  const requests = rps * 5;
  return {
    name, kind: 'http', description: name, baseline, requests, errors: 0, rps, p50_ms: 1, p99_ms: 2, p999_ms: 3,
    rss_mb: 100, rss_end_mb: 100, server_cpu_s: (cpuUsPerReq * requests) / 1e6, params: {},
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
