import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSecretKey } from 'nostr-tools';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { NwcInvoicer, NwcPayer, parseNwcUri } from '../../src/lightning/nwc/index.js';
import { FakeNostrRelay } from '../fixtures/fake-nostr-relay.js';
import { FakeNwcWallet } from '../fixtures/fake-nwc-wallet.js';
import { NodePayError } from '../fixtures/fake-wallet-node.js';
import { TestClock } from '../fixtures/test-clock.js';
import { FAST_BACKOFF, healthWatch, nextSettled } from './invoicer-events.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, payerSubject, payThrough } from './payer.conformance.js';

for (const encryptions of [['nip44', 'nip04'], ['nip04']] as const) {
  const label = encryptions.length === 2 ? 'NIP-44 (offered first)' : 'NIP-04 (a wallet without NIP-44)';
  invoicerConformance({
    name: `NwcInvoicer, ${label}, through an in-test relay to a wallet service`,
    async create() {
      const relay = await FakeNostrRelay.start();
      const wallet = await FakeNwcWallet.start(relay.url, { encryptions: [...encryptions] });
      const invoicer = await NwcInvoicer.connect({ uri: wallet.uri(), backoff: FAST_BACKOFF, timeoutMs: 5000 });
      assert.equal(invoicer.encryption, encryptions[0]);
      return {
        invoicer,
        settle: async (invoice) => void wallet.node.settle(invoice.paymentHash),
        cleanup: async () => {
          await invoicer.close();
          assert.ok(
            wallet.requests.every((r) => r.encryption === encryptions[0]),
            'every request used the chosen encryption',
          );
          wallet.close();
          await relay.server.close();
        },
      };
    },
  });

  payerConformance({
    name: `NwcPayer, ${label}`,
    amountless: 'pays',
    async create() {
      const payee = new DevInvoicer({ onWarning: () => {} });
      const relay = await FakeNostrRelay.start();
      const wallet = await FakeNwcWallet.start(relay.url, {
        encryptions: [...encryptions],
        payee: payThrough(payee),
        feeMsat: 3000n,
      });
      return payerSubject(new NwcPayer({ uri: wallet.uri(), timeoutMs: 5000 }), payee, async () => {
        wallet.close();
        await relay.server.close();
      });
    },
  });
}

describe('parseNwcUri', () => {
  it('reads the wallet key, relays and secret, and refuses malformed URIs without echoing the secret', () => {
    const secret = 'aa'.repeat(32);
    const uri = parseNwcUri(
      `nostr+walletconnect://${'b'.repeat(64)}?relay=wss%3A%2F%2Frelay.example.com&relay=wss://two.example&secret=${secret}&lud16=x@y.z`,
    );
    assert.equal(uri.walletPubkey, 'b'.repeat(64));
    assert.deepEqual(uri.relays, ['wss://relay.example.com', 'wss://two.example']);
    assert.equal(Buffer.from(uri.secret).toString('hex'), secret);
    for (const bad of [
      '',
      'https://x',
      `nostr+walletconnect://${'b'.repeat(64)}?secret=${secret}`,
      `nostr+walletconnect://${'b'.repeat(64)}?relay=https://x&secret=${secret}`,
      `nostr+walletconnect://${'b'.repeat(64)}?relay=wss://x&secret=zz`,
    ]) {
      assert.throws(
        () => parseNwcUri(bad),
        (error: unknown) => {
          assert.equal((error as { code?: string }).code, 'L402_ERR_LN_CREDENTIALS');
          assert.ok(!String((error as Error).message).includes(secret));
          return true;
        },
      );
    }
  });
});

describe('NwcInvoicer', () => {
  it('refuses a connection the wallet does not know (L402_ERR_LN_AUTH_REFUSED) and an unreachable relay (L402_ERR_LN_UNAVAILABLE)', async () => {
    const relay = await FakeNostrRelay.start();
    const wallet = await FakeNwcWallet.start(relay.url);
    try {
      await assert.rejects(NwcInvoicer.connect({ uri: wallet.uri(generateSecretKey()), timeoutMs: 5000 }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_AUTH_REFUSED',
      });
      wallet.close();
      await relay.server.stop();
      await assert.rejects(NwcInvoicer.connect({ uri: wallet.uri(), timeoutMs: 5000 }), { code: 'L402_ERR_LN_UNAVAILABLE' });
    } finally {
      wallet.close();
      await relay.server.close();
    }
  });

  it('times out when the wallet does not answer, and reports malformed answers as L402_ERR_LN_BAD_RESPONSE', async () => {
    const relay = await FakeNostrRelay.start();
    const wallet = await FakeNwcWallet.start(relay.url);
    const invoicer = await NwcInvoicer.connect({ uri: wallet.uri(), timeoutMs: 300 });
    try {
      wallet.silent.add('make_invoice');
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      wallet.silent.clear();
      wallet.answerNext.set('make_invoice', { result_type: 'make_invoice', error: null, result: { invoice: 'lnbcrt1garbage' } });
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      wallet.answerNext.set('make_invoice', { result_type: 'make_invoice', error: null, result: null });
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_BAD_RESPONSE' });
      wallet.answerNext.set('make_invoice', {
        result_type: 'make_invoice',
        error: { code: 'QUOTA_EXCEEDED', message: 'no more' },
        result: null,
      });
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_RPC_FAILED' });
      assert.equal(invoicer.health().ok, true);
    } finally {
      await invoicer.close();
      wallet.close();
      await relay.server.close();
    }
  });

  it('loses the relay, answers 503 meanwhile, and reconciles a payment whose notification was lost', async () => {
    const relay = await FakeNostrRelay.start();
    const wallet = await FakeNwcWallet.start(relay.url);
    const health = healthWatch();
    const invoicer = await NwcInvoicer.connect({
      uri: wallet.uri(),
      backoff: FAST_BACKOFF,
      timeoutMs: 1000,
      onHealthChange: health.onHealthChange,
    });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 21 });
      const down = health.next(false);
      await relay.server.stop();
      await down;
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      // Paid while the relay is down: the notification goes nowhere (ephemeral, not stored).
      wallet.node.settle(invoice.paymentHash);
      const settled = nextSettled(invoicer, invoice.paymentHash);
      const up = health.next(true);
      await relay.server.start();
      await up;
      await wallet.ready();
      const status = await settled;
      assert.equal(status.amountPaidSats, 21);
    } finally {
      await invoicer.close();
      wallet.close();
      await relay.server.close();
    }
  });

  it('reports an expired unpaid invoice as canceled', async () => {
    const relay = await FakeNostrRelay.start();
    const wallet = await FakeNwcWallet.start(relay.url);
    const clock = new TestClock(Date.now());
    const invoicer = await NwcInvoicer.connect({ uri: wallet.uri(), clock, timeoutMs: 5000 });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 1, expirySeconds: 60 });
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      clock.advance(61_000);
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'canceled');
    } finally {
      await invoicer.close();
      wallet.close();
      await relay.server.close();
    }
  });
});

describe('NwcPayer', () => {
  it('maps wallet errors, a stranger key and a silent wallet to coded errors', async () => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const relay = await FakeNostrRelay.start();
    const wallet = await FakeNwcWallet.start(relay.url, { payee: payThrough(payee) });
    const payer = new NwcPayer({ uri: wallet.uri(), timeoutMs: 5000 });
    const stranger = new NwcPayer({ uri: wallet.uri(generateSecretKey()), timeoutMs: 5000 });
    try {
      const invoice = await payee.createInvoice({ amountSats: 5 });
      await assert.rejects(stranger.payInvoice(invoice.paymentRequest), { name: 'PaymentError', code: 'L402_ERR_PAY_AUTH_REFUSED' });
      wallet.node.failNext = new NodePayError('no-route', 'no route');
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_FAILED' });
      wallet.answerNext.set('pay_invoice', {
        result_type: 'pay_invoice',
        error: { code: 'INSUFFICIENT_BALANCE', message: 'empty' },
        result: null,
      });
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_INSUFFICIENT_BALANCE' });
      wallet.answerNext.set('pay_invoice', {
        result_type: 'pay_invoice',
        error: null,
        result: { preimage: '00'.repeat(32), fees_paid: 0 },
      });
      await assert.rejects(payer.payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_BAD_PREIMAGE' });
      wallet.silent.add('pay_invoice');
      await assert.rejects(payer.payInvoice(invoice.paymentRequest, { timeoutMs: 200 }), { code: 'L402_ERR_PAY_TIMEOUT' });
    } finally {
      await payer.close();
      await stranger.close();
      wallet.close();
      await relay.server.close();
    }
  });
});
