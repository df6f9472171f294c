import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendHealth, InvoiceStatus, Invoicer } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { PhoenixdInvoicer, PhoenixdPayer } from '../../src/lightning/phoenixd/index.js';
import { FakePhoenixd } from '../fixtures/fake-phoenixd.js';
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
  name: 'PhoenixdInvoicer (limited-access password) against a fake phoenixd',
  async create() {
    const fake = await FakePhoenixd.start();
    const invoicer = await PhoenixdInvoicer.connect({ url: fake.url, password: fake.limitedPassword, backoff: FAST });
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
  name: 'PhoenixdPayer against a fake phoenixd',
  amountless: 'pays',
  async create() {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakePhoenixd.start({ payee: payThrough(payee), feeMsat: 2000n });
    const payer = new PhoenixdPayer({ url: fake.url, password: fake.password });
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

  it('loses /websocket, answers 503 meanwhile, and reconciles a payment missed while it was down', async () => {
    const fake = await FakePhoenixd.start();
    const health = healthWatch();
    const invoicer = await PhoenixdInvoicer.connect({
      url: fake.url,
      password: fake.password,
      backoff: FAST,
      onHealthChange: health.onHealthChange,
    });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 12 });
      const down = health.next(false);
      await fake.server.stop();
      await down;
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      fake.node.settle(invoice.paymentHash);
      const settled = nextSettled(invoicer, invoice.paymentHash);
      const up = health.next(true);
      await fake.server.start();
      await up;
      assert.equal((await settled).amountPaidSats, 12);
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('reports an expired unpaid invoice as canceled', async () => {
    const fake = await FakePhoenixd.start();
    const clock = new TestClock(Date.now());
    const invoicer = await PhoenixdInvoicer.connect({ url: fake.url, password: fake.password, clock });
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
