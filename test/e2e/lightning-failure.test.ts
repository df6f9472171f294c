// aperture in front of a (fake) lnd on real sockets: lnd going away and coming back,
// lnd unreachable at start, strict verification, and reconciliation at start.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { L402Error } from '../../src/core/errors.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import {
  authorizationFor,
  challenge,
  ledgerRow,
  lndFiles,
  metricValue,
  nextHealth,
  nextSettlement,
  settledInLedger,
} from './lnd-support.js';
import { configFrom, freePort, quiet, tempBaseDir } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

type Backend = Awaited<ReturnType<typeof startBackend>>;

function apertureYaml(fake: FakeLnd, dir: string, backend: Backend, extra = ''): string {
  return `
listenaddr: 127.0.0.1:0
insecure: true
${extra}
prometheus:
  enabled: true
  listenaddr: 127.0.0.1:0
${lndFiles(fake, dir).yaml}
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`;
}

describe('aperture with lnd', { timeout: 120_000 }, () => {
  let backend: Backend;
  before(async () => {
    backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
  });
  after(async () => {
    await backend.close();
  });

  test('lnd goes away and comes back: 503 for new challenges, paid tokens keep working, missed settlements recorded, no restart', async (t) => {
    const fake = await FakeLnd.start();
    const dir = tempBaseDir(t);
    const aperture = await startAperture(configFrom(apertureYaml(fake, dir, backend), dir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    try {
      assert.equal(await metricValue(aperture, 'aperture_lightning_up'), 1);

      // Challenge, pay (settled on the node), retry.
      const a = await challenge(aperture);
      assert.ok(fake.invoice(a.paymentHash) !== undefined, 'the invoice was created by lnd');
      assert.equal((await ledgerRow(aperture, a.paymentHash))?.state, 'pending');
      const settledA = nextSettlement(aperture, a.paymentHash);
      fake.settle(a.paymentHash);
      await settledA;
      await settledInLedger(aperture, a.paymentHash);
      const authA = authorizationFor(fake, a);
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: authA } })).status, 200);

      // Paid before the outage but never presented: its root key must come from the store, not the verifier cache.
      const b = await challenge(aperture);
      const settledB = nextSettlement(aperture, b.paymentHash);
      fake.settle(b.paymentHash);
      await settledB;
      // Issued before the outage, paid during it.
      const c = await challenge(aperture);

      const lost = nextHealth(aperture, false);
      await fake.stop();
      await lost;

      const down = await h1(`${aperture.url}/api/x`);
      assert.equal(down.status, 503);
      assert.equal(down.body, 'service unavailable (L402_ERR_LN_UNAVAILABLE)\n');
      assert.equal(down.headers['cache-control'], 'no-store');
      assert.equal(down.headers['www-authenticate'], undefined);
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: authA } })).status,
        200,
        'a paid token works while lnd is down',
      );
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: authorizationFor(fake, b) } })).status,
        200,
        'a paid token never seen before works while lnd is down',
      );
      // A wrong preimage needs a fresh challenge: also 503, not a crash.
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: `L402 ${c.macaroon}:${'00'.repeat(32)}` } })).status,
        503,
      );
      assert.equal(await metricValue(aperture, 'aperture_lightning_up'), 0);
      const health = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/healthz`);
      assert.equal(health.status, 503);
      assert.equal((JSON.parse(health.body) as { lightning: { ok: boolean } }).lightning.ok, false);

      // Paid while aperture cannot hear about it.
      fake.settle(c.paymentHash);
      assert.equal((await ledgerRow(aperture, c.paymentHash))?.state, 'pending');

      const back = nextHealth(aperture, true);
      const settledC = nextSettlement(aperture, c.paymentHash);
      await fake.restart();
      await back;
      await settledC;
      await settledInLedger(aperture, c.paymentHash);
      assert.equal(await metricValue(aperture, 'aperture_lightning_up'), 1);
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: authorizationFor(fake, c) } })).status, 200);

      // New challenges again, from the same process.
      const d = await challenge(aperture);
      assert.ok(fake.invoice(d.paymentHash) !== undefined);
    } finally {
      await aperture.close();
      await fake.stop();
    }
  });

  test('lnd unreachable at start: startAperture rejects naming host and cause; the CLI exits 1 saying so', async (t) => {
    const fake = await FakeLnd.start();
    const host = fake.host;
    await fake.stop();
    const dir = tempBaseDir(t);
    const yaml = apertureYaml(fake, dir, backend);
    await assert.rejects(
      startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false }),
      (error: unknown) => {
        assert.ok(error instanceof L402Error);
        assert.equal(error.code, 'L402_ERR_LN_CONNECT_FAILED');
        assert.ok(error.message.includes(`cannot connect to lnd at ${host}`), error.message);
        assert.match(error.message, /ECONNREFUSED|UNAVAILABLE/);
        return true;
      },
    );

    const port = await freePort();
    writeFileSync(
      join(dir, 'aperture.yaml'),
      yaml.replace('listenaddr: 127.0.0.1:0\n', `listenaddr: 127.0.0.1:${port}\n`).replace(/prometheus:\n.*\n.*\n/, ''),
    );
    const p = spawnNode('bin/aperture.js', ['--basedir', dir], {}, t);
    const code = await p.exited;
    assert.equal(code, 1, p.output());
    assert.match(
      p.output(),
      new RegExp(`cannot connect to lnd at ${host.replace(/\./g, '\\.')}: .*(ECONNREFUSED|UNAVAILABLE).*\\[L402_ERR_LN_CONNECT_FAILED\\]`),
    );
    assert.doesNotMatch(p.output(), /aperture listening/);
  });

  test('strictverify: the right preimage of an unpaid invoice is challenged until lnd settles it; settled invoices load in batches', async (t) => {
    const fake = await FakeLnd.start();
    const dir = tempBaseDir(t);
    // Five invoices exist before the strict instance starts, two of them settled, one in the last batch.
    const loose = await startAperture(configFrom(apertureYaml(fake, dir, backend), dir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    const early: Awaited<ReturnType<typeof challenge>>[] = [];
    try {
      for (let i = 0; i < 5; i++) early.push(await challenge(loose));
    } finally {
      await loose.close();
    }
    const [first, , , , last] = early as [(typeof early)[0], unknown, unknown, unknown, (typeof early)[0]];
    fake.settle(first.paymentHash);
    fake.settle(last.paymentHash);

    const listsBefore = fake.calls.filter((c) => c === 'ListInvoices').length;
    const aperture = await startAperture(configFrom(apertureYaml(fake, dir, backend, 'strictverify: true\ninvoicebatchsize: 2'), dir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    try {
      // 5 invoices, 2 per call: pages of 2, 2, 1, then an empty page ends the listing; plus the
      // start-up probe (ListInvoices of the newest invoice: the invoice macaroon may not call GetInfo).
      assert.equal(fake.calls.filter((c) => c === 'ListInvoices').length - listsBefore, 5);
      for (const c of [first, last]) {
        assert.equal(
          (await h1(`${aperture.url}/api/x`, { headers: { authorization: authorizationFor(fake, c) } })).status,
          200,
          'settled before start: accepted',
        );
      }
      const unpaidEarly = early[2] as typeof first;
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: authorizationFor(fake, unpaidEarly) } })).status, 402);

      const fresh = await challenge(aperture);
      const auth = authorizationFor(fake, fresh);
      // The preimage is right, but lnd has not been paid.
      const early402 = await h1(`${aperture.url}/api/x`, { headers: { authorization: auth } });
      assert.equal(early402.status, 402, 'unsettled invoice: challenged despite the right preimage');
      const settled = nextSettlement(aperture, fresh.paymentHash);
      fake.settle(fresh.paymentHash);
      await settled;
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: auth } })).status, 200, 'accepted once settled');
    } finally {
      await aperture.close();
      await fake.stop();
    }
  });

  test('reconcile at start: a challenge paid while aperture was down is marked settled at the next start, even just past its expiry', async (t) => {
    const fake = await FakeLnd.start();
    const dir = tempBaseDir(t);
    const yaml = apertureYaml(fake, dir, backend);
    const first = await startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    let paid: Awaited<ReturnType<typeof challenge>>;
    let unpaid: Awaited<ReturnType<typeof challenge>>;
    try {
      paid = await challenge(first);
      unpaid = await challenge(first);
    } finally {
      await first.close();
    }
    fake.settle(paid.paymentHash);

    // Restarted a day later: both invoices (lnd's default expiry, 24 h) expired a minute ago, within
    // the garbage-collection grace (1 h), so the paid one must still be found.
    const clock = new TestClock(Date.now());
    clock.advance(86_400_000 + 60_000);
    const second = await startAperture(configFrom(yaml, dir), { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false });
    try {
      assert.equal(await second.reconciled, 1);
      assert.equal((await ledgerRow(second, paid.paymentHash))?.state, 'settled');
      assert.equal((await ledgerRow(second, paid.paymentHash))?.amountPaidSats, 10);
      assert.equal((await ledgerRow(second, unpaid.paymentHash))?.state, 'expired', 'unpaid: left in the ledger, expired');
      const metrics = await h1(`http://127.0.0.1:${second.addresses.metrics?.port}/metrics`);
      assert.match(metrics.body, /aperture_tokens_paid_total\{service="api"\} 1/);
    } finally {
      await second.close();
      await fake.stop();
    }
  });
});
