// A backend that dies in the middle of its answer must not look like a complete answer to an
// HTTP/2 client: the stream is reset with INTERNAL_ERROR (REST), or the call ends with a
// non-OK grpc-status in its trailers (gRPC), never a clean end after the bytes sent so far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, createServer as createH2cServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { h2Session, service, startBackend, startProxy, testPki } from './support.js';

/** What an HTTP/2 client saw of one stream: head, body, trailers, and how it ended. */
interface StreamOutcome {
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders | undefined;
  ended: boolean;
  rstCode: number | undefined;
  error: string | undefined;
}

function collect(stream: ReturnType<Awaited<ReturnType<typeof h2Session>>['request']>): Promise<StreamOutcome> {
  const out: StreamOutcome = { headers: {}, body: '', trailers: undefined, ended: false, rstCode: undefined, error: undefined };
  stream.on('response', (h) => (out.headers = h));
  stream.on('trailers', (t) => (out.trailers = t));
  stream.on('data', (c: Buffer) => (out.body += c.toString()));
  stream.on('end', () => (out.ended = true));
  stream.on('error', (e: NodeJS.ErrnoException) => (out.error = e.code));
  // Not `once(stream, 'close')`: it rejects on the 'error' that a reset stream emits first.
  return new Promise((resolve) => stream.on('close', () => resolve({ ...out, rstCode: stream.rstCode })));
}

test('REST over HTTP/2: a backend that dies after part of its body resets the stream with INTERNAL_ERROR (h2c and TLS)', async () => {
  const backend = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
    res.write('partial-body;');
    // Let the head and the first bytes reach the proxy, then die without finishing.
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const pki = await testPki();
  for (const tls of [undefined, pki]) {
    const p = await startProxy({ services: [service(backend.address)] }, tls === undefined ? {} : { pki: tls });
    try {
      const session = await h2Session(p.url, tls?.caCert);
      const outcome = await collect(session.request({ ':path': '/big' }));
      assert.equal(outcome.headers[':status'], 200);
      assert.equal(outcome.body, 'partial-body;');
      assert.equal(
        outcome.rstCode,
        constants.NGHTTP2_INTERNAL_ERROR,
        `stream closed with code ${outcome.rstCode} (${tls ? 'TLS' : 'h2c'})`,
      );
      assert.equal(outcome.error, 'ERR_HTTP2_STREAM_ERROR');
      assert.equal(outcome.ended, false, 'the truncated body must not end cleanly');
      session.close();
    } finally {
      await p.close();
    }
  }
  await backend.close();
});

test('REST over HTTP/2: a backend that answers fully still ends the stream cleanly', async () => {
  const backend = await startBackend((_req, res) => res.end('complete'));
  const p = await startProxy({ services: [service(backend.address)] });
  try {
    const session = await h2Session(p.url);
    const outcome = await collect(session.request({ ':path': '/ok' }));
    assert.equal(outcome.body, 'complete');
    assert.equal(outcome.ended, true);
    assert.equal(outcome.rstCode, constants.NGHTTP2_NO_ERROR);
    assert.equal(outcome.error, undefined);
    session.close();
  } finally {
    await p.close();
    await backend.close();
  }
});

test('gRPC: a backend whose connection dies mid-stream ends the call with grpc-status 14 in trailers', async () => {
  const server = createH2cServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => sockets.add(s));
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    // One length-prefixed message, then the backend's connection is cut before any trailers.
    const message = Buffer.from('first');
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    stream.write(frame);
    setTimeout(() => {
      for (const s of sockets) s.destroy();
    }, 50);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const p = await startProxy({ services: [service(address)] });
  try {
    const session = await h2Session(p.url);
    const call = session.request({
      ':path': '/test.Echo/ServerStream',
      ':method': 'POST',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    call.end(Buffer.from([0, 0, 0, 0, 0])); // one empty request message
    const outcome = await collect(call);
    assert.equal(outcome.headers[':status'], 200);
    assert.ok(outcome.body.includes('first'), 'the message sent before the failure arrives');
    const status = outcome.trailers?.['grpc-status'];
    assert.ok(
      (status !== undefined && status !== '0') || (outcome.rstCode !== undefined && outcome.rstCode !== constants.NGHTTP2_NO_ERROR),
      `the call must fail: grpc-status ${String(status)}, rst ${outcome.rstCode}`,
    );
    assert.equal(status, '14');
    session.close();
  } finally {
    await p.close();
    server.close();
  }
});
