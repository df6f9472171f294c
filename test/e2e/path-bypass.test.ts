// Paths that a backend reads as another path must not reach paid content through a free route:
// `GET /free/..\api/secret` (a backend parsing like `new URL()` turns `\` into `/`), `..;` (Servlet
// containers drop `;params`), double encoding (a backend that decodes twice), `//` (backends that merge
// slashes). Each is refused 400
// over HTTP/1.1, HTTP/2 (h2c) and a WebSocket upgrade, and the backend never sees it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2Session, startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from './support.js';

/** Paths a backend (browser-like URL parser, Servlet container, double decoder) would serve as /api/secret. */
const BYPASSES = [
  '/free/..\\api/secret',
  '/free\\..\\api\\secret',
  '/free/..;/api/secret',
  '/free/.;/../api/secret',
  '/api;x/secret',
  '/free/%252e%252e/api/secret',
  '/free/..%252Fapi/secret',
  '/free/..%255capi/secret',
  '//api/secret',
];

/** Sends one raw HTTP/1.1 request on a fresh connection; resolves with everything received when the server has answered. */
async function raw(port: number, text: string): Promise<{ status: string; body: string }> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let out = '';
  const answered = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      const end = out.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(out);
      if (end !== -1 && length !== null && out.length >= end + 4 + Number(length[1])) resolve();
    });
    socket.once('close', () => resolve());
  });
  socket.write(text, 'latin1');
  await answered;
  socket.destroy();
  return { status: out.split('\r\n')[0] ?? '', body: out.split('\r\n\r\n')[1] ?? '' };
}

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

describe('paths with more than one meaning are refused before routing', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const seen: string[] = [];
  const baseDir = tempBaseDir();

  before(async () => {
    backend = await startBackend((req, res) => {
      // What a backend using the WHATWG URL parser serves.
      seen.push(req.url ?? '');
      res.end(`served ${new URL(req.url ?? '/', 'http://backend').pathname}\n`);
    });
    backend.server.on('upgrade', (req: { url?: string }, socket: Socket) => {
      seen.push(`upgrade ${req.url ?? ''}`);
      socket.destroy();
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: paid
    pathregexp: '^/api/'
    address: ${backend.address}
    price: 10
  - name: free
    pathregexp: '^/free'
    address: ${backend.address}
    auth: 'off'
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    await aperture.close();
    await backend.close();
    rmSync(baseDir, { recursive: true, force: true });
  });

  const port = (): number => aperture.addresses.proxy.port;

  test('the routes themselves: /api/secret costs money, /free is served, %3B is a literal semicolon', async () => {
    seen.length = 0;
    assert.equal((await h1(`${aperture.url}/api/secret`)).status, 402);
    assert.equal((await h1(`${aperture.url}/free/ok`)).body, 'served /free/ok\n');
    assert.equal((await h1(`${aperture.url}/free/a%3Bb`)).body, 'served /free/a%3Bb\n');
    assert.deepEqual(seen, ['/free/ok', '/free/a%3Bb']);
  });

  test('HTTP/1.1: 400 L402_ERR_PROXY_BAD_TARGET, nothing reaches the backend', async () => {
    seen.length = 0;
    for (const path of BYPASSES) {
      const r = await raw(port(), `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 'HTTP/1.1 400 Bad Request', path);
      assert.match(r.body, /L402_ERR_PROXY_BAD_TARGET/, path);
    }
    assert.deepEqual(seen, []);
  });

  test('HTTP/2 (h2c): 400, nothing reaches the backend', async () => {
    seen.length = 0;
    const session = await h2Session(aperture.url);
    try {
      for (const path of BYPASSES) {
        const stream = session.request({ ':path': path });
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
        await once(stream, 'end');
        assert.equal(headers[':status'], 400, path);
        assert.match(Buffer.concat(chunks).toString(), /L402_ERR_PROXY_BAD_TARGET/, path);
      }
    } finally {
      session.close();
    }
    assert.deepEqual(seen, []);
  });

  test('WebSocket upgrade: 400, nothing reaches the backend', async () => {
    seen.length = 0;
    for (const path of BYPASSES) {
      const r = await raw(port(), `GET ${path} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`);
      assert.equal(r.status, 'HTTP/1.1 400 Bad Request', path);
      assert.match(r.body, /L402_ERR_PROXY_BAD_TARGET/, path);
    }
    assert.deepEqual(seen, []);
  });
});
