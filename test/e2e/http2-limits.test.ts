// HTTP/2 resource limits of aperture, on real sockets: the advertised stream limit and the refusal
// of streams beyond it, `readtimeout` on streams whose request never completes (and the backend
// connections they held), streams reset before they were forwarded (rapid reset), and the bound
// on connections to one backend with its wait list.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import {
  constants,
  createServer as createH2cServer,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2Session, startBackend, until, type SimpleResponse } from '../proxy/support.js';
import { errorCodeOf, FLAG, FRAME, frame, rawH2, requestHeaders } from '../proxy/raw-h2.js';
import { configFrom, quiet, tempBaseDir, type CleanupScope } from './support.js';

/**
 * A backend that holds every request until `release()` (except `/marker`, answered at once) and
 * counts the connections it accepted.
 */
async function heldBackend() {
  const held: ServerResponse[] = [];
  let requests = 0;
  let accepted = 0;
  const open = new Set<Socket>();
  /** Connections that carried a request. */
  const carriers = new Set<Socket>();
  const backend = await startBackend((req, res) => {
    if (req.url === '/marker') {
      res.end('marker');
      return;
    }
    requests++;
    carriers.add(req.socket);
    held.push(res);
    req.resume();
  });
  backend.server.on('connection', (socket: Socket) => {
    accepted++;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    ...backend,
    requests: () => requests,
    accepted: () => accepted,
    /** Connections that carried a request and are still open. */
    openCarriers: () => [...carriers].filter((s) => open.has(s)).length,
    release: () => {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}

async function aperture(t: CleanupScope, yaml: string): Promise<RunningAperture> {
  return startAperture(configFrom(yaml, tempBaseDir(t)), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
}

/** How a client stream ended. */
interface Outcome {
  headers: IncomingHttpHeaders | undefined;
  body: string;
  rstCode: number | undefined;
}

function outcomeOf(stream: ClientHttp2Stream): Promise<Outcome> {
  const out: Outcome = { headers: undefined, body: '', rstCode: undefined };
  stream.on('response', (h) => (out.headers = h));
  stream.on('data', (c: Buffer) => (out.body += c.toString()));
  stream.on('error', () => undefined);
  return new Promise((resolve) => stream.on('close', () => resolve({ ...out, rstCode: stream.rstCode })));
}

test('maxconcurrentstreams: advertised in SETTINGS (h2c and TLS; 250 by default), streams beyond it refused with REFUSED_STREAM', async (t) => {
  const backend = await heldBackend();
  const service = `
authenticator:
  disable: true
services:
  - name: open
    address: ${backend.address}
`;
  const limited = await aperture(t, `listenaddr: 127.0.0.1:0\ninsecure: true\nmaxconcurrentstreams: 5\n${service}`);
  const tls = await aperture(t, `listenaddr: 127.0.0.1:0\nmaxconcurrentstreams: 7\n${service}`);
  const byDefault = await aperture(t, `listenaddr: 127.0.0.1:0\ninsecure: true\n${service}`);
  try {
    const session = await h2Session(limited.url);
    if (session.remoteSettings.maxConcurrentStreams !== 5) await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, 5);

    session.close();

    // A client that ignores the SETTINGS (node:http2 would hold the extra streams back): eight
    // uploads that never finish; five are taken, three refused before reaching the backend.
    const raw = await rawH2(limited.addresses.proxy.port);
    const opened: number[] = [];
    for (let i = 0; i < 8; i++) {
      const id = 1 + 2 * i;
      opened.push(id);
      raw.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, requestHeaders('POST', '/upload', 'h')));
      raw.write(frame(FRAME.DATA, 0, id, Buffer.from('x')));
    }
    const refusedIds = (): number[] =>
      raw.frames.filter((f) => f.type === FRAME.RST_STREAM && errorCodeOf(f) === constants.NGHTTP2_REFUSED_STREAM).map((f) => f.streamId);
    await until(() => backend.requests() === 5 && refusedIds().length === 3, '5 streams at the backend and 3 refused');
    assert.deepEqual(refusedIds(), opened.slice(5));
    assert.equal(backend.requests(), 5);
    raw.socket.destroy();

    const tlsSession = await h2Session(tls.url, readFileSync(join(tls.config.baseDir, 'tls.cert'), 'utf8'));
    if (tlsSession.remoteSettings.maxConcurrentStreams !== 7) await once(tlsSession, 'remoteSettings');
    assert.equal(tlsSession.remoteSettings.maxConcurrentStreams, 7);
    tlsSession.close();

    const plain = await h2Session(byDefault.url);
    if (plain.remoteSettings.maxConcurrentStreams !== 250) await once(plain, 'remoteSettings');
    assert.equal(plain.remoteSettings.maxConcurrentStreams, 250);
    plain.close();
  } finally {
    backend.release();
    await Promise.all([limited.close(), tls.close(), byDefault.close()]);
    await backend.close();
  }
});

test('readtimeout: HTTP/2 streams whose body stalls get 408 (gRPC: status 4) and the backend connections they opened close', async (t) => {
  const backend = await heldBackend();
  // An h2c gRPC backend that answers nothing until the call's messages have all arrived.
  const grpcBackend = createH2cServer();
  const grpcStreams: ServerHttp2Stream[] = [];
  grpcBackend.on('stream', (stream: ServerHttp2Stream) => {
    grpcStreams.push(stream);
    stream.on('error', () => undefined);
    stream.resume();
  });
  grpcBackend.listen(0, '127.0.0.1');
  await once(grpcBackend, 'listening');
  const running = await aperture(
    t,
    `
listenaddr: 127.0.0.1:0
insecure: true
readtimeout: 300ms
authenticator:
  disable: true
services:
  - name: grpc
    pathregexp: '^/test\\.'
    address: 127.0.0.1:${(grpcBackend.address() as AddressInfo).port}
  - name: open
    address: ${backend.address}
`,
  );
  try {
    const session = await h2Session(running.url);
    const started = performance.now();
    const outcomes = Array.from({ length: 10 }, () => {
      const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': '1000' });
      stream.write('x');
      return outcomeOf(stream);
    });
    const call = session.request({ ':method': 'POST', ':path': '/test.Echo/Upload', 'content-type': 'application/grpc', te: 'trailers' });
    call.write(Buffer.from([0, 0, 0, 0, 10, 1])); // 1 byte of a 10-byte message, then nothing
    const grpcOutcome = outcomeOf(call);

    await until(() => backend.requests() === 10 && grpcStreams.length === 1, 'the stalled requests at the backends');
    assert.equal(backend.openCarriers(), 10);

    const results = await Promise.race([
      Promise.all(outcomes),
      new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('stalled streams still open after 5 s')), 5_000)),
    ]);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250, `ended after ${elapsed.toFixed(0)} ms, before the 300 ms read timeout`);
    for (const r of results) {
      assert.equal(r.headers?.[':status'], 408);
      assert.match(r.body, /L402_ERR_PROXY_READ_TIMEOUT/);
    }
    const g = await grpcOutcome;
    assert.equal(g.headers?.[':status'], 200);
    assert.equal(g.headers?.['grpc-status'], '4');
    assert.match(String(g.headers?.['grpc-message']), /readtimeout/);

    // The backend requests were aborted: their connections are gone, the gRPC stream cancelled.
    // (undici 7 then opens one idle connection per aborted request, closed after its 4 s
    // keep-alive timeout: nodejs/undici#5845. Those carry nothing.)
    await until(() => backend.openCarriers() === 0, 'the backend connections of the stalled requests closed', 1_000);
    await until(() => grpcStreams[0]?.closed === true, 'the backend gRPC stream closed');
    assert.equal(grpcStreams[0]?.rstCode, constants.NGHTTP2_CANCEL);
    session.close();
  } finally {
    await running.close();
    await backend.close();
    grpcBackend.close();
  }
});

test('rapid reset: streams reset before they are forwarded open no backend connection or stream; Node ends the connection after its burst', async (t) => {
  const backend = await heldBackend();
  // An h2c gRPC backend that counts the streams it is asked to open (and answers /test.Marker/Ping).
  const grpcBackend = createH2cServer();
  let grpcStreams = 0;
  grpcBackend.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    if (headers[':path'] === '/test.Marker/Ping') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
      return;
    }
    grpcStreams++;
  });
  grpcBackend.listen(0, '127.0.0.1');
  await once(grpcBackend, 'listening');
  const running = await aperture(
    t,
    `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  disable: true
services:
  - name: grpc
    pathregexp: '^/test\\.'
    address: 127.0.0.1:${(grpcBackend.address() as AddressInfo).port}
  - name: open
    address: ${backend.address}
`,
  );
  try {
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(constants.NGHTTP2_CANCEL);
    // REST: more resets than nghttp2's burst; gRPC: fewer (larger frames), all in one socket read.
    for (const grpc of [false, true]) {
      const client = await rawH2(running.addresses.proxy.port);
      const pairs: Buffer[] = [];
      for (let i = 0; i < (grpc ? 500 : 1100); i++) {
        const id = 1 + 2 * i;
        const headers = grpc
          ? requestHeaders('POST', '/test.Echo/Unary', 'h', { 'content-type': 'application/grpc', te: 'trailers' })
          : requestHeaders('GET', '/x', 'h');
        pairs.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headers));
        pairs.push(frame(FRAME.RST_STREAM, 0, id, cancel));
      }
      if (!grpc) {
        client.write(Buffer.concat(pairs));
        // nghttp2 allows a burst of 1,000 resets (then 33/s) and answers more with GOAWAY.
        await until(() => client.frames.some((f) => f.type === FRAME.GOAWAY), 'GOAWAY');
      } else {
        // A PING after them: its ACK comes once the proxy has read every frame before it.
        client.write(Buffer.concat([...pairs, frame(FRAME.PING, 0, 0, Buffer.alloc(8))]));
        await until(() => client.frames.some((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0), 'PING ACK');
      }
      client.socket.destroy();
    }
    // Requests sent after them: by the time each backend answers, it has accepted every
    // connection (and read every stream) the proxy began to open before.
    assert.equal((await h1(`${running.url}/marker`)).body, 'marker');
    const session = await h2Session(running.url);
    const ping = outcomeOf(
      session.request(
        { ':method': 'POST', ':path': '/test.Marker/Ping', 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: true },
      ),
    );
    assert.equal((await ping).headers?.['grpc-status'], '0');
    session.close();
    // Each stream was reset in the same read as its HEADERS, before the proxy forwarded it.
    // (A pair split across two socket reads could cost one: a few are tolerated. Forwarding
    // them regardless opened hundreds of connections and a thousand backend streams.)
    assert.ok(backend.accepted() <= 3, `${backend.accepted()} backend connections for streams already reset`);
    assert.ok(grpcStreams <= 3, `${grpcStreams} backend gRPC streams for streams already reset`);
  } finally {
    await running.close();
    await backend.close();
    grpcBackend.close();
  }
});

test('upstreamconnections / upstreamqueue: at most N backend connections, M requests wait, more get 503 L402_ERR_UPSTREAM_BUSY', async (t) => {
  const backend = await heldBackend();
  const running = await aperture(
    t,
    `
listenaddr: 127.0.0.1:0
insecure: true
upstreamconnections: 3
upstreamqueue: 2
authenticator:
  disable: true
services:
  - name: open
    address: ${backend.address}
`,
  );
  try {
    const answers: SimpleResponse[] = [];
    const pending = Array.from({ length: 8 }, (_, i) => h1(`${running.url}/r${i}`).then((r) => answers.push(r)));
    await until(() => backend.requests() === 3 && answers.length === 3, '3 requests at the backend, 3 answered 503');
    for (const r of answers) {
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.body, /service unavailable \(L402_ERR_UPSTREAM_BUSY\)/);
    }
    assert.equal(backend.accepted(), 3);
    // The two waiting requests are sent on the same connections once those are free.
    while (answers.length < 8) {
      backend.release();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 503, 503, 503]);
    assert.equal(backend.requests(), 5);
    assert.equal(backend.accepted(), 3);
  } finally {
    backend.release();
    await running.close();
    await backend.close();
  }
});
