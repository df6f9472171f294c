// The two transports on the wire: gRPC and REST over TLS (ALPN h2 and http/1.1),
// a client generated from the reference's proto (no extension fields), gRPC
// framing refusals, grpc-gateway's REST errors, and CORS with preflight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import { request as httpRequest } from 'node:http';
import { grpcClient, rest1, rest2, startAdminServer, type AdminServer } from './support.js';

/** A raw gRPC call: the frames as given, the answer's headers and trailers. */
async function rawGrpc(
  s: AdminServer,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders; data: Buffer }> {
  const session = http2Connect(s.origin, s.cert === undefined ? {} : { ca: s.cert, servername: 'localhost' });
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      macaroon: s.macaroonHex,
      ...headers,
    });
    stream.end(body);
    let trailers: IncomingHttpHeaders = {};
    stream.on('trailers', (t) => {
      trailers = t;
    });
    const response = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { headers: response, trailers, data: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

const frame = (message: Buffer, flag = 0): Buffer => {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
};

describe('over TLS', () => {
  let s: AdminServer;
  before(async () => {
    s = await startAdminServer({ kind: 'memory', tls: true });
  });
  after(() => s.close());

  test('gRPC (h2 by ALPN) and REST over HTTP/2 and HTTP/1.1', async () => {
    const g = grpcClient(s);
    try {
      assert.equal((await g.call('GetInfo', {}, s.macaroonHex))['network'], 'regtest');
      assert.equal(
        (await g.call('CreateService', { name: 'tls', address: '127.0.0.1:9', path_regexp: '^/tls' }, s.macaroonHex))['name'],
        'tls',
      );
    } finally {
      g.close();
    }
    const h2 = await rest2(s, '/api/admin/services', { macaroon: s.macaroonHex });
    assert.equal(h2.status, 200);
    assert.equal((h2.json as { services: Array<{ name: string }> }).services[0]?.name, 'tls');
    const h1 = await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex });
    assert.equal(h1.status, 200);
    assert.equal((h1.json as { network: string }).network, 'regtest');
  });
});

describe('over plaintext (h2c and HTTP/1.1 on one port)', () => {
  let s: AdminServer;
  before(async () => {
    s = await startAdminServer({
      kind: 'memory',
      servicesYaml: 'services:\n  - name: cfg\n    address: 127.0.0.1:9\n    pathregexp: ^/cfg\n',
    });
  });
  after(() => s.close());

  test("a client generated from the reference's admin.proto works unchanged (extension fields are skipped)", async () => {
    const g = grpcClient(s, 'reference');
    try {
      const list = await g.call('ListServices', {}, s.macaroonHex);
      assert.deepEqual(list, {
        services: [
          {
            name: 'cfg',
            address: '127.0.0.1:9',
            protocol: 'http',
            host_regexp: '',
            path_regexp: '^/cfg',
            price: '1',
            auth: 'on',
            auth_scheme: 'AUTH_SCHEME_L402',
          },
        ],
      });
      const created = await g.call(
        'CreateService',
        { name: 'ref', address: '127.0.0.1:10', path_regexp: '^/ref', price: 3, auth: 'freebie 1' },
        s.macaroonHex,
      );
      assert.deepEqual(created, {
        name: 'ref',
        address: '127.0.0.1:10',
        protocol: 'http',
        host_regexp: '.*',
        path_regexp: '^/ref',
        price: '3',
        auth: 'freebie 1',
        auth_scheme: 'AUTH_SCHEME_L402',
      });
      const updated = await g.call('UpdateService', { name: 'ref', price: 0 }, s.macaroonHex);
      assert.equal(updated['price'], '1', 'an explicit 0: the default price of 1 sat');
      const tx = await g.call('ListTransactions', {}, s.macaroonHex);
      assert.deepEqual(tx, { transactions: [], total_count: '0' });
    } finally {
      g.close();
    }
  });

  test('gRPC framing: unknown method, wrong content-type, HTTP/1.1, compressed, truncated, two messages, oversized', async () => {
    const unknown = await rawGrpc(s, '/adminrpc.Admin/Nope', frame(Buffer.alloc(0)));
    assert.equal(unknown.headers['grpc-status'], '12', 'trailers-only');
    assert.equal(unknown.headers['grpc-message'], 'unknown method Nope for service adminrpc.Admin');
    const ok = await rawGrpc(s, '/adminrpc.Admin/GetHealth', frame(Buffer.alloc(0)));
    assert.equal(ok.headers['content-type'], 'application/grpc');
    assert.equal(ok.trailers['grpc-status'], '0');
    assert.deepEqual(ok.data, frame(Buffer.from([0x0a, 0x02, 0x6f, 0x6b])), 'one message: status "ok"');
    const compressed = await rawGrpc(s, '/adminrpc.Admin/GetInfo', frame(Buffer.alloc(0), 1), { 'grpc-encoding': 'gzip' });
    assert.equal(compressed.headers['grpc-status'], '12');
    const truncated = await rawGrpc(s, '/adminrpc.Admin/GetInfo', frame(Buffer.alloc(4)).subarray(0, 7));
    assert.equal(truncated.headers['grpc-status'], '13');
    assert.match(String(truncated.headers['grpc-message']), /truncated/);
    const two = await rawGrpc(s, '/adminrpc.Admin/GetInfo', Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.alloc(0))]));
    assert.equal(two.headers['grpc-status'], '13');
    const big = await rawGrpc(s, '/adminrpc.Admin/GetInfo', frame(Buffer.alloc(1 << 21)));
    assert.equal(big.headers['grpc-status'], '8');
    const garbage = await rawGrpc(s, '/adminrpc.Admin/ListTokens', frame(Buffer.from([0xff, 0xff, 0xff])));
    assert.equal(garbage.headers['grpc-status'], '13');
    const text = await rawGrpc(s, '/adminrpc.Admin/GetInfo', frame(Buffer.alloc(0)), { 'content-type': 'text/plain' });
    assert.equal(text.headers[':status'], 415);
    const h1 = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${s.origin}/adminrpc.Admin/GetInfo`,
        { method: 'POST', headers: { 'content-type': 'application/grpc' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(h1, 400, 'gRPC requires HTTP/2');
  });

  test('REST errors as grpc-gateway writes them', async () => {
    const notFound = await rest1(s, '/api/admin/nothing', { macaroon: s.macaroonHex });
    assert.equal(notFound.status, 404);
    assert.deepEqual(notFound.json, { code: 5, message: 'Not Found', details: [] });
    const wrongVerb = await rest2(s, '/api/admin/info', { method: 'POST', macaroon: s.macaroonHex, body: {} });
    assert.equal(wrongVerb.status, 405);
    assert.equal(wrongVerb.headers['allow'], 'GET');
    assert.deepEqual(wrongVerb.json, { code: 12, message: 'Method Not Allowed', details: [] });
    const bad = async (body: unknown, pattern: RegExp): Promise<void> => {
      const r = await rest1(s, '/api/admin/services', { method: 'POST', macaroon: s.macaroonHex, body });
      assert.equal(r.status, 400, r.text);
      assert.equal((r.json as { code: number }).code, 3);
      assert.match((r.json as { message: string }).message, pattern);
    };
    await bad({ name: 'x', bogus: 1 }, /^unknown field "bogus"$/);
    await bad('{"name": ', /^the body is not JSON/);
    await bad([1], /must be a JSON object/);
    await bad({ name: 'x', price: 'abc' }, /invalid value for int64 field price/);
    await bad({ name: 'x', price: 1.5 }, /invalid value for int64 field price/);
    await bad({ name: 7 }, /invalid value for string field name/);
    await bad({ name: 'x', path_regexp: '^/a', pathRegexp: '^/b' }, /given twice/);
    await bad({ name: 'x', auth_scheme: 'AUTH_SCHEME_GOLD' }, /invalid value for enum auth_scheme/);
    await bad({ name: 'x', config: 'timeout: 3' }, /config must be a JSON object/);
    const huge = await rest1(s, '/api/admin/services', { method: 'POST', macaroon: s.macaroonHex, body: { name: 'x'.repeat(1 << 21) } });
    assert.equal(huge.status, 413);
    assert.equal((huge.json as { code: number }).code, 8);
    // null leaves a field unset; a number for an enum is its value.
    const created = await rest1(s, '/api/admin/services', {
      method: 'POST',
      macaroon: s.macaroonHex,
      body: { name: 'n', address: '127.0.0.1:9', path_regexp: '^/n', price: null, auth_scheme: 0 },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal((created.json as { auth_scheme: string }).auth_scheme, 'AUTH_SCHEME_L402');
    // Paths outside the prefixes are not the admin API's.
    assert.equal((await rest1(s, '/api/adminx')).text, 'not admin\n');
    // Dot segments resolve as URLs do, percent-encoded ones too.
    assert.deepEqual((await rest2(s, '/x/../api/admin/health')).json, { status: 'ok' });
    assert.deepEqual((await rest2(s, '/x/%2e%2E/api/admin/health')).json, { status: 'ok' });
    assert.equal((await rest2(s, '/api/admin/../other')).text, 'not admin\n');
    assert.equal((await rest1(s, '/adminrpc.Other/Call')).text, 'not admin\n');
  });
});

describe('CORS', () => {
  let s: AdminServer;
  let open: AdminServer;
  before(async () => {
    s = await startAdminServer({ kind: 'memory', api: { corsOrigins: ['https://dash.example.com'] } });
    open = await startAdminServer({ kind: 'memory', api: { corsOrigins: ['*'] } });
  });
  after(async () => {
    await s.close();
    await open.close();
  });

  test('a preflight for PUT and DELETE from an allowed origin is answered with what the browser needs', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const r = await rest1(s, '/api/admin/services/x', {
        method: 'OPTIONS',
        headers: {
          origin: 'https://dash.example.com',
          'access-control-request-method': method,
          'access-control-request-headers': 'grpc-metadata-macaroon, content-type',
        },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers['access-control-allow-origin'], 'https://dash.example.com');
      assert.match(r.headers['access-control-allow-methods'] ?? '', new RegExp(`\\b${method}\\b`));
      assert.match(r.headers['access-control-allow-headers'] ?? '', /Grpc-Metadata-Macaroon/);
      assert.match(r.headers['access-control-allow-headers'] ?? '', /Content-Type/);
      assert.equal(r.headers['vary'], 'Origin');
      assert.equal(r.headers['allow'], 'PUT, DELETE, OPTIONS');
    }
    // And the request itself carries the origin back.
    await rest1(s, '/api/admin/services', {
      method: 'POST',
      macaroon: s.macaroonHex,
      body: { name: 'x', address: '127.0.0.1:9', path_regexp: '^/x' },
    });
    const put = await rest2(s, '/api/admin/services/x', {
      method: 'PUT',
      macaroon: s.macaroonHex,
      body: { price: 2 },
      headers: { origin: 'https://dash.example.com' },
    });
    assert.equal(put.status, 200);
    assert.equal(put.headers['access-control-allow-origin'], 'https://dash.example.com');
    const denied = await rest1(s, '/api/admin/info', { headers: { origin: 'https://dash.example.com' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['access-control-allow-origin'], 'https://dash.example.com', 'errors are readable by the page too');
  });

  test('other origins get no CORS headers; "*" allows any origin; no corsorigin, no CORS', async () => {
    const other = await rest1(s, '/api/admin/services/x', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
    });
    assert.equal(other.status, 204);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers['access-control-allow-methods'], undefined);
    const get = await rest1(s, '/api/admin/health', { headers: { origin: 'https://evil.example' } });
    assert.equal(get.headers['access-control-allow-origin'], undefined);
    const any = await rest1(open, '/api/admin/tokens/ab', {
      method: 'OPTIONS',
      headers: { origin: 'https://any.example', 'access-control-request-method': 'DELETE' },
    });
    assert.equal(any.headers['access-control-allow-origin'], 'https://any.example');
    const none = await startAdminServer({ kind: 'memory' });
    try {
      const r = await rest1(none, '/api/admin/services/x', {
        method: 'OPTIONS',
        headers: { origin: 'https://dash.example.com', 'access-control-request-method': 'PUT' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      assert.equal(
        (await rest1(none, '/api/admin/health', { headers: { origin: 'https://dash.example.com' } })).headers[
          'access-control-allow-origin'
        ],
        undefined,
      );
    } finally {
      await none.close();
    }
  });
});
