// Start-up reconciliation reads every pending ledger row, not just the first page of 1,000
// (docs/operations.md says so): in memory and in a real SQLite file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { InvoiceStatus } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startAperture } from '../../src/app/start-aperture.js';
import type { ApertureStore } from '../../src/store/aperture-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from './support.js';

/** A dev backend that reports every looked-up invoice as paid while aperture was down. */
class AllPaidInvoicer extends DevInvoicer {
  override async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    return { paymentHash, state: 'settled', amountPaidSats: 10, settledAt: Date.now() };
  }
}

for (const kind of ['memory', 'sqlite'] as const) {
  test(
    `reconcile at start (${kind} store): all 2,345 pending rows are looked up and marked settled (pages of 1,000)`,
    { timeout: 60_000 },
    async () => {
      const baseDir = tempBaseDir();
      const backend = await startBackend((_req, res) => res.end('ok'));
      const store: ApertureStore = kind === 'memory' ? new MemoryStore() : new SqliteStore({ baseDir, revocationPollMs: 0 });
      const now = Date.now();
      for (let i = 0; i < 2345; i++) {
        // Groups of equal creation times exercise the cursor's tie-break.
        await store.recordChallenge({
          tokenId: randomBytes(32).toString('hex'),
          paymentHash: randomBytes(32).toString('hex'),
          service: 'api',
          priceSats: 10,
          authType: 'l402',
          createdAt: now - 10_000 + Math.floor(i / 7),
          expiresAt: now + 3_600_000,
        });
      }
      const invoicer = new AllPaidInvoicer({ onWarning: () => undefined });
      const config = configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`,
        baseDir,
      );
      const aperture = await startAperture(config, { logger: quiet, store, invoicer, gcIntervalMs: 0, defaultMetrics: false });
      try {
        assert.equal(await aperture.reconciled, 2345);
        assert.deepEqual(await store.listPendingUnexpired(now), []);
        assert.equal((await store.listTransactions({ state: 'settled', now })).total, 2345);
      } finally {
        await aperture.close();
        await invoicer.close();
        await backend.close();
        await store.close();
        rmSync(baseDir, { recursive: true, force: true });
      }
    },
  );
}
