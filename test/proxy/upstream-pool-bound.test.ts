// The bound on a REST backend's pool (Proxy options maxConnectionsPerOrigin / maxQueuedPerOrigin)
// counts a request until undici is done with it: requests whose clients gave up while waiting for
// a connection give their places back once the queue reaches them, without reaching the backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type ServerResponse } from 'node:http';
import { h1, service, startBackend, startProxy, until } from './support.js';

test('waiting requests whose clients went away free their places; none of them reaches the backend', async () => {
  const held: ServerResponse[] = [];
  const paths: string[] = [];
  const backend = await startBackend((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  const p = await startProxy({ services: [service(backend.address)], maxConnectionsPerOrigin: 1, maxQueuedPerOrigin: 3 });
  try {
    const first = h1(`${p.url}/hold`);
    await until(() => held.length === 1, 'the first request at the backend');
    const waiting = [0, 1, 2].map(() => {
      const r = request(`${p.url}/gave-up`, { agent: false });
      r.on('error', () => undefined);
      r.end();
      return r;
    });
    await until(() => p.server.activeRequests === 4, 'three requests waiting for the connection');
    const full = await h1(`${p.url}/one-too-many`);
    assert.equal(full.status, 503);
    assert.match(full.body, /L402_ERR_UPSTREAM_BUSY/);

    for (const r of waiting) r.destroy();
    await until(() => p.server.activeRequests === 1, 'the waiting clients gone');
    held[0]?.end('done');
    assert.equal((await first).body, 'done');

    // The places are back: one running and three waiting again, all answered.
    const answers = await Promise.all([0, 1, 2, 3].map(() => h1(`${p.url}/fine`)));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200],
    );
    assert.deepEqual(paths, ['/hold', '/fine', '/fine', '/fine', '/fine']);
  } finally {
    for (const res of held) res.destroy();
    await p.close();
    await backend.close();
  }
});
