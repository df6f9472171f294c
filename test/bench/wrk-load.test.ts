// The wrk driver: saturating load from a C generator, with the credentials
// sent in turn and wrk's counters read back. Skipped (visibly) where wrk is
// not installed, except under CI=true, where .ci/run installs it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findWrk, wrkRun } from '../../bench/load/wrk-load.js';

const wrk = findWrk();
const skip = wrk === undefined && process.env['CI'] !== 'true' ? 'wrk is not installed (apt install wrk)' : false;

test('wrkRun sends the credentials in turn and reports requests, latency and non-2xx answers', { skip }, async () => {
  assert.ok(wrk !== undefined, 'wrk must be installed under CI (.ci/run installs it)');
  const seen = new Map<string, number>();
  let served = 0;
  const server = createServer((req, res) => {
    const auth = String(req.headers.authorization);
    seen.set(auth, (seen.get(auth) ?? 0) + 1);
    served++;
    // Every tenth answer is a 500, which wrk counts as a non-2xx/3xx status.
    res.statusCode = served % 10 === 0 ? 500 : 200;
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dir = mkdtempSync(join(tmpdir(), 'wrk-test-'));
  try {
    const tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, 'L402 a:1\nL402 b:2\n\n');
    const { port } = server.address() as AddressInfo;
    const r = await wrkRun({ wrk, url: `http://127.0.0.1:${port}/x`, connections: 2, durationSec: 1, tokenFile });
    assert.ok(r.requests > 100, `only ${r.requests} requests`);
    // wrk stops counting when its time is up; a request or two may still reach the server.
    assert.ok(served >= r.requests && served - r.requests <= 4, `served ${served}, wrk counted ${r.requests}`);
    assert.deepEqual([...seen.keys()].sort(), ['L402 a:1', 'L402 b:2']);
    assert.ok(Math.abs((seen.get('L402 a:1') ?? 0) - (seen.get('L402 b:2') ?? 0)) <= 4, JSON.stringify([...seen]));
    assert.ok(Math.abs(r.nonSuccess - Math.floor(r.requests / 10)) <= 2, `non-2xx: ${r.nonSuccess} of ${r.requests}`);
    assert.equal(r.errors, 0);
    assert.ok(r.durationSec > 0.9 && r.durationSec < 2, `duration ${r.durationSec}`);
    assert.ok(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.p999_ms, JSON.stringify(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    server.close();
  }
});

test("wrkRun rejects with wrk's own message when it cannot run", { skip }, async () => {
  assert.ok(wrk !== undefined);
  await assert.rejects(
    wrkRun({ wrk, url: 'http://127.0.0.1:1/', connections: 1, durationSec: 1, tokenFile: undefined }),
    /wrk (exited|printed no result)/,
  );
});
