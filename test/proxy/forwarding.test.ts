// REST forwarding through the proxy on real sockets: HTTP/1.1 and HTTP/2, TLS and h2c,
// header rewriting, authorization decisions, upstream failures, streaming.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Macaroon } from '../../src/core/macaroon.js';
import type { Decision } from '../../src/core/types.js';
import { h1, h2, h2Session, service, startBackend, startProxy, testPki, until } from './support.js';

/** A backend that answers with the request it saw as JSON. */
function echoBackend() {
  return startBackend((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'x-resp-hop');
      res.setHeader('x-resp-hop', 'secret');
      res.setHeader('keep-alive', 'timeout=5');
      res.setHeader('x-resp-kept', 'yes');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          raw: req.rawHeaders,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
}

interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: string[];
  body: string;
}

test('HTTP/1.1 and HTTP/2 over TLS and over h2c reach the backend with Host, X-Forwarded-* and CORS', async () => {
  const pki = await testPki();
  const backend = await echoBackend();
  const tls = await startProxy({ services: [service(backend.address)] }, { pki });
  const plain = await startProxy({ services: [service(backend.address)] });
  try {
    for (const [p, ca, proto] of [
      [tls, pki.caCert, 'https'],
      [plain, undefined, 'http'],
    ] as const) {
      const r1 = await h1(`${p.url}/one?x=1`, { method: 'POST', body: 'hi', ...(ca === undefined ? {} : { ca }) });
      assert.equal(r1.status, 200);
      const e1 = JSON.parse(r1.body) as Echo;
      assert.equal(e1.url, '/one?x=1');
      assert.equal(e1.body, 'hi');
      assert.equal(e1.headers.host, backend.address);
      assert.equal(e1.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(e1.headers['x-forwarded-proto'], proto);
      assert.equal(e1.headers['x-forwarded-host'], `127.0.0.1:${p.port}`);
      assert.equal(r1.headers['access-control-allow-origin'], '*');
      assert.match(String(r1.headers['access-control-expose-headers']), /WWW-Authenticate/);

      const session = await h2Session(p.url, ca);
      const r2 = await h2(session, { ':method': 'PUT', ':path': '/two' }, 'body2');
      session.close();
      assert.equal(r2.headers[':status'], 200);
      const e2 = JSON.parse(r2.body) as Echo;
      assert.equal(e2.method, 'PUT');
      assert.equal(e2.body, 'body2');
      assert.equal(e2.headers.host, backend.address);
      assert.equal(e2.headers['x-forwarded-host'], `127.0.0.1:${p.port}`);
      assert.equal(e2.headers['x-forwarded-proto'], proto);
      assert.equal(r2.headers['x-resp-kept'], 'yes');
      assert.equal(r2.headers['x-resp-hop'], undefined);
    }
  } finally {
    await tls.close();
    await plain.close();
    await backend.close();
  }
  assert.equal(tls.server.connections, 0);
  assert.equal(plain.server.connections, 0);
});

test('a backend with its own CORS headers: one Allow-Origin (ours), its list entries kept first and ours added once (HTTP/1.1 and HTTP/2)', async () => {
  const backend = await startBackend((_req, res) => {
    res.setHeader('access-control-allow-origin', 'https://app.example');
    res.setHeader('access-control-allow-methods', 'GET, PURGE');
    res.setHeader('access-control-allow-headers', ['content-type', 'X-Trace']);
    res.setHeader('access-control-expose-headers', 'X-Request-Id, www-authenticate');
    res.setHeader('x-request-id', 'abc123');
    res.end('ok');
  });
  const p = await startProxy({ services: [service(backend.address)] });
  try {
    const r1 = await h1(`${p.url}/x`);
    assert.equal(r1.status, 200);
    const session = await h2Session(p.url);
    const r2 = await h2(session, { ':method': 'GET', ':path': '/x' });
    session.close();
    for (const headers of [r1.headers, r2.headers]) {
      assert.equal(headers['access-control-allow-origin'], '*');
      assert.equal(headers['access-control-allow-methods'], 'GET, PURGE, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
      assert.equal(
        headers['access-control-allow-headers'],
        'content-type, X-Trace, Authorization, Grpc-Metadata-Macaroon, Macaroon, WWW-Authenticate, Payment-Receipt, X-Grpc-Web, X-User-Agent',
      );
      assert.equal(
        headers['access-control-expose-headers'],
        'X-Request-Id, www-authenticate, Payment-Receipt, Grpc-Metadata-Macaroon, Retry-After, Grpc-Status, Grpc-Message',
      );
      assert.equal(headers['x-request-id'], 'abc123');
    }
    // One field line each on HTTP/1.1 (two Allow-Origin lines make a browser reject the response).
    const names = r1.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const name of [
      'access-control-allow-origin',
      'access-control-allow-methods',
      'access-control-allow-headers',
      'access-control-expose-headers',
    ]) {
      assert.equal(names.filter((n) => n === name).length, 1, name);
    }
  } finally {
    await p.close();
    await backend.close();
  }
});

test('hop-by-hop headers are stripped both ways; X-Forwarded-For is appended; service headers injected; prefix prepended', async () => {
  const backend = await echoBackend();
  const p = await startProxy({
    services: [service(backend.address, { headers: { 'x-api-key': 'k1', 'X-Override': 'ours' }, rewritePrefix: '/base/' })],
  });
  try {
    const r = await h1(`${p.url}/v1/items?q=2`, {
      headers: [
        'Connection',
        'x-custom-hop, keep-alive',
        'X-Custom-Hop',
        'drop me',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Authorization',
        'Basic Zm9v',
        'TE',
        'gzip',
        'Upgrade',
        'foo',
        'X-Forwarded-For',
        '10.0.0.1',
        'X-Override',
        'theirs',
        'X-Kept',
        'kept',
      ],
    });
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body) as Echo;
    assert.equal(e.url, '/base/v1/items?q=2');
    for (const name of ['x-custom-hop', 'proxy-authorization', 'te', 'upgrade']) {
      assert.equal(e.headers[name], undefined, `${name} must not reach the backend`);
    }
    assert.notEqual(e.headers.connection, 'x-custom-hop, keep-alive');
    assert.equal(e.headers['x-kept'], 'kept');
    assert.equal(e.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(e.headers['x-api-key'], 'k1');
    assert.equal(e.headers['x-override'], 'ours');
    assert.equal(r.headers['x-resp-hop'], undefined, 'a header named in the backend Connection must not reach the client');
    assert.equal(r.headers['x-resp-kept'], 'yes');
  } finally {
    await p.close();
    await backend.close();
  }
});

test('routing: first match by host (port included) then path; unmatched gets 404; OPTIONS 200 without auth', async () => {
  const a = await startBackend((_req, res) => res.end('A'));
  const b = await startBackend((_req, res) => res.end('B'));
  let asked = 0;
  const p = await startProxy({
    services: [
      { name: 'a', hostRegexp: '^127\\.0\\.0\\.1:\\d+$', pathRegexp: '^/a/', address: a.address },
      { name: 'b', hostRegexp: '^127\\.0\\.0\\.1:\\d+$', address: b.address },
      { name: 'never', hostRegexp: 'example\\.org', address: a.address },
    ],
    authorize: () => {
      asked++;
      return { kind: 'allow', reason: 'auth-off' };
    },
  });
  try {
    assert.equal((await h1(`${p.url}/a/x`)).body, 'A');
    assert.equal((await h1(`${p.url}/b/x`)).body, 'B');
    const missing = await h1(`${p.url}/x`, { headers: { host: 'other.test' } });
    assert.equal(missing.status, 404);
    assert.match(missing.body, /no service/);
    const before = asked;
    const options = await h1(`${p.url}/a/x`, { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.equal(options.headers['access-control-allow-origin'], '*');
    assert.match(String(options.headers['access-control-allow-headers']), /Authorization/);
    assert.equal(asked, before, 'OPTIONS must not be authorized');
  } finally {
    await p.close();
    await a.close();
    await b.close();
  }
});

test('a challenge decision is written as 402 with both WWW-Authenticate lines; reject keeps its status', async () => {
  const backend = await echoBackend();
  const challenge: Decision = {
    kind: 'challenge',
    status: 402,
    headers: [
      ['WWW-Authenticate', 'LSAT macaroon="AGIAJEemVQUTEyNCR0exk7ek90Cg==", invoice="lnbc1"'],
      ['WWW-Authenticate', 'L402 macaroon="AGIAJEemVQUTEyNCR0exk7ek90Cg==", invoice="lnbc1"'],
      ['Cache-Control', 'no-store'],
    ],
    body: 'payment required\n',
    code: 'L402_ERR_TOKEN_MISSING',
    offers: [],
    paymentHash: '00'.repeat(32),
    tokenId: '11'.repeat(32),
    priceSats: 10,
  };
  const p = await startProxy({
    services: [service(backend.address)],
    authorize: ({ request }) =>
      request.path === '/reject'
        ? {
            kind: 'reject',
            status: 429,
            headers: [['Retry-After', '3']],
            body: 'rate limit exceeded\n',
            code: 'L402_ERR_RATELIMIT_EXCEEDED',
          }
        : challenge,
  });
  try {
    const r = await h1(`${p.url}/paid`);
    assert.equal(r.status, 402);
    assert.equal(r.body, 'payment required\n');
    const lines = r.rawHeaders.filter((_, i) => i % 2 === 0 && r.rawHeaders[i]?.toLowerCase() === 'www-authenticate').length;
    assert.equal(lines, 2);
    assert.deepEqual(
      r.rawHeaders.filter((_, i) => i % 2 === 1 && r.rawHeaders[i - 1]?.toLowerCase() === 'www-authenticate').map((v) => v.slice(0, 4)),
      ['LSAT', 'L402'],
    );
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    const rej = await h1(`${p.url}/reject`);
    assert.equal(rej.status, 429);
    assert.equal(rej.headers['retry-after'], '3');
  } finally {
    await p.close();
    await backend.close();
  }
});

test('allow with a token forwards the credential as the reference does (LSAT line, then L402 line); the hook may set it; a throwing hook gives 500', async () => {
  const backend = await echoBackend();
  const mac = Macaroon.mint(new Uint8Array(32).fill(7), new Uint8Array(66).fill(1));
  const preimage = 'ab'.repeat(32);
  const token = { tokenId: '01'.repeat(32), paymentHash: '02'.repeat(32), caveats: [], services: undefined };
  const p = await startProxy({
    services: [service(backend.address)],
    authorize: ({ request }) => {
      if (request.path === '/throw') throw new Error('lnd down');
      if (request.path === '/custom') return { decision: { kind: 'allow', reason: 'paid', token }, upstreamAuthorization: 'L402 custom' };
      assert.equal(request.headerValues('authorization').length, 2, 'the hook sees both Authorization lines');
      return { kind: 'allow', reason: 'paid', token };
    },
  });
  try {
    const urlSafe = mac.toBase64().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const r = await h1(`${p.url}/x`, {
      headers: ['Authorization', `LSAT ${urlSafe}:${preimage.toUpperCase()}`, 'Authorization', `l402  ${mac.toBase64()}:${preimage}`],
    });
    assert.equal(r.status, 200, r.body);
    const e = JSON.parse(r.body) as Echo;
    const auth = e.raw.filter((_, i) => i % 2 === 1 && e.raw[i - 1]?.toLowerCase() === 'authorization');
    assert.deepEqual(auth, [`LSAT ${mac.toBase64()}:${preimage}`, `L402 ${mac.toBase64()}:${preimage}`]);
    const custom = JSON.parse((await h1(`${p.url}/custom`, { headers: { authorization: 'whatever' } })).body) as Echo;
    assert.equal(custom.headers.authorization, 'L402 custom');
    const failed = await h1(`${p.url}/throw`);
    assert.equal(failed.status, 500);
    assert.match(failed.body, /L402_ERR_PROXY_AUTHORIZE_FAILED/);
  } finally {
    await p.close();
    await backend.close();
  }
});

async function freePort(): Promise<number> {
  const s = createNetServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

test('upstream down → 502 UNREACHABLE; slow upstream → 504 TIMEOUT; errors reach onError', async () => {
  const port = await freePort();
  const slow = await startBackend(() => {
    /* never answers */
  });
  const codes: string[] = [];
  const p = await startProxy({
    services: [
      { name: 'down', hostRegexp: '.*', pathRegexp: '^/down', address: `127.0.0.1:${port}` },
      { name: 'slow', hostRegexp: '.*', address: slow.address },
    ],
    timeouts: { headersMs: 200 },
    onError: (error) => codes.push(error.code),
  });
  try {
    const down = await h1(`${p.url}/down`);
    assert.equal(down.status, 502);
    assert.match(down.body, /L402_ERR_UPSTREAM_UNREACHABLE/);
    const timeout = await h1(`${p.url}/slow`);
    assert.equal(timeout.status, 504);
    assert.match(timeout.body, /L402_ERR_UPSTREAM_TIMEOUT/);
    assert.deepEqual(codes, ['L402_ERR_UPSTREAM_UNREACHABLE', 'L402_ERR_UPSTREAM_TIMEOUT']);
  } finally {
    await p.close();
    await slow.close();
  }
});

test('backend TLS is verified against tlscertpath; a wrong CA gives 502 L402_ERR_UPSTREAM_TLS; the opt-out works', async () => {
  const pki = await testPki();
  const backend = await startBackend((_req, res) => res.end('secure'), pki);
  const p = await startProxy({
    services: [
      { name: 'good', hostRegexp: '.*', pathRegexp: '^/good', address: backend.address, protocol: 'https', tlsCertPath: pki.caPath },
      { name: 'wrong', hostRegexp: '.*', pathRegexp: '^/wrong', address: backend.address, protocol: 'https', tlsCertPath: pki.otherCaPath },
      { name: 'roots', hostRegexp: '.*', pathRegexp: '^/roots', address: backend.address, protocol: 'https' },
      {
        name: 'skip',
        hostRegexp: '.*',
        pathRegexp: '^/skip',
        address: backend.address,
        protocol: 'https',
        tlsCertPath: pki.otherCaPath,
        tlsInsecureSkipVerify: true,
      },
    ],
  });
  try {
    assert.equal((await h1(`${p.url}/good`)).body, 'secure');
    const wrong = await h1(`${p.url}/wrong`);
    assert.equal(wrong.status, 502);
    assert.match(wrong.body, /L402_ERR_UPSTREAM_TLS/);
    const roots = await h1(`${p.url}/roots`);
    assert.equal(roots.status, 502, 'a private CA is not in the system roots');
    assert.match(roots.body, /L402_ERR_UPSTREAM_TLS/);
    assert.equal((await h1(`${p.url}/skip`)).body, 'secure');
  } finally {
    await p.close();
    await backend.close();
  }
});

test('server-sent events are flushed as they come', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const backend = await startBackend((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: first\n\n');
    void released.then(() => res.end('data: second\n\n'));
  });
  const p = await startProxy({ services: [service(backend.address)] });
  try {
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${p.url}/events`, { agent: false }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          received.push(chunk);
          // The backend has not finished: the first event came through on its own.
          if (received.length === 1) release();
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received[0], 'data: first\n\n');
    assert.equal(received.join(''), 'data: first\n\ndata: second\n\n');
  } finally {
    await p.close();
    await backend.close();
  }
});

const MB = 1024 * 1024;

test('a 10 MB download streams: the client sees bytes before the backend has sent the rest', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const hash = createHash('sha256');
  const backend = await startBackend(async (_req, res) => {
    res.writeHead(200, { 'content-length': String(10 * MB) });
    res.write(chunk);
    hash.update(chunk);
    await released;
    for (let sent = chunk.length; sent < 10 * MB; sent += chunk.length) {
      hash.update(chunk);
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  });
  const p = await startProxy({ services: [service(backend.address)] });
  try {
    const got = createHash('sha256');
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      httpRequest(`${p.url}/big`, { agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          if (total === 0) release();
          total += c.length;
          got.update(c);
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(total, 10 * MB);
    assert.equal(got.digest('hex'), hash.digest('hex'));
  } finally {
    await p.close();
    await backend.close();
  }
});

test('a 10 MB upload streams: the backend sees bytes before the client has sent the rest', async () => {
  let firstBytes!: () => void;
  const backendGotBytes = new Promise<void>((r) => (firstBytes = r));
  const backend = await startBackend((req, res) => {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      if (n === 0) firstBytes();
      n += c.length;
      h.update(c);
    });
    req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
  });
  const p = await startProxy({ services: [service(backend.address)] });
  try {
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const sent = createHash('sha256');
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${p.url}/upload`,
        { method: 'POST', agent: false, headers: { 'content-length': String(10 * MB) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      void (async () => {
        req.write(chunk);
        sent.update(chunk);
        // Nothing more is sent until the backend has seen the first bytes.
        await backendGotBytes;
        for (let n = chunk.length; n < 10 * MB; n += chunk.length) {
          sent.update(chunk);
          if (!req.write(chunk)) await once(req, 'drain');
        }
        req.end();
      })();
    });
    assert.equal(body, `${10 * MB} ${sent.digest('hex')}`);
  } finally {
    await p.close();
    await backend.close();
  }
});

test('replacing the services live keeps the in-flight request on its old service', async () => {
  let releaseA!: () => void;
  const heldA = new Promise<void>((r) => (releaseA = r));
  let arrivedA!: () => void;
  const atA = new Promise<void>((r) => (arrivedA = r));
  const a = await startBackend(async (_req, res) => {
    arrivedA();
    await heldA;
    res.end('old');
  });
  const b = await startBackend((_req, res) => res.end('new'));
  const p = await startProxy({ services: [{ name: 'a', hostRegexp: '.*', address: a.address }] });
  try {
    const inFlight = h1(`${p.url}/slow`);
    await atA;
    p.proxy.replaceServices([{ name: 'b', hostRegexp: '.*', address: b.address }]);
    assert.equal((await h1(`${p.url}/fresh`)).body, 'new');
    releaseA();
    const old = await inFlight;
    assert.equal(old.status, 200);
    assert.equal(old.body, 'old');
    assert.throws(
      () => p.proxy.replaceServices([{ name: 'bad', hostRegexp: '(', address: b.address }]),
      (e: unknown) => (e as { code?: string }).code === 'L402_ERR_PROXY_BAD_REGEXP',
    );
    assert.equal((await h1(`${p.url}/still`)).body, 'new', 'a bad table leaves the old one in place');
  } finally {
    await p.close();
    await a.close();
    await b.close();
  }
});

test('graceful close waits for the in-flight request, then refuses new connections', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const atBackend = new Promise<void>((r) => (arrived = r));
  const backend = await startBackend(async (_req, res) => {
    arrived();
    await held;
    res.end('finished');
  });
  const p = await startProxy({ services: [service(backend.address)] });
  const order: string[] = [];
  const inFlight = h1(`${p.url}/work`).then((r) => {
    order.push('response');
    return r;
  });
  await atBackend;
  const closing = p.close().then(() => order.push('closed'));
  await until(() => p.server.activeRequests === 1, 'the request to be counted');
  await assert.rejects(h1(`${p.url}/late`), /ECONNREFUSED/);
  assert.equal(order.length, 0, 'close must wait while the backend holds the request');
  order.push('released');
  release();
  const r = await inFlight;
  await closing;
  assert.equal(r.body, 'finished');
  assert.equal(order[0], 'released');
  assert.deepEqual(order.slice(1).sort(), ['closed', 'response']);
  assert.equal(p.server.connections, 0);
  await backend.close();
});

test('a second listener on the same address fails with L402_ERR_PROXY_ADDRESS_IN_USE naming it', async () => {
  const first = await startProxy({ services: [] });
  try {
    const { ProxyServer } = await import('../../src/proxy/server/proxy-server.js');
    const second = new ProxyServer({ handler: first.proxy, listenAddr: `127.0.0.1:${first.port}`, insecure: true });
    await assert.rejects(second.listen(), (e: unknown) => {
      const err = e as { code?: string; message: string };
      return err.code === 'L402_ERR_PROXY_ADDRESS_IN_USE' && err.message.includes(`127.0.0.1:${first.port}`);
    });
  } finally {
    await first.close();
  }
});
