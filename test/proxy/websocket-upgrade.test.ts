// WebSocket upgrades: only a real `101 Switching Protocols` opens the tunnel;
// any other answer is relayed and the connection closed, so later bytes of the
// client can never reach the backend as further, unauthorized requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Decision } from '../../src/core/types.js';
import { service, startBackend, startProxy } from './support.js';

const UPGRADE =
  'GET /public HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const SMUGGLED = 'GET /api/premium HTTP/1.1\r\nHost: x\r\n\r\n';

/** Pays nothing for /public, demands payment for /api/*. */
const authorize = ({ request }: { request: { path: string } }): Decision =>
  request.path.startsWith('/api/')
    ? { kind: 'reject', status: 402, headers: [], body: 'payment required\n', code: 'L402_ERR_TOKEN_MISSING' }
    : { kind: 'allow', reason: 'auth-off' };

/** Collects what the socket receives; resolves `closed` on close. */
function collect(socket: Socket): { text: () => string; closed: Promise<void>; data: (match: RegExp) => Promise<void> } {
  let out = '';
  const waiters: Array<{ match: RegExp; resolve: () => void }> = [];
  socket.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.match.test(out)) w.resolve();
      else waiters.push(w);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    text: () => out,
    closed,
    data: (match) => (match.test(out) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ match, resolve }))),
  };
}

test(
  'a backend without WebSocket support: its answer is relayed with Connection: close, later bytes never reach it',
  { timeout: 10_000 },
  async () => {
    const seen: string[] = [];
    let smuggled!: () => void;
    const reachedPremium = new Promise<void>((resolve) => (smuggled = resolve));
    const backend = await startBackend((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/api/premium') smuggled();
      res.end(`backend served ${req.url}\n`);
    });
    const p = await startProxy({ services: [service(backend.address)], authorize });
    try {
      const socket = connect(p.port, '127.0.0.1');
      const got = collect(socket);
      socket.write(UPGRADE);
      await got.data(/backend served \/public\n/);
      if (!socket.destroyed && socket.writable) socket.write(SMUGGLED);
      // Either the proxy closes the connection (fixed) or the smuggled request arrives (vulnerable).
      await Promise.race([got.closed, reachedPremium]);
      socket.destroy();
      assert.deepEqual(seen, ['/public']);
      assert.match(got.text(), /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(got.text(), /\r\nconnection: close\r\n/i);
      assert.doesNotMatch(got.text(), /keep-alive/i);
    } finally {
      await p.close();
      await backend.close();
    }
  },
);

test('bytes pipelined behind the upgrade request are not sent when the backend refuses the upgrade', { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const backend = await startBackend((req, res) => {
    seen.push(req.url ?? '');
    res.statusCode = 404;
    res.end('no websocket here\n'); // chunked? no: content-length, and a keep-alive connection
  });
  const p = await startProxy({ services: [service(backend.address)], authorize });
  try {
    const socket = connect(p.port, '127.0.0.1');
    const got = collect(socket);
    socket.write(UPGRADE + SMUGGLED);
    await got.closed;
    assert.deepEqual(seen, ['/public']);
    assert.match(got.text(), /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(got.text(), /\r\n\r\nno websocket here\n$/);
  } finally {
    await p.close();
    await backend.close();
  }
});

test('a chunked refusal is relayed de-chunked and close-delimited', { timeout: 10_000 }, async () => {
  const backend = await startBackend((_req, res) => {
    res.statusCode = 400;
    res.write('part one, ');
    res.end('part two\n');
  });
  const p = await startProxy({ services: [service(backend.address)], authorize });
  try {
    const socket = connect(p.port, '127.0.0.1');
    const got = collect(socket);
    socket.write(UPGRADE);
    await got.closed;
    assert.match(got.text(), /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.doesNotMatch(got.text(), /transfer-encoding/i);
    assert.match(got.text(), /\r\n\r\npart one, part two\n$/);
  } finally {
    await p.close();
    await backend.close();
  }
});

test('a 101 without a WebSocket upgrade is not tunnelled: 502', { timeout: 10_000 }, async () => {
  const backend = await startBackend((_req, res) => res.end('x'));
  backend.server.on('upgrade', (_req, socket: Socket) => {
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n');
  });
  const p = await startProxy({ services: [service(backend.address)], authorize });
  try {
    const socket = connect(p.port, '127.0.0.1');
    const got = collect(socket);
    socket.write(UPGRADE);
    await got.closed;
    assert.match(got.text(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(got.text(), /L402_ERR_UPSTREAM_FAILED/);
  } finally {
    await p.close();
    await backend.close();
  }
});

test('WebSocket echo works through the tunnel', { timeout: 10_000 }, async () => {
  const backend = await startBackend((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  const p = await startProxy({ services: [service(backend.address)], authorize });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/ws`);
    await once(ws, 'open');
    for (const text of ['ping', 'pong', 'x'.repeat(70_000)]) {
      ws.send(text);
      const [reply] = (await once(ws, 'message')) as [Buffer];
      assert.equal(reply.toString(), text);
    }
    ws.close();
    await once(ws, 'close');
  } finally {
    wss.close();
    await p.close();
    await backend.close();
  }
});

test('the upstream upgrade request carries exactly Connection: upgrade and Upgrade: websocket', { timeout: 10_000 }, async () => {
  const backend = await startBackend((_req, res) => res.end('x'));
  let headers: Record<string, string | string[] | undefined> = {};
  backend.server.on('upgrade', (req, socket: Socket) => {
    headers = req.headers;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n');
  });
  const p = await startProxy({ services: [service(backend.address)], authorize });
  try {
    const socket = connect(p.port, '127.0.0.1');
    const got = collect(socket);
    socket.write(UPGRADE.replace('Connection: Upgrade', 'Connection: keep-alive, Upgrade, X-Hop\r\nX-Hop: secret'));
    await got.closed;
    assert.match(got.text(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.equal(headers.connection, 'upgrade');
    assert.equal(headers.upgrade, 'websocket');
    assert.equal(headers['x-hop'], undefined);
    assert.equal(headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
  } finally {
    await p.close();
    await backend.close();
  }
});

test('an idle tunnel is closed after timeouts.websocketIdleMs', { timeout: 10_000 }, async () => {
  const backend = await startBackend((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server: backend.server });
  let backendClosed = false;
  wss.on('connection', (ws) => ws.on('close', () => (backendClosed = true)));
  const p = await startProxy({ services: [service(backend.address)], authorize, timeouts: { websocketIdleMs: 150 } });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/ws`);
    await once(ws, 'open');
    const opened = Date.now();
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1006); // cut, not a closing handshake
    assert.ok(Date.now() - opened >= 100);
    await new Promise<void>((resolve) =>
      backendClosed ? resolve() : wss.clients.size === 0 ? resolve() : [...wss.clients][0]?.once('close', () => resolve()),
    );
  } finally {
    wss.close();
    await p.close();
    await backend.close();
  }
});
