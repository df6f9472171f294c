import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { PhoenixdInvoicer, PhoenixdPayer } from '../../src/lightning/phoenixd/index.js';
import { FakePhoenixd } from '../fixtures/fake-phoenixd.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { invoicerOnFake, payerOnFake } from './fake-backend-subjects.js';
import { FAST_BACKOFF } from './invoicer-events.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payThrough } from './payer.conformance.js';
import { webSocketInvoicerCases } from './web-socket-invoicer.cases.js';

invoicerConformance({
  name: 'PhoenixdInvoicer (limited-access password) against a fake phoenixd',
  async create() {
    const fake = await FakePhoenixd.start();
    return invoicerOnFake(fake, await PhoenixdInvoicer.connect({ url: fake.url, password: fake.limitedPassword, backoff: FAST_BACKOFF }));
  },
});

payerConformance({
  name: 'PhoenixdPayer against a fake phoenixd',
  amountless: 'pays',
  create: () =>
    payerOnFake(
      (payee) => FakePhoenixd.start({ payee, feeMsat: 2000n }),
      (fake) => new PhoenixdPayer({ url: fake.url, password: fake.password }),
    ),
});

describe('PhoenixdInvoicer', () => {
  it('refuses a wrong password with L402_ERR_LN_AUTH_REFUSED and an unreachable server with L402_ERR_LN_UNAVAILABLE', async () => {
    const fake = await FakePhoenixd.start();
    try {
      await assert.rejects(PhoenixdInvoicer.connect({ url: fake.url, password: 'wrong' }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_AUTH_REFUSED',
      });
      await fake.server.stop();
      await assert.rejects(PhoenixdInvoicer.connect({ url: fake.url, password: fake.password }), { code: 'L402_ERR_LN_UNAVAILABLE' });
    } finally {
      await fake.server.close();
    }
  });

  it('reports malformed answers as L402_ERR_LN_BAD_RESPONSE', async () => {
    const fake = await FakePhoenixd.start();
    const invoicer = await PhoenixdInvoicer.connect({ url: fake.url, password: fake.password });
    try {
      fake.garbage.set('/createinvoice', 'oops');
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      const other = fake.node.createInvoice({ amountMsat: 5000n, expirySeconds: 60 });
      fake.garbage.set('/createinvoice', JSON.stringify({ amountSat: 1, paymentHash: 'ab'.repeat(32), serialized: other.bolt11 }));
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      fake.garbage.set(`/payments/incoming/${other.paymentHash}`, JSON.stringify({ paymentHash: other.paymentHash }));
      await assert.rejects(invoicer.lookupInvoice(other.paymentHash), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      assert.equal(invoicer.health().ok, true);
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  webSocketInvoicerCases({
    stream: '/websocket',
    start: () => FakePhoenixd.start(),
    connect: (fake, options) => PhoenixdInvoicer.connect({ url: fake.url, password: fake.password, ...options }),
  });
});

describe('PhoenixdPayer', () => {
  it('cannot pay with the limited password, and maps failures to coded errors', async () => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakePhoenixd.start({ payee: payThrough(payee) });
    const limited = new PhoenixdPayer({ url: fake.url, password: fake.limitedPassword });
    const payer = new PhoenixdPayer({ url: fake.url, password: fake.password });
    try {
      const invoice = await payee.createInvoice({ amountSats: 3 });
      await assert.rejects(limited.payInvoice(invoice.paymentRequest), { name: 'PaymentError', code: 'L402_ERR_PAY_AUTH_REFUSED' });
      fake.node.failNext = new NodePayError('no-route', 'no route to the destination');
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_NO_ROUTE' });
      const other = await payee.createInvoice({ amountSats: 3 });
      fake.node.failNext = new NodePayError('failed', 'boom');
      await assert.rejects(payer.payInvoice(other.paymentRequest), { code: 'L402_ERR_PAY_FAILED' });
      fake.garbage.set('/payinvoice', JSON.stringify({ paymentHash: other.paymentHash }));
      const third = await payee.createInvoice({ amountSats: 3 });
      await assert.rejects(payer.payInvoice(third.paymentRequest), { code: 'L402_ERR_PAY_UNAVAILABLE' });
      await fake.server.stop();
      await assert.rejects(payer.payInvoice(third.paymentRequest), { code: 'L402_ERR_PAY_UNAVAILABLE' });
    } finally {
      await limited.close();
      await payer.close();
      await fake.server.close();
    }
  });
});
