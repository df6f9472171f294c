// The web dashboard served by the `aperture` program (admin.enabled; admin.dashboard on by
// default): the page at / and unknown paths, services and /api/dev/pay still theirs,
// /api/proxy/ calling the program's admin API with a macaroon baked from its root key,
// a service created through it routed by the proxy at once; admin.dashboard: false
// leaves every path to the proxy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h1 } from '../proxy/support.js';
import { deferCleanup, tempBaseDir } from '../e2e/support.js';
import { builtDashboard } from '../dashboard/support.js';
import { echoBackend, payFor, startProgram } from './support.js';

const SERVICES = (address: string): string => `services:
  - name: paid
    pathregexp: '^/paid'
    address: ${address}
    price: 7
`;

test('the program serves the dashboard next to its admin API; services win', async (t) => {
  const backend = await echoBackend();
  deferCleanup(t, () => backend.close());
  const dir = tempBaseDir(t);
  const p = await startProgram({
    kind: 'memory',
    dir,
    yaml: `admin:\n  enabled: true\n${SERVICES(backend.address)}`,
    options: { dashboardAssets: await builtDashboard() },
  });
  deferCleanup(t, () => p.close());
  const url = p.aperture.url;

  for (const path of ['/', '/services/paid', '/tokens']) {
    const page = await h1(`${url}${path}`);
    assert.equal(page.status, 200, path);
    assert.match(page.body, /\/_dashboard\/app\.js/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
  }
  assert.equal((await h1(`${url}/_dashboard/app.js`)).status, 200);
  // A service's path and the dev backend's pay endpoint are not the dashboard's.
  assert.equal((await h1(`${url}/paid/quote`)).status, 402);
  assert.equal((await h1(`${url}/api/dev/pay`)).status, 405);
  const paid = await payFor(url, '/paid/quote');

  // The proxy calls the program's admin API with its own macaroon: the paid token is listed.
  const tokens = await h1(`${url}/api/proxy/tokens`);
  assert.equal(tokens.status, 200, tokens.body);
  assert.deepEqual(
    (JSON.parse(tokens.body) as { tokens: Array<{ payment_hash: string }> }).tokens.map((x) => x.payment_hash),
    [paid.paymentHash],
  );
  // The admin API itself still wants a macaroon.
  assert.equal((await h1(`${url}/api/admin/tokens`)).status, 401);

  // A service created through the dashboard's proxy is routed at once.
  assert.equal((await h1(`${url}/news/today`)).status, 200, 'the page, before the service exists');
  const created = await h1(`${url}/api/proxy/services`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-requested-with': 'aperture-dashboard', origin: url },
    body: JSON.stringify({ name: 'news', address: backend.address, path_regexp: '^/news', price: '3' }),
  });
  assert.equal(created.status, 200, created.body);
  const news = await h1(`${url}/news/today`);
  assert.equal(news.status, 402, 'now the service answers, with a challenge');
  // Without the CSRF header nothing changes.
  const refused = await h1(`${url}/api/proxy/services/news`, { method: 'DELETE' });
  assert.equal(refused.status, 403);
  assert.equal((await h1(`${url}/news/today`)).status, 402);
});

test('admin.dashboard: false leaves every path to the proxy', async (t) => {
  const backend = await echoBackend();
  deferCleanup(t, () => backend.close());
  const dir = tempBaseDir(t);
  const p = await startProgram({
    kind: 'memory',
    dir,
    yaml: `admin:\n  enabled: true\n  dashboard: false\n${SERVICES(backend.address)}`,
    options: { dashboardAssets: await builtDashboard() },
  });
  deferCleanup(t, () => p.close());
  const url = p.aperture.url;
  assert.equal((await h1(`${url}/`)).status, 404);
  assert.equal((await h1(`${url}/api/proxy/info`)).status, 404);
  assert.equal((await h1(`${url}/paid/quote`)).status, 402);
  assert.equal((await p.rest('/api/admin/info', { macaroon: p.macaroonHex })).status, 200, 'the admin API is still served');
});
