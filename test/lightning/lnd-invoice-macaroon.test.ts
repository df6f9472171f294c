// LndInvoicer with lnd's invoice.macaroon, the macaroon aperture is given
// (`macdir`): lnd refuses it GetInfo ("permission denied"), so the start-up
// probe and the reconnect probe use ListInvoices, and the network is read from
// lnd's invoices. Found against a real lnd (test/regtest/); the fake lnd scopes
// its invoiceMacaroon the same way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendHealth } from '../../src/core/types.js';
import { LndInvoicer } from '../../src/lightning/lnd/index.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';

function nextHealth(invoicer: LndInvoicer, ok: boolean): Promise<BackendHealth> {
  return new Promise((resolve) => {
    const off = invoicer.onHealthChange((health) => {
      if (health.ok !== ok) return;
      off();
      resolve(health);
    });
  });
}

describe('LndInvoicer with an invoice macaroon', () => {
  it('connects although GetInfo is refused, creates, looks up and hears of settled invoices', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect({ host: fake.host, tlsCert: fake.cert, macaroon: fake.invoiceMacaroon, network: 'regtest' });
    try {
      assert.ok(fake.calls.includes('GetInfo'), 'GetInfo was tried first');
      assert.equal(invoicer.info.network, undefined, 'no invoice yet to tell the network');
      const invoice = await invoicer.createInvoice({ amountSats: 5 });
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      const settled = new Promise<string>((resolve) => invoicer.onSettled((s) => resolve(s.paymentHash)));
      fake.settle(invoice.paymentHash);
      assert.equal(await settled, invoice.paymentHash);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('reads the node and network from the newest invoice', async () => {
    const fake = await FakeLnd.start();
    const admin = await LndInvoicer.connect({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    await admin.createInvoice({ amountSats: 1 });
    await admin.close();
    const invoicer = await LndInvoicer.connect({ host: fake.host, tlsCert: fake.cert, macaroon: fake.invoiceMacaroon, network: 'regtest' });
    try {
      assert.equal(invoicer.info.network, 'regtest');
      assert.equal(invoicer.info.pubkey, fake.pubkey);
      assert.equal(invoicer.info.alias, '');
      assert.match(invoicer.health().detail ?? '', /^connected to lnd [0-9a-f]{66} at 127\.0\.0\.1:\d+$/);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('refuses an lnd on another network: at start when it has invoices, else on the first invoice', async () => {
    const fake = await FakeLnd.start({ network: 'testnet' });
    try {
      const invoicer = await LndInvoicer.connect({
        host: fake.host,
        tlsCert: fake.cert,
        macaroon: fake.invoiceMacaroon,
        network: 'regtest',
      });
      try {
        await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), {
          code: 'L402_ERR_CONFIG_INVALID',
          message: /testnet.*not regtest/,
        });
      } finally {
        await invoicer.close();
      }
      await assert.rejects(
        LndInvoicer.connect({ host: fake.host, tlsCert: fake.cert, macaroon: fake.invoiceMacaroon, network: 'regtest' }),
        {
          code: 'L402_ERR_CONFIG_INVALID',
          message: /is on testnet, not regtest/,
        },
      );
    } finally {
      await fake.stop();
    }
  });

  it('reconnects after lnd comes back', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect({
      host: fake.host,
      tlsCert: fake.cert,
      macaroon: fake.invoiceMacaroon,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    try {
      const lost = nextHealth(invoicer, false);
      await fake.stop();
      await lost;
      const back = nextHealth(invoicer, true);
      await fake.restart();
      await back;
      assert.equal((await invoicer.lookupInvoice((await invoicer.createInvoice({ amountSats: 2 })).paymentHash)).state, 'open');
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('still refuses a macaroon lnd does not know', async () => {
    const fake = await FakeLnd.start();
    try {
      await assert.rejects(LndInvoicer.connect({ host: fake.host, tlsCert: fake.cert, macaroon: fake.foreignMacaroon() }), {
        code: 'L402_ERR_LN_CONNECT_FAILED',
        message: /verification failed/,
      });
    } finally {
      await fake.stop();
    }
  });
});
