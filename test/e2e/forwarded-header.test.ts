// RFC 7239 `Forwarded` through aperture, as docs/configuration.md (`trustedproxies`) promises:
// from a trusted proxy, its `for=` is the client address for the blocklist, freebies and rate
// limits (HTTP/1.1 and HTTP/2); from anyone else it is ignored. What the backend receives: the
// client's `Forwarded` with this hop appended, `X-Forwarded-For` with the peer appended.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2, h2Session, startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

function config(backend: string, trusted: string): string {
  return `
listenaddr: 127.0.0.1:0
insecure: true
blocklist: ['203.0.113.0/24', '2001:db8:dead::/48']
trustedproxies: [${trusted}]
authenticator:
  backend: dev
services:
  - name: freebie
    pathregexp: '^/freebie'
    address: ${backend}
    auth: freebie 1
  - name: open
    address: ${backend}
    auth: 'off'
`;
}

describe('Forwarded from a trusted proxy', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const seen: IncomingHttpHeaders[] = [];

  const baseDir = tempBaseDir();
  before(async () => {
    backend = await startBackend((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    aperture = await startAperture(configFrom(config(backend.address, "'127.0.0.1'"), baseDir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
  });

  after(async () => {
    await aperture.close();
    await backend.close();
    removeDir(baseDir);
  });

  test('blocklist: a client named by for= (IPv4, quoted IPv6 with a port) is refused 403, on HTTP/1.1 and HTTP/2', async () => {
    const blocked = await h1(`${aperture.url}/x`, { headers: { forwarded: 'for=203.0.113.77;proto=https' } });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body, 'access denied\n');
    const v6 = await h1(`${aperture.url}/x`, { headers: { forwarded: 'for="[2001:db8:dead::5]:4711"' } });
    assert.equal(v6.status, 403);
    const session = await h2Session(aperture.url);
    assert.equal((await h2(session, { ':path': '/x', forwarded: 'for=203.0.113.78' })).headers[':status'], 403);
    // The walk goes from the right: an allowed address appended last is the client.
    assert.equal((await h2(session, { ':path': '/x', forwarded: 'for=203.0.113.78, for=198.51.100.1' })).headers[':status'], 200);
    session.close();
    // An obfuscated node is no address: the peer (127.0.0.1, not blocked) counts.
    assert.equal((await h1(`${aperture.url}/x`, { headers: { forwarded: 'for=203.0.113.77, for=_hidden' } })).status, 200);
  });

  test('freebies are counted per client network named by for=', async () => {
    const a = { forwarded: 'for=198.51.100.7' };
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: a })).status, 200);
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: a })).status, 402);
    // Another /24, another allowance.
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: { forwarded: 'for="198.51.101.7:80"' } })).status, 200);
  });

  test('the backend gets the client Forwarded with this hop appended; none is invented', async () => {
    seen.length = 0;
    await h1(`${aperture.url}/y`, { headers: { forwarded: 'for=198.51.100.9;proto=https', 'x-forwarded-for': '198.51.100.9' } });
    await h1(`${aperture.url}/y`);
    const host = `127.0.0.1:${aperture.addresses.proxy.port}`;
    assert.equal(seen[0]?.forwarded, `for=198.51.100.9;proto=https, for=127.0.0.1;proto=http;host="${host}"`);
    assert.equal(seen[0]?.['x-forwarded-for'], '198.51.100.9, 127.0.0.1');
    assert.equal(seen[1]?.forwarded, undefined);
    assert.equal(seen[1]?.['x-forwarded-for'], '127.0.0.1');
  });
});

test('Forwarded from a peer that is not a trusted proxy is ignored', async (t) => {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const aperture = await startAperture(configFrom(config(backend.address, "'10.9.9.9'"), tempBaseDir(t)), {
    logger: quiet,
    gcIntervalMs: 0,
    defaultMetrics: false,
  });
  try {
    assert.equal((await h1(`${aperture.url}/x`, { headers: { forwarded: 'for=203.0.113.77' } })).status, 200);
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: { forwarded: 'for=198.51.100.7' } })).status, 200);
    // Another claimed network changes nothing: the peer's allowance is spent.
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: { forwarded: 'for=198.51.101.7' } })).status, 402);
  } finally {
    await aperture.close();
    await backend.close();
  }
});
