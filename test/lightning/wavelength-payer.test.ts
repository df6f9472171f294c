// WavelengthPayer against a fake Wavelength gateway that speaks prepare-send / send / inspect/activity, checks
// the macaroon and pays a DevInvoicer: the Payer conformance suite, the calls it makes, the fee limit, and
// each coded failure (refused macaroon, expired invoice, no route, outage, timeout, abort, bad preimage).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PaymentError } from '../../src/core/errors.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { WavelengthPayer } from '../../src/lightning/wavelength/index.js';
import { FakeWavelength } from '../fixtures/fake-wavelength.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { payerOnFake } from './fake-backend-subjects.js';
import { payerConformance, payThrough, receivedBy } from './payer.conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'wavelength-payer-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

payerConformance({
  name: 'WavelengthPayer against a fake gateway',
  amountless: 'refuses',
  create: () =>
    payerOnFake(
      (payee) => FakeWavelength.start({ payee, feeMsat: 1000n }),
      (fake) => new WavelengthPayer({ gateway: fake.url, macaroon: fake.macaroon, pollIntervalMs: 10 }),
    ),
});

interface Setup {
  fake: FakeWavelength;
  payee: DevInvoicer;
  payer: WavelengthPayer;
}

async function setup(options: { feeMsat?: bigint; preimage?: string; macaroon?: Uint8Array } = {}): Promise<Setup> {
  const payee = new DevInvoicer({ onWarning: () => {} });
  const pay = payThrough(payee);
  const fake = await FakeWavelength.start({
    payee: options.preimage === undefined ? pay : async (bolt11, amount) => (await pay(bolt11, amount), options.preimage as string),
    feeMsat: options.feeMsat ?? 2000n,
  });
  const payer = new WavelengthPayer({ gateway: fake.url, macaroon: options.macaroon ?? fake.macaroon, pollIntervalMs: 10 });
  after(async () => {
    await payer.close();
    await fake.server.close();
  });
  return { fake, payee, payer };
}

function coded(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof PaymentError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe('WavelengthPayer', () => {
  it('prepares with the invoice and max_fee_sat, sends the intent, reads the preimage and fee, with the macaroon from its file', async () => {
    const { fake, payee } = await setup();
    const path = join(dir, 'wallet.macaroon');
    writeFileSync(path, fake.macaroon);
    const payer = new WavelengthPayer({ gateway: `${fake.url}/`, macaroonPath: path, pollIntervalMs: 10 });
    after(() => payer.close());
    const invoice = await payee.createInvoice({ amountSats: 21 });
    const result = await payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 5 });
    assert.deepEqual(
      { ...result, preimage: undefined },
      { paymentHash: invoice.paymentHash, preimage: undefined, amountSats: 21, feeSats: 2 },
    );
    assert.equal(await receivedBy(payee, invoice.paymentHash), 21);
    const hex = Buffer.from(fake.macaroon).toString('hex');
    const calls = fake.payCalls.map((c) => ({ path: c.path, macaroon: c.macaroon === hex }));
    assert.deepEqual(calls.slice(0, 3), [
      { path: '/v1/wallet/inspect/activity', macaroon: true },
      { path: '/v1/wallet/prepare-send', macaroon: true },
      { path: '/v1/wallet/send', macaroon: true },
    ]);
    assert.deepEqual(fake.payCalls[0]?.body, { id: invoice.paymentHash });
    assert.deepEqual(fake.payCalls[1]?.body, { invoice: invoice.paymentRequest, note: 'L402', max_fee_sat: '5' });
    assert.match(String(fake.payCalls[2]?.body['send_intent_id']), /^[0-9a-f]{32}$/);
    assert.deepEqual(await payer.trackPayment(invoice.paymentHash), result);
  });

  it('follows the entry by the id the send answered with, for a send drawn from credit whose id is not the hash', async () => {
    const { fake, payee, payer } = await setup();
    fake.creditIdNext = 'credit-op-7';
    const invoice = await payee.createInvoice({ amountSats: 8 });
    const result = await payer.payInvoice(invoice.paymentRequest);
    assert.equal(result.paymentHash, invoice.paymentHash);
    assert.equal(result.amountSats, 8);
    assert.deepEqual(fake.payCalls.at(-1), {
      path: '/v1/wallet/inspect/activity',
      body: { id: 'credit-op-7' },
      macaroon: fake.payCalls[0]?.macaroon,
    });
  });

  it('refuses an invoice without an amount before calling the gateway', async () => {
    const { fake, payee, payer } = await setup();
    const invoice = await payee.createInvoice({ amountSats: 0 });
    await assert.rejects(payer.payInvoice(invoice.paymentRequest, { amountSats: 4 }), /takes no amount for invoices/);
    assert.equal(fake.payCalls.length, 0);
  });

  it('sends nothing when the quoted fee is above maxFeeSats, and passes the wallet refusing max_fee_sat on as L402_ERR_PAY_NO_ROUTE', async () => {
    const { fake, payee, payer } = await setup({ feeMsat: 3000n });
    const invoice = await payee.createInvoice({ amountSats: 7 });
    // 0 is not sent (it means "the daemon's default" on the wire): the quote is checked here.
    await assert.rejects(payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 0 }), coded('L402_ERR_PAY_NO_ROUTE'));
    assert.equal(fake.payCalls.at(-1)?.path, '/v1/wallet/prepare-send');
    assert.equal(fake.payCalls.at(-1)?.body['max_fee_sat'], undefined);
    await assert.rejects(payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 2 }), (error: unknown) => {
      coded('L402_ERR_PAY_NO_ROUTE')(error);
      assert.match((error as Error).message, /exceeds max_fee_sat 2/);
      return true;
    });
    assert.ok(!fake.payCalls.some((c) => c.path === '/v1/wallet/send'));
    assert.equal(await receivedBy(payee, invoice.paymentHash), 0);
  });

  it('warns naming maxFeeSats when the settled fee is above it', async () => {
    const { fake, payee, payer } = await setup({ feeMsat: 4000n });
    fake.quoteFeeSatNext = 1; // the quote was within the limit; the payment cost more
    const warnings: Error[] = [];
    const onWarning = (w: Error): number => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const invoice = await payee.createInvoice({ amountSats: 3 });
      const result = await payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 2 });
      assert.equal(result.feeSats, 4);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(
        warnings.some((w) => /above maxFeeSats 2/.test(w.message)),
        'warned',
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reports a refused macaroon as L402_ERR_PAY_AUTH_REFUSED without printing it, and pays nothing', async () => {
    const first = await setup();
    const { payee, payer } = await setup({ macaroon: first.fake.foreignMacaroon() });
    const invoice = await payee.createInvoice({ amountSats: 2 });
    await assert.rejects(payer.payInvoice(invoice.paymentRequest), (error: unknown) => {
      coded('L402_ERR_PAY_AUTH_REFUSED')(error);
      assert.doesNotMatch((error as Error).message, /[0-9a-f]{64,}/);
      return true;
    });
    assert.equal(await receivedBy(payee, invoice.paymentHash), 0);
  });

  it('maps an expired invoice, no route and other failures to their codes', async () => {
    const { fake, payee, payer } = await setup();
    const one = await payee.createInvoice({ amountSats: 2 });
    fake.refuseNext = { status: 400, message: 'invoice expired' };
    await assert.rejects(payer.payInvoice(one.paymentRequest), coded('L402_ERR_PAY_INVOICE_EXPIRED'));
    fake.node.failNext = new NodePayError('expired', 'swap expired before it was funded');
    await assert.rejects(payer.payInvoice(one.paymentRequest), (error: unknown) => {
      coded('L402_ERR_PAY_INVOICE_EXPIRED')(error);
      assert.match((error as Error).message, /ENTRY_FAILURE_CODE_EXPIRED/);
      return true;
    });
    const two = await payee.createInvoice({ amountSats: 2 });
    fake.node.failNext = new NodePayError('no-route', 'no route to the destination');
    await assert.rejects(payer.payInvoice(two.paymentRequest), coded('L402_ERR_PAY_NO_ROUTE'));
    const three = await payee.createInvoice({ amountSats: 2 });
    fake.node.failNext = new NodePayError('failed', 'swap server refused');
    await assert.rejects(payer.payInvoice(three.paymentRequest), coded('L402_ERR_PAY_FAILED'));
    fake.refuseNext = { status: 400, message: 'insufficient balance' };
    await assert.rejects(payer.payInvoice(three.paymentRequest), coded('L402_ERR_PAY_INSUFFICIENT_BALANCE'));
  });

  it('reports a gateway that is down or unavailable as L402_ERR_PAY_UNAVAILABLE', async () => {
    const { fake, payee, payer } = await setup();
    const invoice = await payee.createInvoice({ amountSats: 2 });
    fake.refuseNext = { status: 503, message: 'wallet is locked' };
    await assert.rejects(payer.payInvoice(invoice.paymentRequest), coded('L402_ERR_PAY_UNAVAILABLE'));
    await fake.server.close();
    await assert.rejects(payer.payInvoice(invoice.paymentRequest), coded('L402_ERR_PAY_UNAVAILABLE'));
  });

  it('times out on a payment still pending (trackPayment finds it later), and stops waiting when aborted', async () => {
    const { fake, payee, payer } = await setup();
    fake.payDelayMs = 300;
    const slow = await payee.createInvoice({ amountSats: 5 });
    await assert.rejects(payer.payInvoice(slow.paymentRequest, { timeoutMs: 100 }), coded('L402_ERR_PAY_TIMEOUT'));
    assert.equal(await payer.trackPayment(slow.paymentHash), undefined, 'still pending');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await payer.trackPayment(slow.paymentHash))?.amountSats, 5);
    const aborted = await payee.createInvoice({ amountSats: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(payer.payInvoice(aborted.paymentRequest, { signal: controller.signal }), coded('L402_ERR_PAY_ABORTED'));
    await new Promise((resolve) => setTimeout(resolve, 400));
  });

  it('times out saying so when the wallet reports the payment complete without a preimage', async () => {
    const { fake, payee, payer } = await setup();
    fake.omitPreimage = true;
    const invoice = await payee.createInvoice({ amountSats: 2 });
    await assert.rejects(payer.payInvoice(invoice.paymentRequest, { timeoutMs: 200 }), (error: unknown) => {
      coded('L402_ERR_PAY_TIMEOUT')(error);
      assert.match((error as Error).message, /complete but gave no preimage/);
      return true;
    });
    assert.equal(await payer.trackPayment(invoice.paymentHash), undefined);
  });

  it('refuses a preimage that does not hash to the invoice', async () => {
    const { payee, payer } = await setup({ preimage: '00'.repeat(32) });
    const invoice = await payee.createInvoice({ amountSats: 2 });
    await assert.rejects(payer.payInvoice(invoice.paymentRequest), coded('L402_ERR_PAY_BAD_PREIMAGE'));
  });

  it('refuses a gateway that is not an http(s) URL and a macaroon that is not one', () => {
    assert.throws(() => new WavelengthPayer({ gateway: 'localhost:10061' }), { code: 'L402_ERR_CONFIG_INVALID' });
    assert.throws(() => new WavelengthPayer({ gateway: 'http://localhost:10061', macaroon: 'abcd' }), { code: 'L402_ERR_LN_CREDENTIALS' });
  });
});
