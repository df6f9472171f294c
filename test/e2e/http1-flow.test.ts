// The whole `aperture` pipeline over HTTP/1.1 on real sockets: challenge, pay, retry, and every refusal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IncomingHttpHeaders } from 'node:http';
import { Minter } from '../../src/core/minter.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, freePort, quiet, removeDir, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

describe('aperture over HTTP/1.1', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let slow: Awaited<ReturnType<typeof startBackend>>;
  const seen: IncomingHttpHeaders[] = [];
  /** Every Authorization line each request reached the backend with, in order. */
  const seenAuthorization: string[][] = [];
  const clock = new TestClock(Date.now());
  const held: (() => void)[] = [];

  const baseDir = tempBaseDir();
  before(async () => {
    backend = await startBackend((req, res) => {
      seen.push(req.headers);
      seenAuthorization.push(req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]?.toLowerCase() === 'authorization'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    slow = await startBackend((_req, res) => {
      held.push(() => res.end('late'));
    });
    const downPort = await freePort();
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
blocklist: ['203.0.113.0/24', '2001:db8:dead::1']
trustedproxies: ['127.0.0.1']
upstreamtimeout: 300ms
prometheus:
  enabled: true
  listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: paid
    pathregexp: '^/paid'
    address: ${backend.address}
    price: 10
    timeout: 60
    capabilities: read
    authwhitelistpaths: ['^/paid/free']
    authskipinvoicecreationpaths: ['^/paid/stream']
    ratelimits:
      - pathregexp: '^/paid/limited'
        requests: 2
        per: 1m
  - name: freebie
    pathregexp: '^/freebie'
    address: ${backend.address}
    auth: freebie 2
  - name: down
    pathregexp: '^/down'
    address: 127.0.0.1:${downPort}
    auth: 'off'
  - name: slow
    pathregexp: '^/slow'
    address: ${slow.address}
    auth: 'off'
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    for (const release of held) release();
    await aperture.close();
    await backend.close();
    await slow.close();
    removeDir(baseDir);
  });

  async function pay(path: string): Promise<{ authorization: string; macaroon: string; preimage: string; paymentHash: string }> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402);
    const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
    const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    return { authorization: `L402 ${macaroon}:${paid.preimage}`, macaroon, preimage: paid.preimage, paymentHash: paid.paymentHash };
  }

  test('no token: 402 with the reference two-line challenge, recorded pending in the ledger', async () => {
    const res = await h1(`${aperture.url}/paid/quote`);
    assert.equal(res.status, 402);
    assert.equal(res.body, 'payment required\n');
    const lines = wwwAuthenticate(res.rawHeaders);
    assert.equal(lines.length, 2);
    assert.match(lines[0] as string, /^LSAT macaroon="[^"]+", invoice="lnbcrt100n1/);
    assert.match(lines[1] as string, /^L402 macaroon="[^"]+", invoice="lnbcrt100n1/);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    const page = await aperture.store.listTransactions({ service: 'paid', state: 'pending' });
    assert.ok(page.total >= 1);
  });

  test('pay, retry: 200, the backend sees the credential as the reference forwards it (LSAT line, then L402 line), the ledger row is settled', async () => {
    const { macaroon, preimage, paymentHash } = await pay('/paid/quote');
    // Lower-case scheme, URL-safe base64 without padding, upper-case preimage: all accepted.
    const sloppy = `l402   ${macaroon.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}:${preimage.toUpperCase()}`;
    seen.length = 0;
    seenAuthorization.length = 0;
    const res = await h1(`${aperture.url}/paid/quote`, { headers: { authorization: sloppy } });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { path: '/paid/quote' });
    assert.deepEqual(seenAuthorization[0], [`LSAT ${macaroon}:${preimage}`, `L402 ${macaroon}:${preimage}`]);
    const rows = await aperture.store.listTransactions({ service: 'paid', state: 'settled' });
    assert.ok(rows.items.some((r) => r.paymentHash === paymentHash));
    const metrics = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/metrics`);
    assert.match(metrics.body, /aperture_tokens_paid_total\{service="paid"\} [1-9]/);
    assert.match(metrics.body, /aperture_requests_total\{service="paid",outcome="forwarded"\} [1-9]/);
    assert.match(metrics.body, /aperture_challenges_total\{service="paid"\} [1-9]/);
  });

  test('wrong preimage, foreign macaroon and expired token each get a fresh challenge', async () => {
    const { macaroon } = await pay('/paid/quote');
    const wrong = await h1(`${aperture.url}/paid/quote`, { headers: { authorization: `L402 ${macaroon}:${'00'.repeat(32)}` } });
    assert.equal(wrong.status, 402);
    assert.equal(wwwAuthenticate(wrong.rawHeaders).length, 2);

    const otherInvoicer = new DevInvoicer({ onWarning: () => undefined });
    const foreign = await new Minter({ invoicer: otherInvoicer, secrets: new MemorySecretStore() }).mint({
      services: [{ name: 'paid', tier: 0 }],
      priceSats: 10,
    });
    const foreignPaid = await otherInvoicer.pay(foreign.invoice.paymentRequest);
    const res = await h1(`${aperture.url}/paid/quote`, {
      headers: { authorization: `L402 ${foreign.macaroonBase64}:${foreignPaid.preimage}` },
    });
    assert.equal(res.status, 402);
    await otherInvoicer.close();

    const fresh = await pay('/paid/quote');
    assert.equal((await h1(`${aperture.url}/paid/quote`, { headers: { authorization: fresh.authorization } })).status, 200);
    clock.advance(61_000);
    const expired = await h1(`${aperture.url}/paid/quote`, { headers: { authorization: fresh.authorization } });
    assert.equal(expired.status, 402);
  });

  test('whitelisted path passes without a token; skip-invoice path answers 401', async () => {
    const free = await h1(`${aperture.url}/paid/free/x`);
    assert.equal(free.status, 200);
    const skip = await h1(`${aperture.url}/paid/stream`);
    assert.equal(skip.status, 401);
    assert.equal(skip.body, 'unauthorized\n');
  });

  test('freebies: N free requests per masked client IP, then a challenge', async () => {
    const xff = { 'x-forwarded-for': '198.51.100.7' };
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: xff })).status, 200);
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: { 'x-forwarded-for': '198.51.100.99' } })).status, 200);
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: xff })).status, 402);
    // Another /24 has its own allowance.
    assert.equal((await h1(`${aperture.url}/freebie/a`, { headers: { 'x-forwarded-for': '198.51.101.7' } })).status, 200);
  });

  test('blocklist: 403 access denied, for CIDR ranges, after trusted-proxy handling', async () => {
    const res = await h1(`${aperture.url}/paid/free/x`, { headers: { 'x-forwarded-for': '203.0.113.77' } });
    assert.equal(res.status, 403);
    assert.equal(res.body, 'access denied\n');
    const options = await h1(`${aperture.url}/paid/quote`, { method: 'OPTIONS', headers: { 'x-forwarded-for': '203.0.113.77' } });
    assert.equal(options.status, 403);
  });

  test('OPTIONS answers 200 with CORS', async () => {
    const res = await h1(`${aperture.url}/paid/quote`, { method: 'OPTIONS' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['access-control-allow-headers']), /Authorization/);
  });

  test('upstream down: 502; slow upstream: 504', async () => {
    const down = await h1(`${aperture.url}/down`);
    assert.equal(down.status, 502);
    const late = await h1(`${aperture.url}/slow`);
    assert.equal(late.status, 504);
    const metrics = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/metrics`);
    assert.match(metrics.body, /aperture_upstream_errors_total\{service="down",kind="unreachable"\} 1/);
    assert.match(metrics.body, /aperture_upstream_errors_total\{service="slow",kind="timeout"\} 1/);
  });

  test('rate limit by token: 429 with Retry-After once the bucket is empty, other tokens unaffected', async () => {
    const a = await pay('/paid/limited');
    for (let i = 0; i < 2; i++)
      assert.equal((await h1(`${aperture.url}/paid/limited`, { headers: { authorization: a.authorization } })).status, 200);
    const denied = await h1(`${aperture.url}/paid/limited`, { headers: { authorization: a.authorization } });
    assert.equal(denied.status, 429);
    assert.equal(denied.body, 'rate limit exceeded\n');
    assert.ok(Number(denied.headers['retry-after']) >= 1);
    const b = await pay('/paid/limited');
    assert.equal((await h1(`${aperture.url}/paid/limited`, { headers: { authorization: b.authorization } })).status, 200);
  });

  test('health endpoint reports store and Lightning', async () => {
    const res = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/healthz`);
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as { ok: boolean; store: { backend: string } };
    assert.equal(body.ok, true);
    assert.equal(body.store.backend, 'sqlite');
  });
});
