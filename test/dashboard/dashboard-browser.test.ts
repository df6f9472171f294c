// The dashboard end to end in headless Chromium (Debian's, driven by playwright-core;
// no browser is downloaded) against a running aperture (dev Lightning backend, SQLite
// store) after real paid traffic, with the admin API and the dashboard on their own
// listener over the same store: the numbers on every page equal the API's; a service
// created, edited and deleted through the UI reaches the registry and the program
// (applyServices); a token revoked through the UI is refused by the proxy; the CSV
// holds the filtered rows; the keyboard and a narrow screen work; no console error.
// DASHBOARD_SCREENSHOTS=1 writes a screenshot of each page into docs/dashboard/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAperture } from '../../src/app/start-aperture.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { h1, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, deferCleanup, quiet, repoRoot, tempBaseDir, wwwAuthenticate } from '../e2e/support.js';
import { startDashboardServer } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env['DASHBOARD_SCREENSHOTS'] === '1' ? join(repoRoot, 'docs/dashboard') : undefined;

async function missing(): Promise<string | undefined> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci)';
  }
  return undefined;
}

const reason = await missing();
const ci = process.env['CI'] === 'true';
const fmt = (v: string | number): string => new Intl.NumberFormat('en-US').format(BigInt(v));

/** The page's `document`, as far as the callbacks run in the browser use it (the tests compile without DOM types). */
declare const document: {
  activeElement: { textContent: string | null } | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};

interface Tx {
  id: number;
  token_id: string;
  payment_hash: string;
  service_name: string;
  price_sats: string;
  state: string;
  settled_at: string;
}

test(
  'the dashboard in headless Chromium against a running aperture with paid traffic',
  { skip: ci ? false : (reason ?? false) },
  async (t) => {
    if (reason !== undefined) assert.fail(`CI=true: ${reason}`);
    const { chromium } = await import('playwright-core');

    const upstream = await startBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    deferCleanup(t, () => upstream.close());
    const baseDir = tempBaseDir(t);
    const store = new SqliteStore({ path: join(baseDir, 'aperture.db'), revocationPollMs: 0 });
    deferCleanup(t, () => store.close());
    const aperture = await startAperture(
      configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: quotes
    pathregexp: '^/quotes'
    address: ${upstream.address}
    price: 10
  - name: weather
    pathregexp: '^/weather'
    address: ${upstream.address}
    price: 3
`,
        baseDir,
      ),
      { logger: quiet, store, gcIntervalMs: 0, defaultMetrics: false },
    );
    deferCleanup(t, () => aperture.close());

    // Real paid traffic: challenge, pay through the dev backend, call again with the token.
    const payer = new DevPayer(aperture.invoicer as DevInvoicer);
    const pay = async (path: string): Promise<{ authorization: string; paymentHash: string }> => {
      const res = await h1(`${aperture.url}${path}`);
      assert.equal(res.status, 402);
      const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
      const paid = await payer.payInvoice(invoice);
      const authorization = `L402 ${macaroon}:${paid.preimage}`;
      assert.equal((await h1(`${aperture.url}${path}`, { headers: { authorization } })).status, 200);
      return { authorization, paymentHash: paid.paymentHash };
    };
    const tokens: Array<{ authorization: string; paymentHash: string }> = [];
    for (let i = 0; i < 3; i++) tokens.push(await pay(`/quotes/${i}`));
    for (let i = 0; i < 2; i++) tokens.push(await pay(`/weather/${i}`));
    // Unpaid challenges: pending rows, enough for a second page of transactions.
    for (let i = 0; i < 24; i++) assert.equal((await h1(`${aperture.url}/quotes/unpaid`)).status, 402);

    const s = await startDashboardServer({
      store,
      services: [...aperture.config.services],
      info: { listenAddr: new URL(aperture.url).host, insecure: true },
    });
    deferCleanup(t, () => s.close());
    const api = async <T>(path: string): Promise<T> => {
      const res = await h1(`${s.url}/api/admin/${path}`, { headers: { 'grpc-metadata-macaroon': s.macaroonHex } });
      assert.equal(res.status, 200, res.body);
      return JSON.parse(res.body) as T;
    };

    const userDataDir = mkdtempSync(join(tmpdir(), 'aperture-chromium-'));
    deferCleanup(t, () => rmSync(userDataDir, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    deferCleanup(t, () => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    let expectedRefusals = 0;
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      // Chromium logs every answer >= 400 of a fetch; the two refused creations below are meant.
      if (expectedRefusals > 0 && message.location().url === `${s.url}/api/proxy/services` && /status of 400/.test(message.text())) {
        expectedRefusals--;
        return;
      }
      errors.push(`console.${message.type()}: ${message.text()} (${message.location().url})`);
    });
    const shot = async (name: string): Promise<void> => {
      if (SHOTS === undefined) return;
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    };
    const tile = (name: string): Promise<string> => page.locator(`[data-tile="${name}"] .tile-value`).innerText();

    await t.test('overview: the tiles and the breakdown equal the API', async () => {
      await page.goto(`${s.url}/?range=all`);
      await page.locator('[data-tile="revenue"]').waitFor();
      const stats = await api<{
        total_revenue_sats: string;
        transaction_count: string;
        service_breakdown: Array<{ service_name: string; total_revenue_sats: string; transaction_count: string }>;
      }>('stats');
      assert.equal(stats.total_revenue_sats, '36');
      assert.equal(await tile('revenue'), `${fmt(stats.total_revenue_sats)} sat`);
      assert.equal(await tile('transactions'), fmt(stats.transaction_count));
      const all = await api<{ total_count: string }>('transactions?limit=1');
      const settled = await api<{ total_count: string }>('transactions?limit=1&state=settled');
      assert.equal(await tile('success'), `${((100 * Number(settled.total_count)) / Number(all.total_count)).toFixed(1)}%`);
      const services = await api<{ services: unknown[] }>('services');
      assert.equal(await tile('services'), fmt(services.services.length));
      const revenueBars = await page.locator('.panel', { hasText: 'Revenue by service' }).locator('li').allInnerTexts();
      assert.deepEqual(
        revenueBars.map((x) => x.replace(/\s+/g, ' ').trim()).sort(),
        stats.service_breakdown.map((b) => `${b.service_name} ${fmt(b.total_revenue_sats)} sat`).sort(),
      );
      assert.equal((await page.locator('.chart-box canvas').count()) > 0, true, 'the revenue chart is drawn');
      // A range that ends before today holds nothing: the API says so, and so does the page.
      await page.goto(`${s.url}/?range=custom&from=2020-01-01&to=2020-01-31`);
      await page.locator('text=No settled transactions in this range.').first().waitFor();
      assert.equal(await tile('revenue'), '0 sat');
      await page.goto(`${s.url}/?range=7`);
      await page.locator('[data-tile="revenue"]').waitFor();
      assert.equal(await tile('revenue'), `${fmt(stats.total_revenue_sats)} sat`);
      await shot('overview');
    });

    await t.test('refresh: a new payment shows after "Refresh now"', async () => {
      tokens.push(await pay('/quotes/late'));
      await page.getByRole('button', { name: 'Refresh now' }).click();
      await page.locator('[data-tile="revenue"] .tile-value', { hasText: '46 sat' }).waitFor();
    });

    await t.test('transactions: filters, paging and the CSV of the filtered set', async () => {
      await page.goto(`${s.url}/transactions`);
      const all = await api<{ total_count: string }>('transactions?limit=1');
      await page.locator('.pager-info', { hasText: `of ${fmt(all.total_count)}` }).waitFor();
      assert.match(await page.locator('.pager-info').innerText(), /^1–25 of/);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.locator('.pager-info', { hasText: `26–${fmt(all.total_count)} of` }).waitFor();
      await shot('transactions');

      await page.getByLabel('Service').selectOption('quotes');
      await page.getByLabel('State').selectOption('settled');
      const today = new Date().toISOString().slice(0, 10);
      await page.getByLabel('Settled from').fill(today);
      await page.getByLabel('Settled to').fill(today);
      const query = `service=quotes&state=settled&start_date=${today}T00:00:00Z&end_date=${today}T23:59:59Z`;
      const filtered = await api<{ transactions: Tx[]; total_count: string }>(`transactions?${query}&limit=1000`);
      assert.equal(filtered.total_count, '4');
      await page.locator('.pager-info', { hasText: `1–4 of 4` }).waitFor();
      assert.match(page.url(), /service=quotes&state=settled&from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}$/);
      const shownIds = await page.locator('tr[data-tx]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-tx'))));
      assert.deepEqual(
        shownIds,
        filtered.transactions.map((x) => x.id),
      );

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
      assert.match(download.suggestedFilename(), /^transactions-quotes-settled-from-.*\.csv$/);
      const csv = readFileSync(await download.path(), 'utf8')
        .trimEnd()
        .split('\r\n');
      assert.equal(csv[0], 'id,token_id,payment_hash,service_name,price_sats,state,created_at,settled_at,revoked_at,auth_type');
      const rows = csv.slice(1).map((line) => line.split(','));
      assert.deepEqual(
        rows.map((r) => Number(r[0])),
        filtered.transactions.map((x) => x.id),
      );
      assert.deepEqual(
        rows.map((r) => [r[2], r[3], r[4], r[5], r[7]]),
        filtered.transactions.map((x) => [x.payment_hash, x.service_name, x.price_sats, x.state, x.settled_at]),
      );

      // A range before any payment matches nothing, plainly said.
      await page.goto(`${s.url}/transactions?from=2020-01-01&to=2020-01-02`);
      await page.locator('text=No transactions match these filters.').waitFor();
    });

    await t.test('services: field errors, create, inline edit of every kind of field, delete with confirmation', async () => {
      await page.goto(`${s.url}/services`);
      await page.locator('tr[data-service="quotes"]').waitFor();
      await page.getByRole('button', { name: 'New service' }).click();
      const form = page.getByRole('form', { name: 'New service' });
      await form.getByLabel('Name').fill('news');
      await form.getByLabel('Address').fill(upstream.address);
      await form.getByLabel('Path regexp').fill('^/api/admin/');
      await form.getByLabel('Price (sat)').fill('abc');
      expectedRefusals = 2;
      await form.getByRole('button', { name: 'Create' }).click();
      await form.locator('.field-error', { hasText: 'price' }).waitFor();
      await form.getByLabel('Price (sat)').fill('7');
      await form.getByRole('button', { name: 'Create' }).click();
      await form.locator('#new-service-path_regexp-msg', { hasText: /reserved paths/ }).waitFor();
      await form.getByLabel('Path regexp').fill('^/news');
      await form.getByLabel(/Other settings/).fill('{"timeout": 60, "ratelimits": [{"requests": 5, "per": "1s"}]}');
      await shot('service-create');
      await form.getByRole('button', { name: 'Create' }).click();
      await page.locator('.notice', { hasText: 'Service news created.' }).waitFor();
      await page.locator('tr[data-service="news"]').waitFor();
      const created = await store.getService('news');
      assert.equal((created?.config as Record<string, unknown>)['pathregexp'], '^/news');
      assert.deepEqual((created?.config as Record<string, unknown>)['ratelimits'], [{ requests: 5, per: '1s' }]);
      assert.equal((created?.config as Record<string, unknown>)['price'], 7);
      assert.equal((created?.config as Record<string, unknown>)['timeout'], 60);
      assert.deepEqual(s.backend.lastApplied(), ['quotes', 'weather', 'news']);

      await page.getByRole('button', { name: 'Edit news' }).click();
      const edit = page.getByRole('form', { name: 'Edit news' });
      assert.equal(await edit.getByLabel('Name').getAttribute('readonly'), '');
      await edit.getByLabel('Price (sat)').fill('9');
      await edit.getByLabel('Auth', { exact: true }).fill('freebie 2');
      await edit.getByLabel('Host regexp').fill('^localhost');
      await edit.getByLabel(/Other settings/).fill('{"timeout": 30, "headers": {"X-Api-Key": "k-1"}}');
      await shot('service-edit');
      await edit.getByRole('button', { name: 'Save' }).click();
      await page.locator('.notice', { hasText: 'Service news saved.' }).waitFor();
      const edited = (await store.getService('news'))?.config as Record<string, unknown>;
      assert.equal(edited['price'], 9);
      assert.equal(edited['auth'], 'freebie 2');
      assert.equal(edited['hostregexp'], '^localhost');
      assert.equal(edited['timeout'], 30);
      assert.deepEqual(edited['headers'], { 'X-Api-Key': 'k-1' });
      assert.equal(edited['ratelimits'], undefined, 'a key taken out of the JSON is removed');
      const applied = s.backend.applied[s.backend.applied.length - 1]?.find((x) => x.name === 'news');
      assert.equal(applied?.price, 9);
      await page.locator('tr[data-service="news"] td.num', { hasText: /^9$/ }).waitFor();

      // A service of the configuration file can be edited too: the override is stored.
      await page.getByRole('button', { name: 'Edit weather' }).click();
      await page.getByRole('form', { name: 'Edit weather' }).getByLabel('Price (sat)').fill('4');
      await page.getByRole('form', { name: 'Edit weather' }).getByRole('button', { name: 'Save' }).click();
      await page.locator('.notice', { hasText: 'Service weather saved.' }).waitFor();
      assert.equal(((await store.getService('weather'))?.config as Record<string, unknown>)['price'], 4);
      await shot('services');

      await page.getByRole('button', { name: 'Delete news' }).click();
      const confirm = page.getByRole('group', { name: 'Confirm deleting news' });
      await confirm.waitFor();
      assert.equal(
        await confirm.getByRole('button', { name: 'Delete' }).evaluate((el) => el === document.activeElement),
        true,
        'the confirmation takes the focus',
      );
      await confirm.getByRole('button', { name: 'Delete' }).click();
      await page.locator('.notice', { hasText: 'Service news deleted.' }).waitFor();
      await page.locator('tr[data-service="news"]').waitFor({ state: 'detached' });
      assert.equal(await store.getService('news'), undefined);
      assert.deepEqual(s.backend.lastApplied(), ['quotes', 'weather']);
    });

    await t.test('service detail: revenue, configuration, and a curl command that reaches the service', async () => {
      await page.goto(`${s.url}/services`);
      await page.getByRole('link', { name: 'quotes' }).click();
      await page.locator('[data-tile="service-revenue"]').waitFor();
      const stats = await api<{
        service_breakdown: Array<{ service_name: string; total_revenue_sats: string; transaction_count: string }>;
      }>('stats');
      const q = stats.service_breakdown.find((b) => b.service_name === 'quotes');
      assert.equal(await tile('service-revenue'), `${fmt(q?.total_revenue_sats ?? '0')} sat`);
      assert.equal(await tile('service-settled'), fmt(q?.transaction_count ?? '0'));
      const curl = await page.locator('.snippet pre').first().innerText();
      const url = /^curl -i (\S+)$/.exec(curl.trim())?.[1];
      assert.equal(url, `${aperture.url}/quotes`);
      assert.equal((await h1(url)).status, 402, 'the command reaches the paid service');
      assert.match(
        await page.locator('.snippet pre').nth(1).innerText(),
        new RegExp(`^aperturecli fetch ${aperture.url}/quotes --max-price 10`),
      );
      assert.match(await page.locator('pre.config').innerText(), /"pathregexp": "\^\/quotes"/);
      assert.equal(await page.locator('tr[data-tx]').count(), 20, 'its recent transactions');
      await shot('service-detail');
    });

    await t.test('tokens: the list equals the API; a token revoked through the UI is refused at once', async () => {
      const victim = tokens[0];
      assert.ok(victim !== undefined);
      assert.equal((await h1(`${aperture.url}/quotes/again`, { headers: { authorization: victim.authorization } })).status, 200);
      await page.goto(`${s.url}/tokens`);
      const listed = await api<{ tokens: Tx[]; total_count: string }>('tokens?limit=100');
      await page.locator('tr[data-token]').first().waitFor();
      assert.deepEqual(
        await page.locator('tr[data-token]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-token'))),
        listed.tokens.map((x) => x.token_id),
      );
      await shot('tokens');
      const tokenId = listed.tokens.find((x) => x.payment_hash === victim.paymentHash)?.token_id;
      assert.ok(tokenId !== undefined);
      await page.getByRole('button', { name: `Revoke ${tokenId}` }).click();
      await page.getByRole('group', { name: 'Confirm revoking' }).getByRole('button', { name: 'Revoke' }).click();
      await page.locator('.notice', { hasText: 'revoked' }).waitFor();
      await page.locator(`tr[data-token="${tokenId}"]`).waitFor({ state: 'detached' });
      const refused = await h1(`${aperture.url}/quotes/again`, { headers: { authorization: victim.authorization } });
      assert.equal(refused.status, 402, 'the revoked token gets a fresh challenge');
      const other = tokens[1];
      assert.equal(
        (await h1(`${aperture.url}/quotes/again`, { headers: { authorization: other?.authorization ?? '' } })).status,
        200,
        'other tokens still work',
      );
    });

    await t.test('keyboard and a narrow screen', async () => {
      await page.goto(`${s.url}/`);
      await page.locator('[data-tile="revenue"]').waitFor();
      let focused = '';
      for (let i = 0; i < 10 && focused !== 'Tokens'; i++) {
        await page.keyboard.press('Tab');
        focused = await page.evaluate(() => document.activeElement?.textContent ?? '');
      }
      assert.equal(focused, 'Tokens');
      await page.keyboard.press('Enter');
      await page.locator('h1', { hasText: 'Tokens' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/tokens');

      await page.setViewportSize({ width: 375, height: 800 });
      for (const path of ['/', '/services', '/transactions', '/tokens']) {
        await page.goto(`${s.url}${path}`);
        await page.locator('main h1').waitFor();
        await page.locator('.state', { hasText: 'Loading' }).waitFor({ state: 'detached' });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px on a 375px screen`);
      }
      await page.goto(`${s.url}/`);
      await page.locator('[data-tile="revenue"]').waitFor();
      await shot('overview-narrow');
    });

    assert.equal(expectedRefusals, 0, 'both refused creations were answered 400');
    assert.deepEqual(errors, [], 'no console error or warning, no page error (CSP violations included)');
  },
);
