// A POST with `Content-Length: 10000000000` to a paid route got its 402 in 36 ms, then aperture read
// and discarded 7.1 GB for 18 s. Every answer given without forwarding (402, 429, 403, ...) now stops
// reading: HTTP/1.1 closes the connection after a bounded drain, HTTP/2 resets the stream's request
// side. Measured in bytes the process read (/proc/self/io: the server's reads plus the client's
// reads of the short answers), not in time.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { UNREAD_BODY_DRAIN_BYTES } from '../../src/adapters/node/discard-unread-body.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { endlessStream, endlessUpload } from '../proxy/endless-body.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from './support.js';

/** Bytes this process has read from files and sockets, where Linux tells. */
function bytesRead(): number | undefined {
  if (!existsSync('/proc/self/io')) return undefined;
  const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return m === null ? undefined : Number(m[1]);
}

/** Most body bytes a sender may get in before the connection closes: far less than what was declared. */
const LIMIT = 64 * 1024 * 1024;
/** Most bytes the process may read for one refused upload: what arrived before the answer, the drain, one socket read, the answer itself. */
const ACCEPTED = 5 * UNREAD_BODY_DRAIN_BYTES;

describe('aperture stops reading a body it answered without', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const baseDir = tempBaseDir();
  let forwarded = 0;

  before(async () => {
    backend = await startBackend((req, res) => {
      forwarded++;
      req.resume();
      req.on('end', () => res.end('ok\n'));
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
blocklist: ['203.0.113.0/24']
trustedproxies: ['127.0.0.1']
authenticator:
  backend: dev
services:
  - name: paid
    pathregexp: '^/api/'
    address: ${backend.address}
    price: 10
  - name: limited
    pathregexp: '^/limited'
    address: ${backend.address}
    auth: 'off'
    ratelimits:
      - requests: 1
        per: 1h
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    // Spend the rate limit's one request.
    assert.equal((await h1(`${aperture.url}/limited`)).status, 200);
    forwarded = 0;
  });

  after(async () => {
    await aperture.close();
    await backend.close();
    rmSync(baseDir, { recursive: true, force: true });
  });

  const huge = 'Content-Length: 10000000000\r\n';
  for (const [name, head, chunked, status] of [
    ['402, Content-Length: 10000000000', `POST /api/secret HTTP/1.1\r\nHost: x\r\n${huge}\r\n`, false, 402],
    ['402, chunked', 'POST /api/secret HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', true, 402],
    ['429 rate limited', `POST /limited HTTP/1.1\r\nHost: x\r\n${huge}\r\n`, false, 429],
    ['403 blocked', `POST /api/secret HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.5\r\n${huge}\r\n`, false, 403],
    ["405 from the dev backend's pay endpoint to a GET", `GET /api/dev/pay HTTP/1.1\r\nHost: x\r\n${huge}\r\n`, false, 405],
  ] as const) {
    test(`HTTP/1.1 ${name}: the answer, then the connection closed after a bounded drain`, async () => {
      const before = bytesRead();
      const r = await endlessUpload(aperture.addresses.proxy.port, head, LIMIT, chunked);
      const read = before === undefined ? undefined : (bytesRead() as number) - before;
      assert.match(r.received, new RegExp(`^HTTP/1\\.1 ${status} `), r.received.slice(0, 200));
      assert.match(r.received, /\r\nconnection: close\r\n/i);
      assert.ok(r.closed, `the connection stayed open while ${r.written} bytes were sent`);
      if (read !== undefined) assert.ok(read <= ACCEPTED, `${read} bytes read`);
    });
  }

  test('HTTP/2 (h2c) 402: the whole answer, then RST_STREAM(NO_ERROR); the body is not read past the stream window', async () => {
    const before = bytesRead();
    const r = await endlessStream(aperture.url, '/api/secret', LIMIT);
    const read = before === undefined ? undefined : (bytesRead() as number) - before;
    assert.equal(r.headers[':status'], 402);
    assert.equal(r.body, 'payment required\n');
    assert.equal(r.rstCode, 0);
    if (read !== undefined) assert.ok(read <= ACCEPTED, `${read} bytes read`);
  });

  test('nothing reached the backend', () => {
    assert.equal(forwarded, 0);
  });
});
