// PayOptions.amountSats (paying an amountless invoice an amount of the caller's
// choice) is not built for the payers over HTTP and NWC: each refuses it with
// L402_ERR_PAY_INVALID_INVOICE before asking its backend anything, so nothing
// is paid (rather than paying the invoice's own amount and ignoring the option).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Payer } from '../../src/core/types.js';
import { ClnPayer } from '../../src/lightning/cln/index.js';
import { LnbitsPayer } from '../../src/lightning/lnbits/index.js';
import { NwcPayer } from '../../src/lightning/nwc/index.js';
import { PhoenixdPayer } from '../../src/lightning/phoenixd/index.js';
import { FakeClnRest } from '../fixtures/fake-clnrest.js';
import { FakeLnbits } from '../fixtures/fake-lnbits.js';
import { FakeNostrRelay } from '../fixtures/fake-nostr-relay.js';
import { FakeNwcWallet } from '../fixtures/fake-nwc-wallet.js';
import { FakePhoenixd } from '../fixtures/fake-phoenixd.js';
import { FakeWalletNode } from '../fixtures/fake-wallet-node.js';

test('ClnPayer, LnbitsPayer, PhoenixdPayer and NwcPayer refuse amountSats and pay nothing', async (t) => {
  const payee = new FakeWalletNode();
  const cln = await FakeClnRest.start();
  t.after(() => cln.server.close());
  const lnbits = await FakeLnbits.start();
  t.after(() => lnbits.server.close());
  const phoenixd = await FakePhoenixd.start();
  t.after(() => phoenixd.server.close());
  const relay = await FakeNostrRelay.start();
  t.after(() => relay.server.close());
  const wallet = await FakeNwcWallet.start(relay.url);
  t.after(() => wallet.close());
  const cases: Array<[string, Payer & { close(): Promise<void> }, FakeWalletNode]> = [
    ['Core Lightning', new ClnPayer({ url: cln.url, rune: cln.rune, caCert: cln.caCert }), cln.node],
    ['LNbits', new LnbitsPayer({ url: lnbits.url, adminKey: lnbits.adminKey }), lnbits.node],
    ['phoenixd', new PhoenixdPayer({ url: phoenixd.url, password: phoenixd.password }), phoenixd.node],
    ['Nostr Wallet Connect', new NwcPayer({ uri: wallet.uri() }), wallet.node],
  ];
  for (const [name, payer, node] of cases) {
    const invoice = payee.createInvoice({ amountMsat: 5000n, expirySeconds: 600 });
    await assert.rejects(payer.payInvoice(invoice.bolt11, { amountSats: 5 }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'L402_ERR_PAY_INVALID_INVOICE', name);
      assert.match(error.message, /cannot choose an amount/);
      return true;
    });
    assert.equal(node.payments.size, 0, `${name}: nothing paid`);
    assert.equal(payee.invoices.get(invoice.paymentHash)?.state, 'unpaid', `${name}: the invoice stays unpaid`);
    await payer.close();
  }
});
