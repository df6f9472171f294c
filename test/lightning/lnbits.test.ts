import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendHealth, InvoiceStatus, Invoicer } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { LnbitsInvoicer, LnbitsPayer } from '../../src/lightning/lnbits/index.js';
import { FakeLnbits } from '../fixtures/fake-lnbits.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { TestClock } from '../fixtures/test-clock.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payThrough, receivedBy } from './payer.conformance.js';

const FAST = { initialMs: 20, maxMs: 100 };

function nextSettled(invoicer: Invoicer, hash: string): Promise<InvoiceStatus> {
  return new Promise((resolve) => {
    const off = invoicer.onSettled((s) => {
      if (s.paymentHash !== hash) return;
      off();
      resolve(s);
    });
  });
}

/** Health changes as a queue of promises. */
function healthWatch(): { onHealthChange: (h: BackendHealth) => void; next: (ok: boolean) => Promise<void> } {
  const waiters: Array<{ ok: boolean; resolve: () => void }> = [];
  return {
    onHealthChange: (h) => {
      for (const w of [...waiters])
        if (w.ok === h.ok) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    },
    next: (ok) => new Promise<void>((resolve) => waiters.push({ ok, resolve })),
  };
}

invoicerConformance({
  name: 'LnbitsInvoicer against a fake LNbits (HTTP + WebSocket)',
  async create() {
    const fake = await FakeLnbits.start();
    const invoicer = await LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey, backoff: FAST });
    return {
      invoicer,
      settle: async (invoice) => void fake.node.settle(invoice.paymentHash),
      cleanup: async () => {
        await invoicer.close();
        await fake.server.close();
      },
    };
  },
});

payerConformance({
  name: 'LnbitsPayer against a fake LNbits',
  amountless: 'refuses',
  async create() {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakeLnbits.start({ payee: payThrough(payee), feeMsat: 1000n });
    const payer = new LnbitsPayer({ url: fake.url, adminKey: fake.adminKey, pollIntervalMs: 10 });
    return {
      payer,
      issue: (amountSats) => payee.createInvoice({ amountSats }),
      received: (hash) => receivedBy(payee, hash),
      cleanup: async () => {
        await payer.close();
        await fake.server.close();
      },
    };
  },
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

  it('loses the WebSocket, answers 503 meanwhile, and reconciles a payment missed while it was down', async () => {
    const fake = await FakeLnbits.start();
    const health = healthWatch();
    const invoicer = await LnbitsInvoicer.connect({
      url: fake.url,
      invoiceKey: fake.invoiceKey,
      backoff: FAST,
      onHealthChange: health.onHealthChange,
    });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 9 });
      const down = health.next(false);
      await fake.server.stop();
      await down;
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      fake.node.settle(invoice.paymentHash);
      const settled = nextSettled(invoicer, invoice.paymentHash);
      const up = health.next(true);
      await fake.server.start();
      await up;
      const status = await settled;
      assert.equal(status.amountPaidSats, 9);
      assert.equal(typeof status.settledAt, 'number');
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('reports an expired unpaid invoice as canceled', async () => {
    const fake = await FakeLnbits.start();
    const clock = new TestClock(Date.now());
    const invoicer = await LnbitsInvoicer.connect({ url: fake.url, invoiceKey: fake.invoiceKey, clock });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 1, expirySeconds: 60 });
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      clock.advance(61_000);
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'canceled');
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
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
