// aperture-ts/client in a browser: bundled by esbuild for the browser with nothing of
// Node (no node: externals, no polyfills), loaded by a page served from its own origin,
// it pays a local aperture's challenge (dev backend, CORS) in headless Chromium.
// Chromium is Debian's (apt-get install chromium), driven by playwright-core; no browser
// is downloaded. Without them the test skips and says why, except under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { startAperture } from '../../src/app/start-aperture.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from '../e2e/support.js';

const CHROMIUM = '/usr/bin/chromium';
const root = new URL('../../', import.meta.url).pathname;

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

test('aperture-ts/client bundles for the browser without any Node module', async () => {
  const result = await build({
    entryPoints: [join(root, 'src/client/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  assert.deepEqual(result.errors, []);
  const inputs = Object.keys(result.metafile.inputs);
  assert.deepEqual(
    inputs.filter((file) => file.startsWith('node:') || file.includes('node_modules')),
    [],
    "only the package's own code",
  );
  const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
  assert.deepEqual(
    imports.filter((path) => path.startsWith('node:')),
    [],
  );
  const text = result.outputFiles[0]?.text ?? '';
  assert.doesNotMatch(text, /\bBuffer\b|\bprocess\.|\brequire\(/, 'no Node globals on the path');
});

test(
  'a paid fetch in headless Chromium: 402, pay through /api/dev/pay, 200, then the stored token is reused',
  { skip: ci ? false : (reason ?? false) },
  async () => {
    if (reason !== undefined) assert.fail(`CI=true: ${reason}`);
    const { chromium } = await import('playwright-core');

    const bundle = await build({
      entryPoints: [join(root, 'test/fixtures/browser/paid-fetch-page.ts')],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]?.text ?? '';

    const upstream = await startBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ quote: 'Stay humble, stack sats.', path: req.url, paid: req.headers['authorization'] !== undefined }));
    });
    const baseDir = tempBaseDir();
    const aperture = await startAperture(
      configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/api/'
    address: ${upstream.address}
    price: 10
    timeout: 3600
`,
        baseDir,
      ),
      { logger: quiet, store: new MemoryStore(), defaultMetrics: false },
    );
    // The page comes from another origin than the API, as a web app's would.
    const pages: Server = createServer((req, res) => {
      if (req.url === '/paid-fetch.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(script);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><meta charset="utf-8"><title>paid fetch</title><script src="/paid-fetch.js"></script>');
      }
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
    const userDataDir = mkdtempSync(join(tmpdir(), 'aperture-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
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
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(pageUrl);
      const result = await page.evaluate(
        (base) => (globalThis as unknown as { paidFetch: (b: string) => Promise<Record<string, unknown>> }).paidFetch(base),
        aperture.url,
      );
      assert.deepEqual(errors, []);
      assert.equal(result['error'], undefined, String(result['error']));
      assert.deepEqual(result['statuses'], [200, 200]);
      assert.equal(result['payments'], 1, 'paid once; the second request reused the token');
      assert.equal(result['tokenStored'], true);
      const bodies = result['bodies'] as Array<{ quote: string; paid: boolean }>;
      assert.deepEqual(
        bodies.map((b) => b.paid),
        [true, true],
      );
      assert.match(String((result['paidHashes'] as string[])[0]), /^[0-9a-f]{64}$/);
      // Paid means paid: the dev backend saw the settlement of that very hash.
      const state = await aperture.invoicer?.lookupInvoice((result['paidHashes'] as string[])[0] as string);
      assert.equal(state?.state, 'settled');
    } finally {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
      await new Promise<void>((resolve) => pages.close(() => resolve()));
      await aperture.close();
      await upstream.close();
      rmSync(baseDir, { recursive: true, force: true });
    }
  },
);
