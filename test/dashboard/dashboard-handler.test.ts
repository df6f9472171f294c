// The dashboard's handler on a real listener next to the admin API (SQLite store):
// the page and its files with a strict CSP, fallback to the app, services and the
// admin API left alone, the server-side proxy adding the macaroon, and every
// refusal — non-loopback client (a real one, through this machine's own
// non-loopback address, when it has one), DNS-rebinding Host, CSRF, calls and
// parameters off the allow-list.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Socket, type AddressInfo } from 'node:net';
import { connect as http2Connect, createServer as createHttp2Server } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { L402Error } from '../../src/core/errors.js';
import { createDashboardHandler, DASHBOARD_CSP } from '../../src/dashboard/dashboard-handler.js';
import { loadDashboardAssets } from '../../src/dashboard/dashboard-assets.js';
import { csrfRefusal, isLoopbackAddress, isSafeHost } from '../../src/dashboard/local-request.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { h1 } from '../proxy/support.js';
import { configServices } from '../admin/support.js';
import { removeDir, tempDir } from '../fixtures/cleanup.js';
import { builtDashboard, startDashboardServer, type DashboardServer } from './support.js';

test('loopback addresses are told from the others', () => {
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2'])
    assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['10.0.0.1', '192.0.2.2', '::2', '::ffff:10.0.0.1', 'fe80::1', '', undefined, 'localhost', '128.0.0.1'])
    assert.equal(isLoopbackAddress(a), false, String(a));
});

test('safe hosts: IP literals, localhost, allowed names; never a name a DNS rebinding controls', () => {
  for (const h of ['127.0.0.1:8081', '[::1]:8081', 'localhost', 'LOCALHOST:1', 'app.localhost:9', '192.0.2.2', 'aperture.lan'])
    assert.equal(isSafeHost(h, ['aperture.lan']), true, h);
  for (const h of [
    'evil.example',
    'evil.example:8081',
    '127.0.0.1.evil.example',
    undefined,
    '',
    'a b',
    'x@127.0.0.1',
    'localhost.evil.example',
  ])
    assert.equal(isSafeHost(h, ['aperture.lan']), false, String(h));
});

test('CSRF: changes need X-Requested-With; a foreign Origin or cross-site fetch is refused on every call', () => {
  const base = { host: '127.0.0.1:8081', origin: undefined, requestedWith: undefined, fetchSite: undefined };
  assert.equal(csrfRefusal({ ...base, method: 'GET' }), undefined);
  assert.match(String(csrfRefusal({ ...base, method: 'POST' })), /X-Requested-With/);
  assert.match(String(csrfRefusal({ ...base, method: 'DELETE' })), /X-Requested-With/);
  assert.equal(
    csrfRefusal({ ...base, method: 'PUT', requestedWith: 'x', origin: 'http://127.0.0.1:8081', fetchSite: 'same-origin' }),
    undefined,
  );
  assert.match(String(csrfRefusal({ ...base, method: 'PUT', requestedWith: 'x', origin: 'http://evil.example' })), /Origin/);
  assert.match(String(csrfRefusal({ ...base, method: 'GET', origin: 'http://127.0.0.1:9999' })), /Origin/);
  assert.match(String(csrfRefusal({ ...base, method: 'GET', origin: 'null' })), /Origin/);
  assert.match(String(csrfRefusal({ ...base, method: 'GET', fetchSite: 'cross-site' })), /Sec-Fetch-Site/);
  assert.match(String(csrfRefusal({ ...base, method: 'POST', requestedWith: 'x', fetchSite: 'same-site' })), /Sec-Fetch-Site/);
});

test('a directory without a build is a coded error', () => {
  const dir = tempDir('aperture-dashboard-empty-');
  try {
    assert.throws(
      () => loadDashboardAssets(dir),
      (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_ADMIN_DASHBOARD_NOT_BUILT' && e.message.includes('npm run build'),
    );
  } finally {
    removeDir(dir);
  }
});

describe('the dashboard next to the admin API', () => {
  let dir: string;
  let store: SqliteStore;
  let s: DashboardServer;
  const SERVICES = `services:
  - name: quotes
    address: 127.0.0.1:9001
    pathregexp: ^/quotes
    price: 10
`;

  before(async () => {
    dir = tempDir('aperture-dashboard-unit-');
    store = new SqliteStore({ path: join(dir, 'aperture.db'), revocationPollMs: 0 });
    s = await startDashboardServer({
      store,
      services: configServices(SERVICES, dir),
      host: '0.0.0.0',
      isServiceRequest: (req) => /^\/quotes/.test(req.url ?? ''),
    });
  });
  after(async () => {
    await s.close();
    await store.close();
    removeDir(dir);
  });

  const assertSecurityHeaders = (headers: IncomingMessage['headers']): void => {
    assert.equal(headers['content-security-policy'], DASHBOARD_CSP);
    assert.match(String(headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(String(headers['content-security-policy']), /unsafe-inline|unsafe-eval/);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
  };

  test('the page at / and at any unknown path, its files under /_dashboard/, all with the security headers', async () => {
    for (const path of ['/', '/services', '/services/quotes', '/no/such/page?x=1']) {
      const res = await h1(`${s.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(res.body, /<script defer src="\/_dashboard\/app\.js"><\/script>/);
      assert.doesNotMatch(res.body, /<script>|<style|style=/, 'nothing inline');
      assertSecurityHeaders(res.headers);
    }
    const js = await h1(`${s.url}/_dashboard/app.js`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assertSecurityHeaders(js.headers);
    const again = await h1(`${s.url}/_dashboard/app.js`, { headers: { 'if-none-match': String(js.headers['etag']) } });
    assert.equal(again.status, 304);
    const licenses = await h1(`${s.url}/_dashboard/LICENSES.txt`);
    assert.match(licenses.body, /== preact \d+\.\d+\.\d+ ==[\s\S]*MIT License[\s\S]*== uplot \d+\.\d+\.\d+ ==[\s\S]*Leon Sorokin/);
    assert.equal((await h1(`${s.url}/_dashboard/missing.js`)).status, 404);
    assert.deepEqual(s.programHits, []);
  });

  test('requests of a service, the admin API and other verbs are left to the program', async () => {
    const before = s.programHits.length;
    assert.equal((await h1(`${s.url}/quotes/today`)).body, 'program\n');
    assert.equal((await h1(`${s.url}/anything`, { method: 'POST', body: '{}' })).body, 'program\n');
    assert.deepEqual(s.programHits.slice(before), ['GET /quotes/today', 'POST /anything']);
    const admin = await h1(`${s.url}/api/admin/info`);
    assert.equal(admin.status, 401, 'the admin API itself still wants its macaroon');
  });

  test('the proxy calls the admin API with the macaroon it holds', async () => {
    const info = await h1(`${s.url}/api/proxy/info`);
    assert.equal(info.status, 200, info.body);
    assertSecurityHeaders(info.headers);
    assert.equal(info.headers['cache-control'], 'no-store');
    assert.equal(JSON.parse(info.body).network, 'regtest');
    const services = JSON.parse((await h1(`${s.url}/api/proxy/services`)).body) as { services: Array<{ name: string; price: string }> };
    assert.deepEqual(
      services.services.map((x) => [x.name, x.price]),
      [['quotes', '10']],
    );
    const tx = await h1(`${s.url}/api/proxy/transactions?service=quotes&state=settled&limit=5&offset=0`);
    assert.deepEqual(JSON.parse(tx.body), { transactions: [], total_count: '0' });
    // The admin API's own errors come through as they are.
    const bad = await h1(`${s.url}/api/proxy/transactions?state=lost`);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /invalid state/);
  });

  test('a change with the CSRF header and a same-origin Origin goes through; the program is told', async () => {
    const res = await h1(`${s.url}/api/proxy/services`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-requested-with': 'aperture-dashboard', origin: s.url },
      body: JSON.stringify({ name: 'weather', address: '127.0.0.1:9002', path_regexp: '^/weather', price: '5' }),
    });
    assert.equal(res.status, 200, res.body);
    assert.equal((await store.getService('weather'))?.name, 'weather');
    assert.deepEqual(s.backend.lastApplied(), ['quotes', 'weather']);
    const del = await h1(`${s.url}/api/proxy/services/weather`, {
      method: 'DELETE',
      headers: { 'x-requested-with': 'aperture-dashboard' },
    });
    assert.equal(del.status, 200, del.body);
    assert.deepEqual(s.backend.lastApplied(), ['quotes']);
  });

  test('CSRF refusals: no X-Requested-With, a foreign Origin, a cross-site fetch', async () => {
    const applied = s.backend.applied.length;
    const body = JSON.stringify({ name: 'evil', address: '127.0.0.1:9003', path_regexp: '^/evil' });
    const cases: Array<Record<string, string>> = [
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', 'x-requested-with': 'x', origin: 'http://evil.example' },
      { 'content-type': 'application/json', 'x-requested-with': 'x', 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of cases) {
      const res = await h1(`${s.url}/api/proxy/services`, { method: 'POST', headers, body });
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(JSON.parse(res.body).error, 'L402_ERR_ADMIN_DASHBOARD_CSRF');
      assertSecurityHeaders(res.headers);
    }
    const revoke = await h1(`${s.url}/api/proxy/tokens/${'ab'.repeat(32)}`, { method: 'DELETE' });
    assert.equal(revoke.status, 403);
    // A form post cannot send JSON: a body of another type is refused even with the header.
    const form = await h1(`${s.url}/api/proxy/services`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-requested-with': 'x' },
      body,
    });
    assert.equal(form.status, 415);
    assert.equal(JSON.parse(form.body).error, 'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED');
    assert.equal(await store.getService('evil'), undefined);
    assert.equal(s.backend.applied.length, applied);
  });

  test('only allow-listed calls and parameters', async () => {
    const unknownCall = await h1(`${s.url}/api/proxy/secrets`);
    assert.equal(unknownCall.status, 404);
    assert.equal(JSON.parse(unknownCall.body).error, 'L402_ERR_ADMIN_DASHBOARD_NOT_ALLOWED');
    const verb = await h1(`${s.url}/api/proxy/info`, { method: 'DELETE', headers: { 'x-requested-with': 'x' } });
    assert.equal(verb.status, 405);
    assert.equal(verb.headers['allow'], 'GET');
    const param = await h1(`${s.url}/api/proxy/transactions?service=quotes&sort=desc`);
    assert.equal(param.status, 400);
    assert.match(JSON.parse(param.body).message, /sort not allowed for ListTransactions/);
    const onInfo = await h1(`${s.url}/api/proxy/info?limit=1`);
    assert.equal(onInfo.status, 400);
    const field = await h1(`${s.url}/api/proxy/services`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-requested-with': 'x' },
      body: JSON.stringify({ name: 'a', address: '127.0.0.1:1', secret: 1 }),
    });
    assert.equal(field.status, 400);
    assert.match(JSON.parse(field.body).message, /unknown field "secret"/);
  });

  test('a Host that is not an IP literal, localhost or allowed is refused on the proxy (DNS rebinding)', async () => {
    const res = await h1(`${s.url}/api/proxy/info`, { headers: { host: `evil.example:${s.port}` } });
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).error, 'L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL');
    assert.equal((await h1(`${s.url}/api/proxy/info`, { headers: { host: `localhost:${s.port}` } })).status, 200);
  });

  test('over HTTP/2 (h2c): :authority stands for Host; the page, a call and a refused change', async () => {
    const handler = createDashboardHandler({ admin: s.admin, macaroon: s.macaroonHex, assets: await builtDashboard() });
    const server = createHttp2Server((req, res) => {
      if (!handler(req, res)) {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const session = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const request = (
      headers: Record<string, string>,
      body?: string,
    ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const stream = session.request(headers);
        let head: Record<string, unknown> = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          head = h;
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve({ status: Number(head[':status']), body: Buffer.concat(chunks).toString(), headers: head }));
        stream.on('error', reject);
        stream.end(body);
      });
    try {
      const page = await request({ ':path': '/transactions' });
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-security-policy'], DASHBOARD_CSP);
      const info = await request({ ':path': '/api/proxy/info' });
      assert.equal(info.status, 200, info.body);
      assert.equal(JSON.parse(info.body).network, 'regtest');
      const refused = await request({ ':path': '/api/proxy/services', ':method': 'POST', 'content-type': 'application/json' }, '{}');
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(refused.body).error, 'L402_ERR_ADMIN_DASHBOARD_CSRF');
      const rebound = await request({ ':path': '/api/proxy/info', ':authority': 'evil.example' });
      assert.equal(rebound.status, 403);
      assert.equal(JSON.parse(rebound.body).error, 'L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL');
    } finally {
      session.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;
  test(
    'a client at a non-loopback address: 403 on the proxy, the rest left to the program',
    { skip: external === undefined ? 'this machine has no non-loopback IPv4 address to connect from' : false },
    async () => {
      const url = `http://${external}:${s.port}`;
      const res = await h1(`${url}/api/proxy/info`);
      assert.equal(res.status, 403);
      assert.equal(JSON.parse(res.body).error, 'L402_ERR_ADMIN_DASHBOARD_NOT_LOCAL');
      const before = s.programHits.length;
      assert.equal((await h1(`${url}/`)).body, 'program\n');
      assert.deepEqual(s.programHits.slice(before), ['GET /']);
    },
  );
});

test('without a real remote client: the socket address decides, not a forwarding header', async () => {
  const assets = loadDashboardAssets(await builtDashboard());
  const calls: string[] = [];
  const admin = {
    call: async () => {
      calls.push('call');
      return {};
    },
  } as unknown as Parameters<typeof createDashboardHandler>[0]['admin'];
  const handler = createDashboardHandler({ admin, macaroon: 'aa', assets });
  const answer = (
    remoteAddress: string,
    url: string,
    headers: Record<string, string> = {},
  ): { handled: boolean; status: number | undefined } => {
    const socket = new Socket();
    Object.defineProperty(socket, 'remoteAddress', { value: remoteAddress });
    const req = { url, method: 'GET', headers: { host: '127.0.0.1:8081', ...headers }, socket } as unknown as IncomingMessage;
    let status: number | undefined;
    const res = {
      headersSent: false,
      destroyed: false,
      setHeader() {},
      writeHead(code: number) {
        status = code;
      },
      end() {},
    } as unknown as ServerResponse;
    const handled = handler(req, res);
    socket.destroy();
    return { handled, status };
  };
  assert.deepEqual(answer('203.0.113.7', '/api/proxy/info', { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1' }), {
    handled: true,
    status: 403,
  });
  assert.deepEqual(answer('203.0.113.7', '/'), { handled: false, status: undefined });
  assert.deepEqual(answer('::ffff:127.0.0.1', '/'), { handled: true, status: 200 });
  assert.deepEqual(calls, []);
});
