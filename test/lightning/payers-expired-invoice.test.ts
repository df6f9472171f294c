// An expired invoice is reported as L402_ERR_PAY_INVOICE_EXPIRED by the payers
// whose backend names the expiry (Core Lightning's error 207, LNbits' and
// phoenixd's failure texts, an NWC wallet's message), not as a generic failure; nothing is paid.
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

test('ClnPayer, LnbitsPayer, PhoenixdPayer and NwcPayer report an expired invoice as L402_ERR_PAY_INVOICE_EXPIRED', async (t) => {
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
  const cases: Array<[string, Payer & { close(): Promise<void> }]> = [
    ['Core Lightning', new ClnPayer({ url: cln.url, rune: cln.rune, caCert: cln.caCert })],
    ['LNbits', new LnbitsPayer({ url: lnbits.url, adminKey: lnbits.adminKey })],
    ['phoenixd', new PhoenixdPayer({ url: phoenixd.url, password: phoenixd.password })],
    ['NWC', new NwcPayer({ uri: wallet.uri(), timeoutMs: 5000 })],
  ];
  const invoices = cases.map(() => payee.createInvoice({ amountMsat: 5000n, expirySeconds: 1 }));
  await new Promise((resolve) => setTimeout(resolve, 1100));
  for (const [i, [name, payer]] of cases.entries()) {
    const invoice = invoices[i]!;
    await assert.rejects(payer.payInvoice(invoice.bolt11), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'L402_ERR_PAY_INVOICE_EXPIRED', `${name}: ${error.message}`);
      return true;
    });
    assert.equal(payee.invoices.get(invoice.paymentHash)?.state, 'unpaid', `${name}: the invoice stays unpaid`);
    await payer.close();
  }
});
