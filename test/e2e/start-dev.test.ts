// `npm start` (src/cli/start-dev.ts) as a child process: start, the printed curl flow done with fetch, SIGTERM.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { parseChallenges } from '../../src/core/challenge.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { spawnNode } from './spawn.js';
import { freePort, tempBaseDir } from './support.js';

test('npm start: 402 → POST /api/dev/pay → retry with Authorization: L402 → 200, then a clean SIGTERM', async (t) => {
  const port = await freePort();
  const baseDir = tempBaseDir(t);
  const p = spawnNode('src/cli/start-dev.ts', [], { APERTURE_BASEDIR: baseDir, APERTURE_PORT: String(port) }, t);
  await p.waitFor(/Ctrl-C stops it/);
  const base = `http://127.0.0.1:${port}`;
  assert.ok(p.output().includes(`curl -si ${base}/api/quote`));

  // What a payment buys is said, and is not a lifetime pass.
  assert.match(
    p.output(),
    /a token \(a pass\) for the demo service, good for any number of requests\nto \/api\/quote and \/api\/stream for 60 minutes \(timeout: 3600 in /,
  );

  const before = Math.floor(Date.now() / 1000);
  const challenged = await fetch(`${base}/api/quote`);
  assert.equal(challenged.status, 402);
  const c = parseChallenges(challenged.headers.get('www-authenticate') ?? '')[0];
  assert.ok(c !== undefined);
  const validUntil = Macaroon.fromBase64(c.macaroon)
    .firstPartyCaveats()
    .find((cav) => cav.startsWith('demo_valid_until='));
  assert.ok(validUntil !== undefined, 'the demo token expires');
  const expires = Number(validUntil.slice('demo_valid_until='.length));
  assert.ok(expires >= before + 3600 && expires <= Math.ceil(Date.now() / 1000) + 3600, `expires ${expires}, now ${before}`);
  const paid = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: c.invoice }) });
  assert.equal(paid.status, 200);
  const { preimage } = (await paid.json()) as { preimage: string };
  const ok = await fetch(`${base}/api/quote`, { headers: { authorization: `L402 ${c.macaroon}:${preimage}` } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { paid: boolean }).paid, true);
  assert.equal((await fetch(`${base}/api/free`)).status, 200);
  const stream = await fetch(`${base}/api/stream`, { headers: { authorization: `L402 ${c.macaroon}:${preimage}` } });
  assert.equal(stream.headers.get('content-type'), 'text/event-stream');
  const reader = stream.body?.getReader();
  const first = await reader?.read();
  assert.match(Buffer.from(first?.value ?? []).toString(), /event: tick/);
  await reader?.cancel();

  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0, p.output());
});

test('npm start fails clearly when the port is taken', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const port = (blocker.address() as { port: number }).port;
  const p = spawnNode('src/cli/start-dev.ts', ['--port', String(port)], { APERTURE_BASEDIR: tempBaseDir(t) }, t);
  assert.equal(await p.exited, 1);
  assert.match(p.output(), /address already in use/);
  blocker.close();
});
