// The Node → core RequestView translator, on real HTTP/1.1 and HTTP/2 servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { connect, createServer as createH2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { http2StreamRequestView, nodeRequestView, normalizePeerAddress } from '../../src/adapters/node/request-view.js';
import type { RequestView } from '../../src/core/types.js';

function snapshot(v: RequestView) {
  // The credential headers are read together on first use: asked before Authorization here.
  const macaroon = v.headerValues('macaroon');
  return {
    macaroon,
    grpcMacaroon: v.headerValues('grpc-metadata-macaroon'),
    method: v.method,
    host: v.host,
    path: v.path,
    remoteAddress: v.remoteAddress,
    auth: v.headerValues('authorization'),
    firstAuth: v.header('authorization'),
    custom: v.header('x-custom'),
    missing: v.headerValues('x-missing'),
  };
}

test('HTTP/1.1: every Authorization line from rawHeaders, host with port, path with query', async () => {
  let seen: ReturnType<typeof snapshot> | undefined;
  const server = createServer((req, res) => {
    seen = snapshot(nodeRequestView(req));
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    request(
      {
        port,
        host: '127.0.0.1',
        path: '/p?q=1',
        method: 'post',
        agent: false,
        headers: [
          'Host',
          `example.test:${port}`,
          'Authorization',
          'LSAT a:b',
          'MACAROON',
          'm1',
          'authorization',
          'L402 a:b',
          'X-Custom',
          'c',
          'Grpc-Metadata-Macaroon',
          'g1',
          'macaroon',
          'm2',
        ],
      },
      (res) => res.resume().on('end', resolve),
    )
      .on('error', reject)
      .end();
  });
  server.close();
  assert.deepEqual(seen, {
    macaroon: ['m1', 'm2'],
    grpcMacaroon: ['g1'],
    method: 'POST',
    host: `example.test:${port}`,
    path: '/p?q=1',
    remoteAddress: '127.0.0.1',
    auth: ['LSAT a:b', 'L402 a:b'],
    firstAuth: 'LSAT a:b',
    custom: 'c',
    missing: [],
  });
});

test('HTTP/2: :authority as host, compat request and raw stream agree; resolveClientIp sees the XFF', async () => {
  const views: Array<ReturnType<typeof snapshot>> = [];
  const server = createH2Server();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    views.push(snapshot(http2StreamRequestView(stream, headers, raw)));
  });
  server.on('request', (req, res) => {
    views.push(snapshot(nodeRequestView(req, { resolveClientIp: (peer, xff) => `${xff ?? ''}|${peer}` })));
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const session = connect(`http://127.0.0.1:${port}`);
  const stream = session.request({
    ':path': '/svc/M',
    ':method': 'POST',
    authorization: 'L402 a:b',
    macaroon: 'm3',
    'x-forwarded-for': '9.9.9.9',
  });
  stream.resume();
  stream.end();
  await once(stream, 'close');
  session.close();
  server.close();
  assert.equal(views.length, 2);
  for (const v of views) {
    assert.equal(v.method, 'POST');
    assert.equal(v.host, `127.0.0.1:${port}`);
    assert.equal(v.path, '/svc/M');
    // Node's HTTP/2 client refuses to send two; one is read from the raw list.
    assert.deepEqual(v.auth, ['L402 a:b']);
    assert.deepEqual(v.macaroon, ['m3']);
    assert.deepEqual(v.grpcMacaroon, []);
  }
  assert.equal(views[0]?.remoteAddress, '127.0.0.1');
  assert.equal(views[1]?.remoteAddress, '9.9.9.9|127.0.0.1');
});

test('IPv4-mapped IPv6 peers are reported as IPv4', () => {
  assert.equal(normalizePeerAddress('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(normalizePeerAddress('::1'), '::1');
  assert.equal(normalizePeerAddress(undefined), '');
});
