import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import lightning from 'lightning';
import type { InvoiceStatus } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { LnServiceInvoicer, LnServicePayer, type LnServiceFunctions } from '../../src/lightning/ln-service/index.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payThrough, receivedBy } from './payer.conformance.js';

function lndFor(fake: FakeLnd): object {
  return lightning.authenticatedLndGrpc({
    cert: Buffer.from(fake.cert).toString('base64'),
    macaroon: fake.macaroon.toString('hex'),
    socket: fake.host,
  }).lnd;
}

invoicerConformance({
  name: 'LnServiceInvoicer (lightning package, imported dynamically) against the fake lnd',
  async create() {
    const fake = await FakeLnd.start();
    const invoicer = await LnServiceInvoicer.create({ lnd: lndFor(fake) });
    return {
      invoicer,
      settle: async (invoice) => fake.settle(invoice.paymentHash),
      cleanup: async () => {
        await invoicer.close();
        await fake.stop();
      },
    };
  },
});

payerConformance({
  name: 'LnServicePayer (lightning package, injected) against the fake lnd',
  amountless: 'pays',
  async create() {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakeLnd.start({ payee: payThrough(payee), feeMsat: 2000n });
    const payer = await LnServicePayer.create({ lnd: lndFor(fake), functions: lightning as unknown as LnServiceFunctions });
    return {
      payer,
      issue: (amountSats) => payee.createInvoice({ amountSats }),
      received: (hash) => receivedBy(payee, hash),
      cleanup: () => fake.stop(),
    };
  },
});

describe('LnServiceInvoicer', () => {
  it('goes not-ok when the node is lost and picks a settlement up after it returns', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LnServiceInvoicer.create({ lnd: lndFor(fake), restartDelayMs: 20 });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 11 });
      await fake.stop();
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      assert.equal(invoicer.health().ok, false);
      fake.settle(invoice.paymentHash);
      const settled = new Promise<InvoiceStatus>((resolve) => invoicer.onSettled(resolve));
      await fake.restart();
      // Found by the adapter's own lookups of pending invoices, which also detect recovery.
      const status = await settled;
      assert.equal(status.paymentHash, invoice.paymentHash);
      assert.equal(status.amountPaidSats, 11);
      assert.equal(invoicer.health().ok, true);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });
});

describe('LnServicePayer and amountless invoices', () => {
  it('pays an amountless invoice the amountSats given (as tokens), and refuses amountSats for an invoice with an amount', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LnServiceInvoicer.create({ lnd: lndFor(fake) });
    const payer = await LnServicePayer.create({ lnd: lndFor(fake), functions: lightning as unknown as LnServiceFunctions });
    try {
      const open = await invoicer.createInvoice({ amountSats: 0 });
      const paid = await payer.payInvoice(open.paymentRequest, { amountSats: 7 });
      assert.equal(paid.paymentHash, open.paymentHash);
      assert.equal(String(fake.lastPaymentRequest?.['amt']), '7');
      const priced = await invoicer.createInvoice({ amountSats: 5 });
      await assert.rejects(payer.payInvoice(priced.paymentRequest, { amountSats: 5 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
      await assert.rejects(payer.payInvoice(open.paymentRequest, { amountSats: -1 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });
});
