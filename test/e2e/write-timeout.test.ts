// `writetimeout` is an inactivity limit on a request in progress, the same on HTTP/1.1 and
// HTTP/2: a response that keeps flowing is never cut however long it lasts; a request silent
// for the limit before its response started is answered 504 (gRPC: status 4); a response that
// stalls midway loses its connection (HTTP/1.1) or its stream (HTTP/2, RST_STREAM INTERNAL_ERROR).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  constants,
  createServer as createH2cServer,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h2Session, startBackend, until } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

interface Seen {
  status: number | undefined;
  body: string;
  /** The response ended cleanly. */
  complete: boolean;
  /** HTTP/2: the stream's close code. */
  rstCode?: number | undefined;
  grpcStatus?: string | undefined;
}

function viaHttp1(url: string): Promise<Seen> {
  return new Promise((resolve) => {
    const seen: Seen = { status: undefined, body: '', complete: false };
    const req = httpRequest(url, { agent: false }, (res) => {
      seen.status = res.statusCode;
      res.on('data', (c: Buffer) => (seen.body += c.toString()));
      res.on('end', () => (seen.complete = res.complete));
      res.on('error', () => undefined);
      res.on('close', () => resolve(seen));
    });
    req.on('error', () => resolve(seen));
    req.end();
  });
}

function viaHttp2(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<Seen> {
  return new Promise((resolve) => {
    const seen: Seen = { status: undefined, body: '', complete: false };
    const stream = session.request({ ':path': path, ...headers });
    stream.on('response', (h: IncomingHttpHeaders) => {
      seen.status = Number(h[':status']);
      seen.grpcStatus = h['grpc-status'] as string | undefined;
    });
    stream.on('data', (c: Buffer) => (seen.body += c.toString()));
    stream.on('end', () => (seen.complete = true));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ ...seen, rstCode: stream.rstCode }));
    stream.end();
  });
}

describe('writetimeout (300 ms) on HTTP/1.1 and HTTP/2', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const grpcBackend = createH2cServer();
  const held: ServerResponse[] = [];
  /** Backend connections that carried a `/silent` request. */
  const silentSockets: Socket[] = [];

  const sharedDir = tempBaseDir();
  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === '/silent') {
        // Never answers: only the proxy's writetimeout ends this.
        silentSockets.push(req.socket);
        held.push(res);
        return;
      }
      if (req.url === '/flowing') {
        // 12 chunks 100 ms apart: 1.1 s in all, never silent for 300 ms.
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const timer = setInterval(() => {
          res.write(`chunk${n};`);
          if (++n === 12) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      if (req.url === '/stalls') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        held.push(res);
      }
    });
    grpcBackend.on('stream', (stream: ServerHttp2Stream) => {
      stream.on('error', () => undefined);
      stream.resume(); // reads the call, never answers it
    });
    grpcBackend.listen(0, '127.0.0.1');
    await once(grpcBackend, 'listening');
    aperture = await startAperture(
      configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
writetimeout: 300ms
upstreamtimeout: 1m
authenticator:
  disable: true
services:
  - name: grpc
    pathregexp: '^/test\\.'
    address: 127.0.0.1:${(grpcBackend.address() as AddressInfo).port}
  - name: rest
    address: ${backend.address}
`,
        sharedDir,
      ),
      { logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
    );
  });

  after(async () => {
    for (const res of held) res.destroy();
    await aperture.close();
    await backend.close();
    grpcBackend.close();
    removeDir(sharedDir);
  });

  /** Fails instead of waiting for the 1 min upstream timeout when writetimeout does not act. */
  function within<T>(promise: Promise<T>, what: string): Promise<T> {
    return Promise.race([
      promise,
      new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`${what}: nothing after 5 s`)), 5_000)),
    ]);
  }

  test('silence before the response starts: 504 L402_ERR_PROXY_WRITE_TIMEOUT and the backend request aborted', async () => {
    const session = await h2Session(aperture.url);
    const started = performance.now();
    const [one, two] = await within(Promise.all([viaHttp1(`${aperture.url}/silent`), viaHttp2(session, '/silent')]), '/silent');
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250, `answered after ${elapsed.toFixed(0)} ms, before the 300 ms write timeout`);
    for (const seen of [one, two]) {
      assert.equal(seen.status, 504);
      assert.match(seen.body, /gateway timeout \(L402_ERR_PROXY_WRITE_TIMEOUT\)/);
      assert.equal(seen.complete, true);
    }
    await until(
      () => silentSockets.length === 2 && silentSockets.every((s) => s.destroyed),
      'the backend connections of /silent closed',
      2_000,
    );
    session.close();
  });

  test('a response that keeps flowing is not cut, though it lasts longer than the limit', async () => {
    const session = await h2Session(aperture.url);
    const started = performance.now();
    const [one, two] = await Promise.all([viaHttp1(`${aperture.url}/flowing`), viaHttp2(session, '/flowing')]);
    assert.ok(performance.now() - started >= 1_000);
    const expected = Array.from({ length: 12 }, (_, i) => `chunk${i};`).join('');
    for (const seen of [one, two]) {
      assert.equal(seen.status, 200);
      assert.equal(seen.body, expected);
      assert.equal(seen.complete, true);
    }
    session.close();
  });

  test('a response that stalls midway: HTTP/1.1 loses the connection, HTTP/2 gets RST_STREAM(INTERNAL_ERROR)', async () => {
    const session = await h2Session(aperture.url);
    const [one, two] = await within(Promise.all([viaHttp1(`${aperture.url}/stalls`), viaHttp2(session, '/stalls')]), '/stalls');
    for (const seen of [one, two]) {
      assert.equal(seen.status, 200);
      assert.equal(seen.body, 'first;');
      assert.equal(seen.complete, false);
    }
    assert.equal(two.rstCode, constants.NGHTTP2_INTERNAL_ERROR);
    session.close();
  });

  test('a gRPC call with no answer ends with grpc-status 4 (DEADLINE_EXCEEDED)', async () => {
    const session = await h2Session(aperture.url);
    const seen = await within(
      viaHttp2(session, '/test.Echo/Unary', { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' }),
      'gRPC call',
    );
    assert.equal(seen.status, 200);
    assert.equal(seen.grpcStatus, '4');
    session.close();
  });
});

test('writetimeout over TLS (HTTP/1.1 by ALPN and HTTP/2): silence before the response starts is answered 504', async (t) => {
  const held: ServerResponse[] = [];
  const backend = await startBackend((_req, res) => {
    held.push(res);
  });
  const baseDir = tempBaseDir(t);
  const running = await startAperture(
    configFrom(
      `
listenaddr: 127.0.0.1:0
writetimeout: 300ms
authenticator:
  disable: true
services:
  - name: rest
    address: ${backend.address}
`,
      baseDir,
    ),
    { logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
  );
  try {
    const ca = readFileSync(join(baseDir, 'tls.cert'), 'utf8');
    const h1 = await new Promise<Seen>((resolve) => {
      const seen: Seen = { status: undefined, body: '', complete: false };
      const req = httpsRequest(`${running.url}/silent`, { agent: false, ca }, (res) => {
        seen.status = res.statusCode;
        res.on('data', (c: Buffer) => (seen.body += c.toString()));
        res.on('end', () => (seen.complete = res.complete));
        res.on('close', () => resolve(seen));
      });
      req.on('error', () => resolve(seen));
      req.end();
    });
    const session = await h2Session(running.url, ca);
    const h2 = await viaHttp2(session, '/silent');
    session.close();
    for (const seen of [h1, h2]) {
      assert.equal(seen.status, 504);
      assert.match(seen.body, /L402_ERR_PROXY_WRITE_TIMEOUT/);
    }
  } finally {
    for (const res of held) res.destroy();
    await running.close();
    await backend.close();
  }
});
