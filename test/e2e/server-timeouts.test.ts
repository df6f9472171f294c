// The listener's client timeouts through startAperture: `idletimeout` closes an idle keep-alive
// connection, `readtimeout` ends a request whose head or body trickles in too slowly.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

/** A raw client socket that collects everything the proxy writes. */
async function rawClient(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const opened = performance.now();
  const closed = once(socket, 'close').then(() => performance.now() - opened);
  return { socket, received: () => text, closed };
}

describe('client timeouts of the aperture listener', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const bodies: number[] = [];
  const baseDir = tempBaseDir();

  before(async () => {
    backend = await startBackend((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => {
        bodies.push(n);
        res.end(`got ${n}`);
      });
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
idletimeout: 200ms
readtimeout: 300ms
authenticator:
  backend: dev
services:
  - name: open
    hostregexp: '.*'
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
    removeDir(baseDir);
  });

  test('idletimeout: a keep-alive connection left idle after its response is closed by the proxy', async () => {
    const c = await rawClient(aperture.addresses.proxy.port);
    c.socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => c.socket.on('data', () => c.received().endsWith('got 0') && resolve()));
    assert.match(c.received(), /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(c.received(), /connection: close/i);
    const answeredAt = performance.now();
    await c.closed;
    const idleFor = performance.now() - answeredAt;
    // Closed by the proxy (the client never ends it), not before the idle timeout.
    assert.ok(idleFor >= 150, `closed after ${idleFor.toFixed(0)} ms, before the 200 ms idle timeout`);
    assert.ok(idleFor < 5_000, `closed only after ${idleFor.toFixed(0)} ms`);
  });

  test('readtimeout: a body trickling in slower than the limit is answered 408 and the connection closed', async () => {
    const c = await rawClient(aperture.addresses.proxy.port);
    c.socket.write('POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    // One byte every 50 ms: the connection is never silent, but the whole body would take 50 s.
    const trickle = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write('x');
    }, 50);
    const elapsed = await c.closed;
    clearInterval(trickle);
    assert.ok(elapsed >= 250, `closed after ${elapsed.toFixed(0)} ms, before the 300 ms read timeout`);
    assert.ok(elapsed < 5_000, `closed only after ${elapsed.toFixed(0)} ms`);
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
    assert.ok(!bodies.includes(1000), 'the backend never saw a complete body');
  });

  test('readtimeout: a request head trickling in slower than the limit is answered 408 and the connection closed', async () => {
    const c = await rawClient(aperture.addresses.proxy.port);
    c.socket.write('GET /slow-head HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write('X-Pad: y\r\n');
    }, 50);
    const elapsed = await c.closed;
    clearInterval(trickle);
    assert.ok(elapsed >= 250, `closed after ${elapsed.toFixed(0)} ms, before the 300 ms read timeout`);
    assert.ok(elapsed < 5_000, `closed only after ${elapsed.toFixed(0)} ms`);
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
  });
});

test('readtimeout over TLS (HTTP/1.1 by ALPN): a trickling body is answered 408 and the connection closed', async (t) => {
  const backend = await startBackend((req, res) => {
    req.resume();
    req.on('end', () => res.end('done'));
  });
  const aperture = await startAperture(
    configFrom(
      `
listenaddr: 127.0.0.1:0
readtimeout: 300ms
authenticator:
  backend: dev
services:
  - name: open
    hostregexp: '.*'
    address: ${backend.address}
    auth: 'off'
`,
      tempBaseDir(t),
    ),
    { logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
  );
  try {
    const socket = tlsConnect({
      port: aperture.addresses.proxy.port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const opened = performance.now();
    const closed = once(socket, 'close');
    socket.write('POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write('x');
    }, 50);
    await closed;
    clearInterval(trickle);
    const elapsed = performance.now() - opened;
    assert.ok(elapsed >= 250 && elapsed < 5_000, `closed after ${elapsed.toFixed(0)} ms`);
    assert.match(text, /^HTTP\/1\.1 408 /);
  } finally {
    await aperture.close();
    await backend.close();
  }
});
