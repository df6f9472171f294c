// Answers given without forwarding (402, 400, 404, OPTIONS) must not make the server read the
// request body: a client declaring `Content-Length: 10000000000` got its 402 at once, then the
// server read and discarded 7.1 GB. HTTP/1.1: `Connection: close`, at most a bounded drain, the
// connection closed; HTTP/2: the request side reset with NO_ERROR after the answer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { UNREAD_BODY_DRAIN_BYTES } from '../../src/adapters/node/discard-unread-body.js';
import type { Decision } from '../../src/core/types.js';
import { readBodyPrefix } from '../../src/proxy/forward/body-prefix.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { endlessStream, endlessUpload } from './endless-body.js';
import { service, startBackend, startProxy, until, type RunningProxy } from './support.js';

const PAY: Decision = { kind: 'reject', status: 402, headers: [], body: 'payment required\n', code: 'L402_ERR_TOKEN_MISSING' };
const HUGE = 'Content-Length: 10000000000\r\n';
const LIMIT = 64 * 1024 * 1024;
/** What the server may read of a body it does not use: what arrived before the answer, the drain, and one read of the socket. */
const ACCEPTED = 4 * UNREAD_BODY_DRAIN_BYTES;

describe('answers given without forwarding do not read the request body', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let proxy: Proxy;
  let server: Server;
  let port: number;
  let h2: RunningProxy<ReturnType<typeof service>>;
  const sockets: Socket[] = [];
  let forwarded = 0;

  before(async () => {
    backend = await startBackend((req, res) => {
      forwarded++;
      req.resume();
      req.on('end', () => res.end('ok\n'));
    });
    const options = {
      services: [service(backend.address, { hostRegexp: '^(x|127\\.0\\.0\\.1:\\d+)$' })],
      // `/priced` reads the start of the body first, as the dynamic pricer does.
      authorize: async ({ request, raw }: { request: { path: string }; raw: Parameters<typeof readBodyPrefix>[0] }): Promise<Decision> => {
        if (request.path === '/priced') await readBodyPrefix(raw, 1000);
        return request.path === '/free' ? { kind: 'allow', reason: 'auth-off' } : PAY;
      },
    };
    proxy = new Proxy(options);
    // A plain node:http listener, so that the test sees the server's sockets and what they read.
    server = createServer(proxy.handleRequest);
    server.on('connection', (s: Socket) => sockets.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    h2 = await startProxy(options);
  });

  after(async () => {
    server.close();
    await proxy.close();
    await h2.close();
    await backend.close();
  });

  /** Bytes the server read on its last connection, past the request head. */
  function bodyBytesRead(head: string): number {
    return (sockets.at(-1) as Socket).bytesRead - Buffer.byteLength(head);
  }

  for (const [name, head, chunked] of [
    ['402, Content-Length: 10000000000', `POST /paid HTTP/1.1\r\nHost: x\r\n${HUGE}\r\n`, false],
    ['402, chunked', 'POST /paid HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', true],
    ['402 after the hook read the start of the body', `POST /priced HTTP/1.1\r\nHost: x\r\n${HUGE}\r\n`, false],
    ['400 for an ambiguous path', `POST /a/../paid HTTP/1.1\r\nHost: x\r\n${HUGE}\r\n`, false],
    ['404 for no service', `POST /paid HTTP/1.1\r\nHost: elsewhere\r\n${HUGE}\r\n`, false],
    ['200 to OPTIONS', `OPTIONS /paid HTTP/1.1\r\nHost: x\r\n${HUGE}\r\n`, false],
  ] as const) {
    test(`HTTP/1.1 ${name}: the answer with Connection: close, the connection closed after a bounded drain`, async () => {
      const r = await endlessUpload(port, head, LIMIT, chunked);
      assert.match(r.received, /^HTTP\/1\.1 (402|400|404|200) /, r.received);
      assert.match(r.received, /\r\nconnection: close\r\n/i);
      assert.ok(r.closed, `the server kept reading: ${r.written} bytes written`);
      const read = bodyBytesRead(head);
      assert.ok(read <= ACCEPTED, `the server read ${read} body bytes`);
    });
  }

  test('HTTP/1.1: a small body sent whole keeps the connection for the next request', async () => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    const answers = async (n: number): Promise<void> => {
      while ((text.match(/payment required\n/g) ?? []).length < n) await once(socket, 'data');
    };
    try {
      socket.write(`POST /paid HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${'b'.repeat(100)}`);
      await answers(1);
      assert.doesNotMatch(text, /connection: close/i);
      socket.write(
        `POST /paid HTTP/1.1\r\nHost: x\r\nContent-Length: ${UNREAD_BODY_DRAIN_BYTES}\r\n\r\n${'b'.repeat(UNREAD_BODY_DRAIN_BYTES)}`,
      );
      await answers(2);
      assert.doesNotMatch(text, /connection: close/i);
      assert.equal(socket.destroyed, false);
    } finally {
      socket.destroy();
    }
    assert.equal(forwarded, 0);
  });

  for (const path of ['/paid', '/priced']) {
    test(`HTTP/2 ${path}: the whole 402, then RST_STREAM(NO_ERROR) instead of reading the body`, async () => {
      const r = await endlessStream(h2.url, path, LIMIT);
      assert.equal(r.headers[':status'], 402);
      assert.equal(r.body, 'payment required\n');
      assert.equal(r.rstCode, 0);
    });
  }

  test('a refused WebSocket upgrade: the connection is closed, though the client keeps it open and sends on', async () => {
    const socket = connect({ port: h2.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.write(
      'GET /paid HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    socket.write(Buffer.alloc(4 * UNREAD_BODY_DRAIN_BYTES));
    try {
      await until(() => /payment required\n/.test(text), 'the 402');
      assert.match(text, /^HTTP\/1\.1 402 /);
      // The client neither closes nor stops sending: the server drops the connection all the same.
      await until(() => h2.server.connections === 0, 'the server to close the connection');
    } finally {
      socket.destroy();
    }
  });
});
