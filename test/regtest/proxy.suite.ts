// Our aperture in front of the seller's real lnd, paid by the buyer's real lnd:
// the 402 carries a real invoice, the preimage comes from the real payment, the
// settlement reaches the ledger through SubscribeInvoices, missed settlements
// are reconciled (after aperture was down, after lnd was cut off), strictverify
// asks lnd, and lnd crashing under traffic gives 503 for new challenges while
// paid tokens keep working. aperture holds only the seller's invoice macaroon.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import lightning from 'lightning';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { LndPayer } from '../../src/lightning/lnd/index.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { TcpForwarder } from '../fixtures/tcp-forwarder.js';
import { challenge, ledgerRow, nextHealth, nextSettlement, settledInLedger, type Challenge } from '../e2e/lnd-support.js';
import { configFrom, quiet, tempBaseDir } from '../e2e/support.js';
import { h1, startBackend } from '../proxy/support.js';
import type { NetworkRef } from './lightning.suite.js';
import type { LndNode } from './network.js';

type Backend = Awaited<ReturnType<typeof startBackend>>;

/** A macdir holding nothing but the seller's invoice macaroon. */
function invoiceMacDir(seller: LndNode, dir: string): string {
  const macDir = join(dir, 'macaroons');
  mkdirSync(macDir, { recursive: true });
  copyFileSync(join(seller.macaroonDir, 'invoice.macaroon'), join(macDir, 'invoice.macaroon'));
  return macDir;
}

function yamlFor(seller: LndNode, dir: string, backend: Backend, { lndHost = seller.host, extra = '' } = {}): string {
  return `
listenaddr: 127.0.0.1:0
insecure: true
${extra}
authenticator:
  lndhost: ${lndHost}
  tlspath: ${seller.tlsCertPath}
  macdir: ${invoiceMacDir(seller, dir)}
  network: regtest
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`;
}

const sha256Hex = (hex: string): string => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');

/**
 * Registers the suites.
 * @param ref - filled in by the group's `before`
 */
export function proxySuites(ref: NetworkRef): void {
  describe('aperture in front of a real lnd', () => {
    let backend: Backend;
    let payer: LndPayer;
    const dirs: string[] = [];
    const baseDir = (): string => {
      const dir = tempBaseDir('aperture-regtest-');
      dirs.push(dir);
      return dir;
    };
    const start = (yaml: string, dir: string): Promise<RunningAperture> =>
      startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false, challengeRateLimit: false });
    const pay = async (c: Challenge): Promise<string> => {
      const paid = await payer.payInvoice(c.invoice, { maxFeeSats: 10, timeoutMs: 30_000 });
      assert.equal(sha256Hex(paid.preimage), c.paymentHash, 'the preimage of the real payment opens the hash');
      return `L402 ${c.macaroon}:${paid.preimage}`;
    };

    before(async () => {
      backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
      const { buyer } = ref.network;
      payer = new LndPayer({ host: buyer.host, tlsCert: buyer.tlsCert, macaroon: buyer.adminMacaroon });
    });
    after(async () => {
      await payer.close();
      await backend.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it("402 with the seller's real invoice, paid by the buyer, the token accepted, the ledger settled", async () => {
      const { seller } = ref.network;
      const dir = baseDir();
      const aperture = await start(yamlFor(seller, dir, backend), dir);
      try {
        const c = await challenge(aperture);
        const decoded = decodeInvoice(c.invoice);
        assert.equal(decoded.network, 'regtest');
        assert.equal(decoded.amountMsat, 10_000n);
        assert.equal(decoded.payee, seller.pubkey, "issued by the seller's node");
        const onNode = await lightning.getInvoice({ lnd: seller.lnd, id: c.paymentHash });
        assert.equal(onNode.is_confirmed, false);
        assert.equal((await ledgerRow(aperture, c.paymentHash))?.state, 'pending');

        const settled = nextSettlement(aperture, c.paymentHash);
        const authorization = await pay(c);
        const event = await settled;
        assert.equal(event.amountPaidSats, 10);
        const row = await settledInLedger(aperture, c.paymentHash);
        assert.equal(row.priceSats, 10);
        assert.equal(row.service, 'api');

        const ok = await h1(`${aperture.url}/api/quote`, { headers: { authorization } });
        assert.equal(ok.status, 200);
        assert.equal(ok.body, 'ok /api/quote');
        // The same token again, and a wrong preimage refused.
        assert.equal((await h1(`${aperture.url}/api/again`, { headers: { authorization } })).status, 200);
        const wrong = `L402 ${c.macaroon}:${'00'.repeat(32)}`;
        assert.notEqual((await h1(`${aperture.url}/api/quote`, { headers: { authorization: wrong } })).status, 200);
      } finally {
        await aperture.close();
      }
    });

    it('paid while aperture was down: the start-up reconciliation marks it settled', async () => {
      const { seller } = ref.network;
      const dir = baseDir();
      const yaml = yamlFor(seller, dir, backend);
      const first = await start(yaml, dir);
      let c: Challenge;
      try {
        c = await challenge(first);
      } finally {
        await first.close();
      }
      const authorization = await pay(c);
      const second = await start(yaml, dir);
      try {
        assert.ok((await second.reconciled) >= 1, 'reconciled at least this payment');
        assert.equal((await ledgerRow(second, c.paymentHash))?.state, 'settled');
        assert.equal((await h1(`${second.url}/api/x`, { headers: { authorization } })).status, 200);
      } finally {
        await second.close();
      }
    });

    it('paid while aperture was cut off from lnd: found on reconnect, without a restart', async () => {
      const { seller } = ref.network;
      const forwarder = new TcpForwarder(Number(seller.host.split(':')[1]));
      const port = await forwarder.listen();
      const dir = baseDir();
      const aperture = await start(yamlFor(seller, dir, backend, { lndHost: `127.0.0.1:${port}` }), dir);
      try {
        const c = await challenge(aperture);
        const lost = nextHealth(aperture, false);
        forwarder.cut();
        await lost;
        // The seller is up and gets paid; aperture hears nothing of it.
        const authorization = await pay(c);
        assert.equal((await ledgerRow(aperture, c.paymentHash))?.state, 'pending');
        const settled = nextSettlement(aperture, c.paymentHash);
        const back = nextHealth(aperture, true);
        forwarder.restore();
        await back;
        await settled;
        await settledInLedger(aperture, c.paymentHash);
        assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status, 200);
      } finally {
        await aperture.close();
        await forwarder.close();
      }
    });

    it('strictverify: a right preimage of an unpaid invoice is refused until lnd has it settled', async () => {
      const { seller } = ref.network;
      const dir = baseDir();
      const strict = await start(yamlFor(seller, dir, backend, { extra: 'strictverify: true' }), dir);
      const laxDir = baseDir();
      try {
        const c = await challenge(strict);
        // The seller's node knows the preimage before anyone pays (an insider, a leaked log).
        const { secret } = await lightning.getInvoice({ lnd: seller.lnd, id: c.paymentHash });
        const unpaid = `L402 ${c.macaroon}:${secret}`;
        const refused = await h1(`${strict.url}/api/x`, { headers: { authorization: unpaid } });
        assert.notEqual(refused.status, 200, 'strictverify asks lnd whether it was paid');
        const settled = nextSettlement(strict, c.paymentHash);
        const authorization = await pay(c);
        assert.equal(authorization, unpaid);
        await settled;
        assert.equal((await h1(`${strict.url}/api/x`, { headers: { authorization } })).status, 200);
      } finally {
        await strict.close();
      }
      // Without strictverify the preimage alone is the proof (as in the reference).
      const lax = await start(yamlFor(seller, laxDir, backend), laxDir);
      try {
        const c = await challenge(lax);
        const { secret } = await lightning.getInvoice({ lnd: seller.lnd, id: c.paymentHash });
        assert.equal((await h1(`${lax.url}/api/x`, { headers: { authorization: `L402 ${c.macaroon}:${secret}` } })).status, 200);
      } finally {
        await lax.close();
      }
    });

    it('lnd killed under traffic: paid tokens keep working, challenges 503, then 402 again once lnd is back', async () => {
      const { seller } = ref.network;
      const dir = baseDir();
      const aperture = await start(yamlFor(seller, dir, backend), dir);
      try {
        const authorization = await pay(await challenge(aperture));
        const seen = { paid: new Map<number, number>(), anonymous: new Map<number, number>() };
        let running = true;
        const loop = async (kind: 'paid' | 'anonymous'): Promise<void> => {
          // Bounded: stops when the test says so, or after 5000 requests.
          for (let i = 0; running && i < 5000; i++) {
            const res = await h1(`${aperture.url}/api/load`, kind === 'paid' ? { headers: { authorization } } : {});
            seen[kind].set(res.status, (seen[kind].get(res.status) ?? 0) + 1);
            await new Promise((resolve) => setImmediate(resolve));
          }
        };
        const traffic = [loop('paid'), loop('paid'), loop('anonymous')];

        const lost = nextHealth(aperture, false);
        await seller.kill();
        await lost;
        const down = await h1(`${aperture.url}/api/x`);
        assert.equal(down.status, 503);
        assert.equal(down.headers['www-authenticate'], undefined);
        assert.equal(
          (await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status,
          200,
          'a paid token works while lnd is down',
        );

        const back = nextHealth(aperture, true);
        await seller.start();
        await back;
        assert.equal((await h1(`${aperture.url}/api/x`)).status, 402);
        running = false;
        await Promise.all(traffic);

        assert.deepEqual([...seen.paid.keys()], [200], `paid requests: ${JSON.stringify([...seen.paid])}`);
        for (const status of seen.anonymous.keys()) assert.ok(status === 402 || status === 503, `anonymous request answered ${status}`);
        // And a payment after the restart goes through (the channel comes back with the peer).
        await ref.network.waitChannelActive();
        const c = await challenge(aperture);
        const settled = nextSettlement(aperture, c.paymentHash);
        const again = await pay(c);
        await settled;
        assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization: again } })).status, 200);
      } finally {
        await aperture.close();
        if (!seller.alive()) await seller.start();
      }
    });

    it('a macaroon that may read but not create invoices: challenges answer 503 L402_ERR_LN_RPC_FAILED, paid requests unaffected', async () => {
      const { seller } = ref.network;
      const dir = baseDir();
      const yaml = yamlFor(seller, dir, backend);
      // The read-only macaroon where the invoice macaroon should be: lnd lets it connect and
      // follow invoices (GetInfo, SubscribeInvoices), and refuses AddInvoice.
      copyFileSync(join(seller.macaroonDir, 'readonly.macaroon'), join(dir, 'macaroons', 'invoice.macaroon'));
      const aperture = await start(yaml, dir);
      try {
        const res = await h1(`${aperture.url}/api/x`);
        assert.equal(res.status, 503);
        assert.equal(res.body, 'service unavailable (L402_ERR_LN_RPC_FAILED)\n');
        assert.equal(res.headers['www-authenticate'], undefined);
        assert.equal(aperture.invoicer?.health().ok, true, 'the connection itself is fine');
      } finally {
        await aperture.close();
      }
    });
  });
}
