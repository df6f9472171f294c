import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import lightning from 'lightning';
import { PaymentError } from '../../src/core/errors.js';
import type { BackendHealth, InvoiceStatus } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { LndInvoicer, LndPayer, SettledInvoiceIndex, type LndInvoicerOptions } from '../../src/lightning/lnd/index.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payerSubject, payThrough } from './payer.conformance.js';

function optionsFor(fake: FakeLnd, extra: Partial<LndInvoicerOptions> = {}): LndInvoicerOptions {
  return { host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon, backoff: { initialMs: 20, maxMs: 200 }, ...extra };
}

function nextHealth(invoicer: LndInvoicer, ok: boolean): Promise<BackendHealth> {
  return new Promise((resolve) => {
    const off = invoicer.onHealthChange((health) => {
      if (health.ok !== ok) return;
      off();
      resolve(health);
    });
  });
}

function nextSettlement(invoicer: LndInvoicer, hash: string): Promise<InvoiceStatus> {
  return new Promise((resolve) => {
    const off = invoicer.onSettled((status) => {
      if (status.paymentHash !== hash) return;
      off();
      resolve(status);
    });
  });
}

invoicerConformance({
  name: 'LndInvoicer against the fake lnd',
  async create() {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake, { network: 'regtest' }));
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
  name: 'LndPayer against the fake lnd (paying a dev node)',
  amountless: 'pays',
  async create() {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const fake = await FakeLnd.start({ payee: payThrough(payee), feeMsat: 1000n });
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    return payerSubject(payer, payee, () => fake.stop());
  },
});

describe('LndInvoicer start-up', () => {
  it('fails with L402_ERR_LN_CONNECT_FAILED naming host and cause when lnd is unreachable', async () => {
    const fake = await FakeLnd.start();
    const options = optionsFor(fake);
    await fake.stop();
    await assert.rejects(LndInvoicer.connect({ ...options, connectTimeoutMs: 5000 }), (error: unknown) => {
      const e = error as { code: string; message: string };
      assert.equal(e.code, 'L402_ERR_LN_CONNECT_FAILED');
      assert.ok(e.message.includes(fake.host), e.message);
      assert.match(e.message, /UNAVAILABLE|ECONNREFUSED/);
      return true;
    });
  });

  it("refuses a macaroon lnd does not accept, with lnd's reason", async () => {
    const fake = await FakeLnd.start();
    try {
      await assert.rejects(LndInvoicer.connect(optionsFor(fake, { macaroon: fake.foreignMacaroon() })), {
        code: 'L402_ERR_LN_CONNECT_FAILED',
        message: /verification failed/,
      });
    } finally {
      await fake.stop();
    }
  });

  it('verifies the TLS certificate: another certificate is refused', async () => {
    const fake = await FakeLnd.start();
    const other = await FakeLnd.start();
    try {
      await assert.rejects(LndInvoicer.connect(optionsFor(fake, { tlsCert: other.cert })), {
        code: 'L402_ERR_LN_CONNECT_FAILED',
        message: /UNAVAILABLE/,
      });
    } finally {
      await fake.stop();
      await other.stop();
    }
  });

  it('checks the server name given in serverName against the certificate', async () => {
    const fake = await FakeLnd.start();
    try {
      const good = await LndInvoicer.connect(optionsFor(fake, { serverName: 'fake-lnd' }));
      assert.equal(good.info.pubkey, fake.pubkey);
      await good.close();
      await assert.rejects(LndInvoicer.connect(optionsFor(fake, { serverName: 'not-in-cert.example' })), {
        code: 'L402_ERR_LN_CONNECT_FAILED',
      });
    } finally {
      await fake.stop();
    }
  });

  it('reads the certificate and macaroon from files, and names a missing one', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'lnd-creds-'));
    const fake = await FakeLnd.start();
    try {
      writeFileSync(join(dir, 'tls.cert'), fake.cert);
      writeFileSync(join(dir, 'invoice.macaroon'), fake.macaroon);
      const invoicer = await LndInvoicer.connect({
        host: fake.host,
        tlsCertPath: join(dir, 'tls.cert'),
        macaroonPath: join(dir, 'invoice.macaroon'),
      });
      assert.equal(invoicer.health().ok, true);
      await invoicer.close();
      await assert.rejects(
        LndInvoicer.connect({ host: fake.host, tlsCertPath: join(dir, 'tls.cert'), macaroonPath: join(dir, 'missing.macaroon') }),
        { code: 'L402_ERR_LN_CREDENTIALS', message: /missing\.macaroon/ },
      );
    } finally {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an lnd on another network than configured', async () => {
    const fake = await FakeLnd.start({ network: 'testnet' });
    try {
      await assert.rejects(LndInvoicer.connect(optionsFor(fake, { network: 'regtest' })), {
        code: 'L402_ERR_CONFIG_INVALID',
        message: /testnet/,
      });
      const ok = await LndInvoicer.connect(optionsFor(fake, { network: 'testnet' }));
      assert.equal(ok.info.network, 'testnet');
      await ok.close();
    } finally {
      await fake.stop();
    }
  });
});

describe('LndInvoicer when lnd goes away', () => {
  it('answers 503 L402_ERR_LN_UNAVAILABLE, recovers on the same port, and delivers a settlement missed meanwhile', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 100 });
      const lost = nextHealth(invoicer, false);
      await fake.stop();
      const down = await lost;
      assert.match(down.detail ?? '', new RegExp(fake.host));
      assert.equal(invoicer.health().ok, false);
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_UNAVAILABLE',
        status: 503,
      });
      // Paid while we were away: no subscriber saw it.
      fake.settle(invoice.paymentHash);
      const settled = nextSettlement(invoicer, invoice.paymentHash);
      const back = nextHealth(invoicer, true);
      await fake.restart();
      await back;
      const status = await settled;
      assert.equal(status.state, 'settled');
      assert.equal(status.amountPaidSats, 100);
      const again = await invoicer.createInvoice({ amountSats: 2 });
      assert.equal((await invoicer.lookupInvoice(again.paymentHash)).state, 'open');
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('resumes the subscription from the last settle index after a dropped connection', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const first = await invoicer.createInvoice({ amountSats: 1 });
      const firstSettled = nextSettlement(invoicer, first.paymentHash);
      fake.settle(first.paymentHash);
      await firstSettled;
      // An invoice made by someone else on the node: only the settle-index resume can find it.
      const otherInvoicer = await LndInvoicer.connect(optionsFor(fake));
      const foreign = await otherInvoicer.createInvoice({ amountSats: 3 });
      await otherInvoicer.close();
      const lost = nextHealth(invoicer, false);
      await fake.stop();
      await lost;
      fake.settle(foreign.paymentHash);
      const settled = nextSettlement(invoicer, foreign.paymentHash);
      await fake.restart();
      assert.equal((await settled).amountPaidSats, 3);
      const subscriptions = fake.calls.filter((c) => c === 'SubscribeInvoices').length;
      assert.ok(subscriptions >= 3, `resubscribed (${subscriptions})`);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('delivers each settlement once even when lookup and stream both report it', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const seen: string[] = [];
      invoicer.onSettled((s) => seen.push(s.paymentHash));
      const invoice = await invoicer.createInvoice({ amountSats: 5 });
      const settled = nextSettlement(invoicer, invoice.paymentHash);
      fake.settle(invoice.paymentHash);
      await settled;
      await invoicer.lookupInvoice(invoice.paymentHash);
      assert.deepEqual(seen, [invoice.paymentHash]);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });
});

describe('LndInvoicer memory of pending invoices', () => {
  it('keeps at most pendingLimit, forgetting expired invoices first, then the oldest', async () => {
    const fake = await FakeLnd.start();
    let offsetMs = 0;
    const invoicer = await LndInvoicer.connect(optionsFor(fake, { pendingLimit: 10, clock: { now: () => Date.now() + offsetMs } }));
    try {
      for (let i = 0; i < 5; i++) await invoicer.createInvoice({ amountSats: 1, expirySeconds: 60 });
      for (let i = 0; i < 5; i++) await invoicer.createInvoice({ amountSats: 1 });
      assert.equal(invoicer.pendingCount, 10);
      offsetMs = 120_000; // the five short invoices have expired
      await invoicer.createInvoice({ amountSats: 1 });
      assert.equal(invoicer.pendingCount, 6, 'the expired ones went first');
      for (let i = 0; i < 4; i++) await invoicer.createInvoice({ amountSats: 1 });
      assert.equal(invoicer.pendingCount, 10);
      await invoicer.createInvoice({ amountSats: 1 });
      assert.equal(invoicer.pendingCount, 9, 'down to 90 % by forgetting the oldest');
      // A settlement leaves the memory as before.
      const last = await invoicer.createInvoice({ amountSats: 2 });
      const settled = nextSettlement(invoicer, last.paymentHash);
      fake.settle(last.paymentHash);
      await settled;
      assert.equal(invoicer.pendingCount, 9);
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });

  it('refuses a pendingLimit that is not a positive integer', async () => {
    const fake = await FakeLnd.start();
    try {
      for (const pendingLimit of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(LndInvoicer.connect(optionsFor(fake, { pendingLimit })), { code: 'L402_ERR_CONFIG_INVALID' });
      }
    } finally {
      await fake.stop();
    }
  });
});

describe('SettledInvoiceIndex (strict verification)', () => {
  it('loads settled invoices in batches and follows new settlements', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const invoices = [];
      for (let i = 0; i < 7; i++) invoices.push(await invoicer.createInvoice({ amountSats: 1 + i }));
      for (const i of [0, 2, 3, 6]) {
        const s = nextSettlement(invoicer, invoices[i]!.paymentHash);
        fake.settle(invoices[i]!.paymentHash);
        await s;
      }
      const before = fake.calls.filter((c) => c === 'ListInvoices').length;
      const index = await SettledInvoiceIndex.load(invoicer, { batchSize: 2 });
      // 7 invoices in pages of 2: 4 pages with invoices and one empty one.
      assert.equal(fake.calls.filter((c) => c === 'ListInvoices').length - before, 5);
      assert.equal(index.size, 4);
      assert.equal(index.isSettled(invoices[2]!.paymentHash), true);
      assert.equal(index.isSettled(invoices[1]!.paymentHash), false);
      const s = nextSettlement(invoicer, invoices[1]!.paymentHash);
      fake.settle(invoices[1]!.paymentHash);
      await s;
      assert.equal(index.isSettled(invoices[1]!.paymentHash.toUpperCase()), true);
      index.close();
    } finally {
      await invoicer.close();
      await fake.stop();
    }
  });
});

describe('LndPayer failures', () => {
  it('reports an invoice lnd refuses as expired with L402_ERR_PAY_INVOICE_EXPIRED, paying nothing', async () => {
    const fake = await FakeLnd.start();
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    // An invoice of another node, dated two hours ago, valid for one minute.
    const past = new DevInvoicer({ onWarning: () => {}, clock: { now: () => Date.now() - 2 * 3600_000 } });
    try {
      const invoice = await past.createInvoice({ amountSats: 10, expirySeconds: 60 });
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), (error: unknown) => {
        assert.ok(error instanceof PaymentError);
        assert.equal(error.code, 'L402_ERR_PAY_INVOICE_EXPIRED');
        assert.equal(error.status, 410);
        assert.match(error.message, /has expired; lnd sent nothing: UNKNOWN: invoice expired\. Valid until/);
        return true;
      });
      assert.equal(await payer.trackPayment(invoice.paymentHash), undefined, 'nothing was sent');
    } finally {
      await payer.close();
      await fake.stop();
    }
  });

  it('maps lnd failure reasons to codes', async () => {
    const fake = await FakeLnd.start();
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const cases = [
        ['FAILURE_REASON_NO_ROUTE', 'L402_ERR_PAY_NO_ROUTE'],
        ['FAILURE_REASON_TIMEOUT', 'L402_ERR_PAY_TIMEOUT'],
        ['FAILURE_REASON_INSUFFICIENT_BALANCE', 'L402_ERR_PAY_INSUFFICIENT_BALANCE'],
        ['FAILURE_REASON_INCORRECT_PAYMENT_DETAILS', 'L402_ERR_PAY_INCORRECT_DETAILS'],
        ['FAILURE_REASON_ERROR', 'L402_ERR_PAY_FAILED'],
        ['FAILURE_REASON_CANCELED', 'L402_ERR_PAY_CANCELED'],
      ] as const;
      for (const [reason, code] of cases) {
        const invoice = await invoicer.createInvoice({ amountSats: 10 });
        fake.failNextPayment(reason);
        await assert.rejects(payer.payInvoice(invoice.paymentRequest), { name: 'PaymentError', code });
        assert.equal(await payer.trackPayment(invoice.paymentHash), undefined, 'a failed payment tracks as undefined');
      }
    } finally {
      await invoicer.close();
      await payer.close();
      await fake.stop();
    }
  });

  it('reports an unreachable lnd as L402_ERR_PAY_UNAVAILABLE', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    const invoice = await invoicer.createInvoice({ amountSats: 10 });
    await invoicer.close();
    await fake.stop();
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_UNAVAILABLE' });
    await assert.rejects(payer.trackPayment(invoice.paymentHash), { code: 'L402_ERR_PAY_UNAVAILABLE' });
    await payer.close();
  });
});

describe('LndPayer fee limit and timeout', () => {
  it('refuses a route whose fee exceeds maxFeeSats: L402_ERR_PAY_NO_ROUTE, no preimage, payee unpaid', async () => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    let payeeCalls = 0;
    // Every route costs 5 sat: lnd's path finding finds none within a 4 sat limit (FAILURE_REASON_NO_ROUTE).
    const fake = await FakeLnd.start({
      feeMsat: 5000n,
      payee: async (request) => {
        payeeCalls++;
        return (await payee.pay(request)).preimage;
      },
    });
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon, defaultMaxFeeSats: 3 });
    try {
      const invoice = await payee.createInvoice({ amountSats: 50 });
      await assert.rejects(payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 4 }), (error: unknown) => {
        assert.ok(error instanceof PaymentError, String(error));
        assert.equal(error.code, 'L402_ERR_PAY_NO_ROUTE');
        assert.ok(!('preimage' in error), 'no preimage on the error');
        return true;
      });
      assert.equal(fake.lastPaymentRequest?.['fee_limit_sat'], '4', 'the fee limit reached lnd');
      // The call's default applies when maxFeeSats is not given.
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_NO_ROUTE' });
      assert.equal(fake.lastPaymentRequest?.['fee_limit_sat'], '3');
      assert.equal(payeeCalls, 0, 'nothing was paid');
      assert.equal(await payer.trackPayment(invoice.paymentHash), undefined);
      assert.equal((await payee.lookupInvoice(invoice.paymentHash)).state, 'open');
      // At the limit the same invoice is paid.
      const paid = await payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 5 });
      assert.equal(paid.feeSats, 5);
      assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), invoice.paymentHash);
      assert.equal(payeeCalls, 1);
    } finally {
      await payer.close();
      await fake.stop();
    }
  });

  it("sends timeoutMs as whole timeout_seconds and surfaces lnd's timeout as L402_ERR_PAY_TIMEOUT", async () => {
    const fake = await FakeLnd.start();
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 10 });
      fake.hangNextPayment();
      const started = Date.now();
      const arrived = fake.nextPayment();
      const paying = payer.payInvoice(invoice.paymentRequest, { timeoutMs: 700 });
      assert.equal((await arrived)['timeout_seconds'], 1, '700 ms is rounded up to 1 s');
      // While lnd still tries, a second payment of the same hash is refused and tracking waits.
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_IN_FLIGHT' });
      const tracked = payer.trackPayment(invoice.paymentHash);
      await assert.rejects(paying, { name: 'PaymentError', code: 'L402_ERR_PAY_TIMEOUT' });
      assert.ok(Date.now() - started >= 950, `lnd waited the whole (rounded up) second: ${Date.now() - started}ms`);
      assert.equal(await tracked, undefined, 'the timed-out payment tracks as not made');
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open', 'the invoice was not paid');
      const requests = fake.calls.filter((c) => c === 'SendPaymentV2').length;
      assert.equal(requests, 2);
    } finally {
      await invoicer.close();
      await payer.close();
      await fake.stop();
    }
  });

  it('never sends timeout_seconds 0 (lnd would refuse it): a sub-second default becomes 1 s', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon, defaultTimeoutMs: 1 });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 3 });
      fake.hangNextPayment();
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_TIMEOUT' });
      assert.equal(fake.lastPaymentRequest?.['timeout_seconds'], 1, 'a sub-second default is sent as 1 s, never 0');
      // The hang was one payment only: paying again succeeds.
      const paid = await payer.payInvoice(invoice.paymentRequest);
      assert.equal(paid.paymentHash, invoice.paymentHash);
    } finally {
      await invoicer.close();
      await payer.close();
      await fake.stop();
    }
  });
});

describe('LndPayer and amountless invoices', () => {
  it('pays an amountless invoice the amountSats given (as amt), and refuses amountSats for an invoice with an amount', async () => {
    const fake = await FakeLnd.start();
    const invoicer = await LndInvoicer.connect(optionsFor(fake));
    const payer = new LndPayer({ host: fake.host, tlsCert: fake.cert, macaroon: fake.macaroon });
    try {
      const open = await invoicer.createInvoice({ amountSats: 0 });
      await assert.rejects(payer.payInvoice(open.paymentRequest), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
      await assert.rejects(payer.payInvoice(open.paymentRequest, { amountSats: 0 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
      const paid = await payer.payInvoice(open.paymentRequest, { amountSats: 7 });
      assert.equal(fake.lastPaymentRequest?.['amt'], '7');
      assert.equal(paid.amountSats, 7);
      assert.equal(paid.paymentHash, open.paymentHash);
      const priced = await invoicer.createInvoice({ amountSats: 5 });
      fake.lastPaymentRequest = undefined;
      await assert.rejects(payer.payInvoice(priced.paymentRequest, { amountSats: 5 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
      assert.equal(fake.lastPaymentRequest, undefined, 'nothing reached lnd');
      const whole = await payer.payInvoice(priced.paymentRequest);
      assert.equal(whole.amountSats, 5);
      assert.equal(fake.lastPaymentRequest?.['amt'], '0', 'no amt for an invoice with an amount');
    } finally {
      await invoicer.close();
      await payer.close();
      await fake.stop();
    }
  });
});

describe("the fake lnd speaks lnd's wire format", () => {
  it('serves the independent `lightning` client: createInvoice, getInvoice, subscribeToInvoices', async () => {
    const fake = await FakeLnd.start();
    try {
      const { lnd } = lightning.authenticatedLndGrpc({
        cert: Buffer.from(fake.cert).toString('base64'),
        macaroon: fake.macaroon.toString('hex'),
        socket: fake.host,
      });
      const created = await lightning.createInvoice({ lnd, tokens: 12, description: 'wire' });
      assert.ok(created.request.startsWith('lnbcrt120n1'));
      const got = await lightning.getInvoice({ lnd, id: created.id });
      assert.equal(got.tokens, 12);
      assert.equal(got.is_confirmed, false);
      const sub = lightning.subscribeToInvoices({ lnd });
      const confirmed = new Promise<string>((resolve) => {
        sub.on('invoice_updated', (i: { id: string; is_confirmed: boolean }) => {
          if (i.is_confirmed) resolve(i.id);
        });
      });
      // Our own client sees the invoice the other client created, and settles through the same node.
      const ours = await LndInvoicer.connect(optionsFor(fake));
      assert.equal((await ours.lookupInvoice(created.id)).state, 'open');
      await ours.close();
      fake.settle(created.id);
      assert.equal(await confirmed, created.id);
      sub.removeAllListeners();
      const wrong = lightning.authenticatedLndGrpc({
        cert: Buffer.from(fake.cert).toString('base64'),
        macaroon: fake.foreignMacaroon().toString('hex'),
        socket: fake.host,
      });
      await assert.rejects(lightning.getInvoice({ lnd: wrong.lnd, id: created.id }), (error: unknown) =>
        JSON.stringify(error).includes('verification failed'),
      );
    } finally {
      await fake.stop();
    }
  });
});
