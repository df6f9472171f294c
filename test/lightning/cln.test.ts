import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClnInvoicer, ClnPayer } from '../../src/lightning/cln/index.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { FakeClnRest } from '../fixtures/fake-clnrest.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { invoicerOnFake, payerOnFake } from './fake-backend-subjects.js';
import { FAST_BACKOFF, nextSettled } from './invoicer-events.js';
import { payerConformance, payThrough } from './payer.conformance.js';

function connect(fake: FakeClnRest, extra: Partial<Parameters<typeof ClnInvoicer.connect>[0]> = {}): Promise<ClnInvoicer> {
  return ClnInvoicer.connect({ url: fake.url, rune: fake.rune, caCert: fake.caCert, backoff: FAST_BACKOFF, ...extra });
}

function healthChange(ok: boolean): { options: { onHealthChange: (h: { ok: boolean }) => void }; reached: Promise<void> } {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { options: { onHealthChange: (h) => h.ok === ok && resolve() }, reached };
}

invoicerConformance({
  name: 'ClnInvoicer against a fake clnrest (HTTPS, rune)',
  async create() {
    const fake = await FakeClnRest.start();
    return invoicerOnFake(fake, await connect(fake));
  },
});

payerConformance({
  name: 'ClnPayer (pay) against a fake clnrest',
  amountless: 'pays',
  create: () =>
    payerOnFake(
      (payee) => FakeClnRest.start({ payee, feeMsat: 1500n }),
      (fake) => new ClnPayer({ url: fake.url, rune: fake.rune, caCert: fake.caCert }),
    ),
});

payerConformance({
  name: 'ClnPayer (xpay) against a fake clnrest',
  amountless: 'pays',
  create: () =>
    payerOnFake(
      (payee) => FakeClnRest.start({ payee }),
      (fake) => new ClnPayer({ url: fake.url, rune: fake.rune, caCert: fake.caCert, command: 'xpay' }),
    ),
});

describe('ClnInvoicer', () => {
  it('refuses a wrong rune with L402_ERR_LN_AUTH_REFUSED', async () => {
    const fake = await FakeClnRest.start();
    try {
      await assert.rejects(ClnInvoicer.connect({ url: fake.url, rune: 'wrong', caCert: fake.caCert }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_AUTH_REFUSED',
      });
    } finally {
      await fake.server.close();
    }
  });

  it('refuses a server whose certificate is not the given CA, and an unreachable one, with L402_ERR_LN_UNAVAILABLE', async () => {
    const fake = await FakeClnRest.start();
    try {
      await assert.rejects(ClnInvoicer.connect({ url: fake.url, rune: fake.rune }), { code: 'L402_ERR_LN_UNAVAILABLE' });
      await fake.server.stop();
      await assert.rejects(connect(fake), { code: 'L402_ERR_LN_UNAVAILABLE' });
    } finally {
      await fake.server.close();
    }
  });

  it('reports malformed answers as L402_ERR_LN_BAD_RESPONSE', async () => {
    const fake = await FakeClnRest.start();
    const invoicer = await connect(fake);
    try {
      fake.garbage.set('invoice', '<html>proxy error</html>');
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      fake.garbage.set('invoice', JSON.stringify({ bolt11: 'lnbcrt1xyz', payment_hash: 'ab'.repeat(32) }));
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      fake.garbage.set('listinvoices', JSON.stringify({ invoices: [{ payment_hash: 'ab'.repeat(32), status: 'weird' }] }));
      await assert.rejects(invoicer.lookupInvoice('ab'.repeat(32)), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      assert.equal(invoicer.health().ok, true);
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('gives up on a call the node does not answer with L402_ERR_LN_UNAVAILABLE (timeout), and ClnPayer with L402_ERR_PAY_TIMEOUT', async () => {
    const fake = await FakeClnRest.start();
    const invoicer = await connect(fake, { timeoutMs: 200 });
    const payer = new ClnPayer({ url: fake.url, rune: fake.rune, caCert: fake.caCert, timeoutMs: 200 });
    try {
      fake.hang.add('invoice');
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'L402_ERR_LN_UNAVAILABLE');
        assert.match((error as Error).message, /timed out after 200 ms/);
        return true;
      });
      fake.hang.add('listpays');
      const other = fake.node.createInvoice({ amountMsat: 1000n, expirySeconds: 60 });
      await assert.rejects(payer.payInvoice(other.bolt11), { code: 'L402_ERR_PAY_TIMEOUT' });
    } finally {
      await payer.close();
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('reports an expired unpaid invoice as canceled', async () => {
    const fake = await FakeClnRest.start();
    const invoicer = await connect(fake);
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 1, expirySeconds: 1 });
      const entry = fake.node.invoices.get(invoice.paymentHash);
      assert.ok(entry);
      entry.expiresAt -= 5;
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'canceled');
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('goes down with the node, recovers, and delivers what was paid meanwhile from the last pay_index', async () => {
    const fake = await FakeClnRest.start();
    const down = healthChange(false);
    const up = healthChange(true);
    let onHealth = down.options.onHealthChange;
    const invoicer = await connect(fake, { onHealthChange: (h) => onHealth(h) });
    try {
      const before = await invoicer.createInvoice({ amountSats: 5 });
      const settledBefore = nextSettled(invoicer, before.paymentHash);
      fake.node.settle(before.paymentHash);
      await settledBefore;
      const missed = await invoicer.createInvoice({ amountSats: 11 });
      await fake.server.stop();
      await down.reached;
      assert.equal(invoicer.health().ok, false);
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      // Paid while the stream is down, and the invoice is not one this instance tracks as pending:
      fake.node.settle(missed.paymentHash);
      const other = fake.node.createInvoice({ amountMsat: 3000n, expirySeconds: 600 });
      fake.node.settle(other.paymentHash);
      const gotMissed = nextSettled(invoicer, missed.paymentHash);
      const gotOther = nextSettled(invoicer, other.paymentHash);
      onHealth = up.options.onHealthChange;
      await fake.server.start();
      await up.reached;
      assert.equal((await gotMissed).amountPaidSats, 11);
      assert.equal((await gotOther).amountPaidSats, 3);
      assert.equal(invoicer.lastPayIndex, fake.node.payIndex);
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('resumes after a restart from a saved lastPayIndex, and starts at the newest without one', async () => {
    const fake = await FakeClnRest.start();
    try {
      const first = await connect(fake);
      const a = await first.createInvoice({ amountSats: 2 });
      const gotA = nextSettled(first, a.paymentHash);
      fake.node.settle(a.paymentHash);
      await gotA;
      const saved = first.lastPayIndex;
      await first.close();
      // Paid while nothing was running.
      const b = fake.node.createInvoice({ amountMsat: 4000n, expirySeconds: 600 });
      fake.node.settle(b.paymentHash);

      const seen: string[] = [];
      const fresh = await connect(fake);
      fresh.onSettled((s) => seen.push(s.paymentHash));
      assert.equal(fresh.lastPayIndex, fake.node.payIndex, 'no replay of history without a saved index');

      const resumed = await ClnInvoicer.connect({ url: fake.url, rune: fake.rune, caCert: fake.caCert, lastPayIndex: saved });
      assert.equal(resumed.lastPayIndex, fake.node.payIndex);
      // b was delivered while connecting; it is also settled when looked up.
      assert.equal((await resumed.lookupInvoice(b.paymentHash)).state, 'settled');
      await fresh.close();
      await resumed.close();
      assert.deepEqual(seen, []);
    } finally {
      await fake.server.close();
    }
  });

  it('lists settled invoices page by page for strict verification', async () => {
    const fake = await FakeClnRest.start();
    const invoicer = await connect(fake);
    try {
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await invoicer.createInvoice({ amountSats: 1 + i }));
      fake.node.settle(made[1]!.paymentHash);
      fake.node.settle(made[4]!.paymentHash);
      const settled: string[] = [];
      let offset = 0n;
      for (;;) {
        const page = await invoicer.listInvoices(offset, 2);
        settled.push(...page.settledHashes);
        if (page.count === 0) break;
        offset = page.nextOffset;
      }
      assert.deepEqual(settled.sort(), [made[1]!.paymentHash, made[4]!.paymentHash].sort());
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });
});

describe('ClnPayer', () => {
  it('maps CLN pay errors and a wrong rune to coded errors', async () => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakeClnRest.start({ payee: payThrough(payee), feeMsat: 20_000n });
    const payer = new ClnPayer({ url: fake.url, rune: fake.rune, caCert: fake.caCert });
    try {
      const invoice = await payee.createInvoice({ amountSats: 10 });
      await assert.rejects(payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 5 }), {
        name: 'PaymentError',
        code: 'L402_ERR_PAY_NO_ROUTE',
      });
      fake.node.failNext = new NodePayError('failed', 'all routes failed');
      const second = await payee.createInvoice({ amountSats: 10 });
      await assert.rejects(payer.payInvoice(second.paymentRequest, { maxFeeSats: 50 }), { code: 'L402_ERR_PAY_FAILED' });
      const wrong = new ClnPayer({ url: fake.url, rune: 'nope', caCert: fake.caCert });
      await assert.rejects(wrong.payInvoice(second.paymentRequest), { code: 'L402_ERR_PAY_AUTH_REFUSED' });
      await wrong.close();
      fake.garbage.set('listpays', 'not json');
      await assert.rejects(payer.trackPayment(second.paymentHash), { code: 'L402_ERR_PAY_UNAVAILABLE' });
      await fake.server.stop();
      await assert.rejects(payer.payInvoice(second.paymentRequest), { code: 'L402_ERR_PAY_UNAVAILABLE' });
    } finally {
      await payer.close();
      await fake.server.close();
    }
  });
});
