import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { LnbitsInvoicer, LnbitsPayer } from '../../src/lightning/lnbits/index.js';
import { FakeLnbits } from '../fixtures/fake-lnbits.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { invoicerOnFake, payerOnFake } from './fake-backend-subjects.js';
import { FAST_BACKOFF } from './invoicer-events.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payThrough } from './payer.conformance.js';
import { webSocketInvoicerCases } from './web-socket-invoicer.cases.js';

invoicerConformance({
  name: 'LnbitsInvoicer against a fake LNbits (HTTP + WebSocket)',
  async create() {
    const fake = await FakeLnbits.start();
    return invoicerOnFake(fake, await LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey, backoff: FAST_BACKOFF }));
  },
});

payerConformance({
  name: 'LnbitsPayer against a fake LNbits',
  amountless: 'refuses',
  create: () =>
    payerOnFake(
      (payee) => FakeLnbits.start({ payee, feeMsat: 1000n }),
      (fake) => new LnbitsPayer({ url: fake.url, adminKey: fake.adminKey, pollIntervalMs: 10 }),
    ),
});

describe('LnbitsInvoicer', () => {
  it('refuses a wrong key with L402_ERR_LN_AUTH_REFUSED and an unreachable server with L402_ERR_LN_UNAVAILABLE', async () => {
    const fake = await FakeLnbits.start();
    try {
      await assert.rejects(LnbitsInvoicer.connect({ url: fake.url, invoiceKey: 'wrong' }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_AUTH_REFUSED',
      });
      await fake.server.stop();
      await assert.rejects(LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey }), { code: 'L402_ERR_LN_UNAVAILABLE' });
    } finally {
      await fake.server.close();
    }
  });

  it('reports malformed answers as L402_ERR_LN_BAD_RESPONSE', async () => {
    const fake = await FakeLnbits.start();
    const invoicer = await LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey });
    try {
      fake.garbage.set('/api/v1/payments', 'Internal error page');
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      fake.garbage.set('/api/v1/payments', JSON.stringify({ payment_hash: 'cd'.repeat(32), bolt11: 'lnbcrt1bad' }));
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      const invoice = await invoicer.createInvoice({ amountSats: 1 });
      fake.garbage.set(`/api/v1/payments/${invoice.paymentHash}`, JSON.stringify({ paid: 'maybe' }));
      await assert.rejects(invoicer.lookupInvoice(invoice.paymentHash), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      assert.equal(invoicer.health().ok, true);
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  webSocketInvoicerCases({
    stream: 'the WebSocket',
    start: () => FakeLnbits.start(),
    connect: (fake, options) => LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey, ...options }),
  });
});

describe('LnbitsPayer', () => {
  it('needs the admin key, and maps failures to coded errors', async () => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakeLnbits.start({ payee: payThrough(payee) });
    const withInvoiceKey = new LnbitsPayer({ url: fake.url, adminKey: fake.invoiceKey });
    const payer = new LnbitsPayer({ url: fake.url, adminKey: fake.adminKey, pollIntervalMs: 10 });
    try {
      const invoice = await payee.createInvoice({ amountSats: 3 });
      await assert.rejects(withInvoiceKey.payInvoice(invoice.paymentRequest), { name: 'PaymentError', code: 'L402_ERR_PAY_AUTH_REFUSED' });
      fake.node.failNext = new NodePayError('no-route', 'no route');
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_NO_ROUTE' });
      const other = await payee.createInvoice({ amountSats: 3 });
      fake.node.failNext = new NodePayError('failed', 'boom');
      await assert.rejects(payer.payInvoice(other.paymentRequest), { code: 'L402_ERR_PAY_FAILED' });
      fake.garbage.set(`/api/v1/payments/${other.paymentHash}`, '<html>');
      await assert.rejects(payer.trackPayment(other.paymentHash), { code: 'L402_ERR_PAY_UNAVAILABLE' });
      await fake.server.stop();
      await assert.rejects(payer.payInvoice(other.paymentRequest), { code: 'L402_ERR_PAY_UNAVAILABLE' });
    } finally {
      await withInvoiceKey.close();
      await payer.close();
      await fake.server.close();
    }
  });
});
