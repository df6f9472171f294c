// The request target is canonicalized once before routing: the query never
// takes part in path matching, absolute-form targets are reduced to their path
// (or refused), ambiguous encodings and dot segments are refused, and the
// backend receives exactly the target that was matched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Decision } from '../../src/core/types.js';
import { canonicalTarget } from '../../src/proxy/canonical-target.js';
import { h1, service, startBackend, startProxy } from './support.js';

const paid = (path: string): boolean => path.split('?')[0]!.startsWith('/api/');
const authorize = ({ service: s, request }: { service: { name: string }; request: { path: string } }): Decision =>
  s.name === 'api' && paid(request.path)
    ? { kind: 'reject', status: 402, headers: [], body: 'payment required\n', code: 'L402_ERR_TOKEN_MISSING' }
    : { kind: 'allow', reason: 'auth-off' };

async function setup(): Promise<{ seen: string[]; port: number; url: string; close: () => Promise<void> }> {
  const seen: string[] = [];
  const backend = await startBackend((req, res) => {
    seen.push(req.url ?? '');
    res.end(`served ${req.url}\n`);
  });
  const p = await startProxy({
    services: [
      service(backend.address, { name: 'assets', pathRegexp: '\\.(css|js|png)$' }),
      service(backend.address, { name: 'api', pathRegexp: '^/api/' }),
      service(backend.address, { name: 'free' }),
    ],
    authorize,
  });
  return {
    seen,
    port: p.port,
    url: p.url,
    close: async () => {
      await p.close();
      await backend.close();
    },
  };
}

/** Sends one raw HTTP/1.1 request and returns the status line and body. */
async function raw(port: number, text: string): Promise<{ status: string; body: string }> {
  const socket = connect(port, '127.0.0.1');
  let out = '';
  socket.on('data', (d: Buffer) => (out += d.toString()));
  socket.write(text);
  await new Promise<void>((resolve) => {
    socket.on('data', () => {
      const end = out.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(out);
      if (end !== -1 && len !== null && out.length >= end + 4 + Number(len[1])) resolve();
    });
    socket.once('close', () => resolve());
  });
  socket.destroy();
  return { status: out.split('\r\n')[0] ?? '', body: out.split('\r\n\r\n')[1] ?? '' };
}

test('canonicalTarget: query split off, absolute-form reduced or refused, ambiguous paths refused', () => {
  assert.deepEqual(canonicalTarget('/api/x?y=.png', 'h'), { path: '/api/x', query: '?y=.png' });
  assert.deepEqual(canonicalTarget('/a/b', 'h'), { path: '/a/b', query: '' });
  assert.deepEqual(canonicalTarget('http://H:8080/api/x?q', 'h:8080'), { path: '/api/x', query: '?q' });
  assert.deepEqual(canonicalTarget('http://h', 'h'), { path: '/', query: '' });
  assert.deepEqual(canonicalTarget('/caf%C3%A9/%20x', 'h'), { path: '/caf%C3%A9/%20x', query: '' });
  assert.deepEqual(canonicalTarget('/a.b/.well-known/..x', 'h'), { path: '/a.b/.well-known/..x', query: '' });
  assert.deepEqual(canonicalTarget('/x?a=%2F&b=/../', 'h'), { path: '/x', query: '?a=%2F&b=/../' });
  // A `;` or `\` in the query, an encoded `;`, an encoded `%` before text or before an escape that is kept: unchanged.
  assert.deepEqual(canonicalTarget('/x?a=;b\\c', 'h'), { path: '/x', query: '?a=;b\\c' });
  assert.deepEqual(canonicalTarget('/x%3Bv=1/y%3b', 'h'), { path: '/x%3Bv=1/y%3b', query: '' });
  assert.deepEqual(canonicalTarget('/100%25/50%25off/a%2520b/%25C3%25A9', 'h'), { path: '/100%25/50%25off/a%2520b/%25C3%25A9', query: '' });
  for (const bad of [
    'http://evil.example/api/x',
    'http://user@h/api/x',
    '*',
    'api/x',
    '/%61pi/premium',
    '/api/%2e%2e/free',
    '/x/..%2Fapi',
    '/x%5capi',
    '/a/../api/premium',
    '/api/./x',
    '/api/..',
    '/bad%zz',
    '/bad%4',
    '/free/..\\api/secret',
    '/free\\..\\api',
    '/api\\secret',
    '/free/..;/api/secret',
    '/free/.;x/api',
    '/api;jsessionid=1/secret',
    '/api/secret;',
    '/free/%252e%252e/api',
    '/free/..%252Fapi',
    '/free%255capi',
    '/free/%252E',
    '/x/%25252e',
    '/x/%25%2e',
    '//api/secret',
    '/free//api',
    '/api//',
  ]) {
    assert.ok(!('path' in canonicalTarget(bad, 'h')), bad);
  }
});

test('a query string does not take part in routing: /api/premium?x=.png is the paid service', async () => {
  const s = await setup();
  try {
    const r = await h1(`${s.url}/api/premium?x=.png`);
    assert.equal(r.status, 402);
    assert.equal((await h1(`${s.url}/style.css?v=3`)).body, 'served /style.css?v=3\n');
    assert.equal((await h1(`${s.url}/other?a=1`)).body, 'served /other?a=1\n');
    assert.deepEqual(s.seen, ['/style.css?v=3', '/other?a=1']);
  } finally {
    await s.close();
  }
});

test('absolute-form targets: another authority is refused 400; the same authority is routed by its path', async () => {
  const s = await setup();
  try {
    const evil = await raw(s.port, 'GET http://evil.example/api/premium HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(evil.status, 'HTTP/1.1 400 Bad Request');
    assert.match(evil.body, /L402_ERR_PROXY_BAD_TARGET/);
    const same = await raw(s.port, 'GET http://x/api/premium HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(same.status, 'HTTP/1.1 402 Payment Required');
    const free = await raw(s.port, 'GET http://x/other?q=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(free.body, 'served /other?q=1\n');
    assert.deepEqual(s.seen, ['/other?q=1']);
  } finally {
    await s.close();
  }
});

test('percent-encoded unreserved characters, encoded slashes and dot segments are refused 400', async () => {
  const s = await setup();
  try {
    for (const path of ['/%61pi/premium', '/%2Fapi/premium', '/x/%2e%2e/api/premium', '/x/../api/premium', '/./api/premium']) {
      const r = await raw(s.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(r.status, 'HTTP/1.1 400 Bad Request', path);
    }
    // Other encodings pass unchanged, to the service their path matches.
    assert.equal((await h1(`${s.url}/caf%C3%A9`)).body, 'served /caf%C3%A9\n');
    assert.equal((await h1(`${s.url}/api/caf%C3%A9`)).status, 402);
    assert.deepEqual(s.seen, ['/caf%C3%A9']);
  } finally {
    await s.close();
  }
});

test('a WebSocket upgrade is routed by the same canonical path', async () => {
  const s = await setup();
  try {
    const up =
      'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const r = await raw(s.port, `GET /api/premium?x=.png HTTP/1.1\r\nHost: x\r\n${up}`);
    assert.match(r.status, /^HTTP\/1\.1 402 /);
    const bad = await raw(s.port, `GET http://evil.example/api/premium HTTP/1.1\r\nHost: x\r\n${up}`);
    assert.match(bad.status, /^HTTP\/1\.1 400 /);
    assert.deepEqual(s.seen, []);
  } finally {
    await s.close();
  }
});
