// WavelengthInvoicer against a fake Wavelength gateway that checks the macaroon and signs real regtest
// invoices: the conformance suite where it applies (no settlement is reported), the request it sends,
// refused and missing credentials, an outage and its recovery, and returned invoices that must be refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BackendHealth } from '../../src/core/types.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { WavelengthInvoicer } from '../../src/lightning/wavelength/index.js';
import { selfSignedCert } from '../fixtures/fake-http-server.js';
import { FAKE_WAVELENGTH_EXPIRY_SECONDS, FakeWavelength } from '../fixtures/fake-wavelength.js';
import { FakeWalletNode } from '../fixtures/fake-wallet-node.js';
import { invoicerOnFake } from './fake-backend-subjects.js';
import { invoicerConformance } from './invoicer.conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'wavelength-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

invoicerConformance({
  name: 'WavelengthInvoicer against a fake gateway',
  tracksSettlement: false,
  honoursExpiry: false,
  async create() {
    const fake = await FakeWavelength.start();
    return invoicerOnFake(fake, await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: fake.macaroon }));
  },
});

async function started(): Promise<FakeWavelength> {
  const fake = await FakeWavelength.start();
  after(() => fake.server.close());
  return fake;
}

describe('WavelengthInvoicer', () => {
  it('sends amt_sat and memo with the macaroon from its file, hex in header macaroon, and returns the checked invoice', async () => {
    const fake = await started();
    const path = join(dir, 'wallet.macaroon');
    writeFileSync(path, fake.macaroon);
    const invoicer = await WavelengthInvoicer.connect({ gateway: `${fake.url}/`, macaroonPath: path });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 115, memo: 'L402', expirySeconds: 60 });
      assert.deepEqual(fake.calls.at(-1), { body: { amt_sat: 115, memo: 'L402' }, macaroon: Buffer.from(fake.macaroon).toString('hex') });
      const decoded = decodeInvoice(invoice.paymentRequest);
      assert.equal(invoice.paymentHash, decoded.paymentHash);
      assert.equal(decoded.amountMsat, 115_000n);
      assert.equal(decoded.network, 'regtest');
      // The gateway takes no expiry: the invoice's own is reported.
      assert.equal(invoice.expiresAt, decoded.expiresAt);
      assert.equal(decoded.expiresAt - decoded.timestampSeconds * 1000, FAKE_WAVELENGTH_EXPIRY_SECONDS * 1000);
      await invoicer.createInvoice({ amountSats: 1 });
      assert.deepEqual(fake.calls.at(-1)?.body, { amt_sat: 1 }, 'no memo sent when none is given');
      assert.equal(invoicer.tracksSettlement, false);
    } finally {
      await invoicer.close();
    }
  });

  it('refuses a zero amount before calling the gateway (it makes no any-amount invoices)', async () => {
    const fake = await started();
    const invoicer = await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: fake.macaroon });
    try {
      await assert.rejects(invoicer.createInvoice({ amountSats: 0 }), { code: 'L402_ERR_LN_INVALID_REQUEST', status: 400 });
      assert.equal(fake.calls.length, 0);
    } finally {
      await invoicer.close();
    }
  });

  it('reports a refused or missing macaroon as L402_ERR_LN_AUTH_REFUSED, never printing the macaroon', async () => {
    const fake = await started();
    const foreign = fake.foreignMacaroon();
    const wrong = await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: foreign });
    const none = await WavelengthInvoicer.connect({ gateway: fake.url });
    try {
      await assert.rejects(wrong.createInvoice({ amountSats: 5 }), (error: Error & { code?: string; status?: number }) => {
        assert.equal(error.code, 'L402_ERR_LN_AUTH_REFUSED');
        assert.equal(error.status, 503);
        assert.match(error.message, /refused the macaroon.*signature mismatch/);
        assert.ok(!error.message.includes(Buffer.from(foreign).toString('hex')));
        return true;
      });
      assert.equal(wrong.health().ok, false);
      await assert.rejects(none.createInvoice({ amountSats: 5 }), { code: 'L402_ERR_LN_AUTH_REFUSED' });
      // A daemon started with rpc.no-macaroons takes calls without one; none is sent.
      fake.noMacaroons = true;
      await none.createInvoice({ amountSats: 5 });
      assert.equal(fake.calls.at(-1)?.macaroon, undefined);
      assert.equal(none.health().ok, true);
    } finally {
      await wrong.close();
      await none.close();
    }
  });

  it('refuses a macaroon file that is not a macaroon, a missing one, and a gateway that is not an http(s) URL', async () => {
    const pemPath = join(dir, 'tls.cert');
    writeFileSync(pemPath, (await selfSignedCert()).cert);
    await assert.rejects(
      WavelengthInvoicer.connect({ gateway: 'http://127.0.0.1:1', macaroonPath: pemPath }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'L402_ERR_LN_CREDENTIALS');
        assert.match(error.message, /is not a macaroon/);
        return true;
      },
    );
    await assert.rejects(WavelengthInvoicer.connect({ gateway: 'http://127.0.0.1:1', macaroonPath: join(dir, 'missing.macaroon') }), {
      code: 'L402_ERR_LN_CREDENTIALS',
    });
    await assert.rejects(WavelengthInvoicer.connect({ gateway: 'http://127.0.0.1:1', macaroon: 'not hex' }), {
      code: 'L402_ERR_LN_CREDENTIALS',
    });
    for (const gateway of ['', 'localhost:10061', 'ftp://host', 'http://', 'http://host/?a=1']) {
      await assert.rejects(WavelengthInvoicer.connect({ gateway }), { code: 'L402_ERR_CONFIG_INVALID' }, gateway);
    }
  });

  it('answers 503 L402_ERR_LN_UNAVAILABLE while the gateway is down, reports health, and recovers', async () => {
    const fake = await started();
    const changes: BackendHealth[] = [];
    const invoicer = await WavelengthInvoicer.connect({
      gateway: fake.url,
      macaroon: fake.macaroon,
      onHealthChange: (h) => changes.push(h),
    });
    try {
      assert.equal(invoicer.health().ok, true);
      await fake.server.stop();
      await assert.rejects(invoicer.createInvoice({ amountSats: 5 }), {
        name: 'InvoiceError',
        code: 'L402_ERR_LN_UNAVAILABLE',
        status: 503,
      });
      assert.equal(invoicer.health().ok, false);
      assert.match(invoicer.health().detail ?? '', /127\.0\.0\.1/);
      await fake.server.start();
      await invoicer.createInvoice({ amountSats: 5 });
      assert.equal(invoicer.health().ok, true);
      assert.deepEqual(
        changes.map((h) => h.ok),
        [false, true],
      );
      fake.refuseNext = { status: 503, message: 'swap server unreachable' };
      await assert.rejects(invoicer.createInvoice({ amountSats: 5 }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'L402_ERR_LN_UNAVAILABLE');
        assert.match(error.message, /swap server unreachable/);
        return true;
      });
    } finally {
      await invoicer.close();
    }
    await assert.rejects(invoicer.createInvoice({ amountSats: 5 }), { code: 'L402_ERR_LN_UNAVAILABLE' }, 'closed');
  });

  it("surfaces the wallet's own message when it refuses a call", async () => {
    const fake = await started();
    const invoicer = await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: fake.macaroon });
    try {
      fake.refuseNext = { status: 400, message: 'wallet is locked' };
      await assert.rejects(invoicer.createInvoice({ amountSats: 5 }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'L402_ERR_LN_RPC_FAILED');
        assert.match(error.message, /HTTP 400: wallet is locked/);
        return true;
      });
    } finally {
      await invoicer.close();
    }
  });

  it('refuses a returned invoice that is not JSON, does not decode, or lacks the reported hash or the amount asked for', async () => {
    const fake = await started();
    const invoicer = await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: fake.macaroon });
    const other = new FakeWalletNode();
    try {
      const bad = async (): Promise<void> =>
        assert.rejects(invoicer.createInvoice({ amountSats: 10 }), { name: 'InvoiceError', code: 'L402_ERR_LN_BAD_RESPONSE', status: 503 });
      fake.garbageNext = '<html>proxy error</html>';
      await bad();
      fake.garbageNext = JSON.stringify({ entry: {} });
      await bad();
      const real = other.createInvoice({ amountMsat: 10_000n, expirySeconds: 600 });
      fake.forgeNext = { invoice: 'lnbcrt1notaninvoice', hash: real.paymentHash };
      await bad();
      fake.forgeNext = { invoice: real.bolt11, hash: 'ab'.repeat(32) };
      await bad();
      fake.forgeNext = { invoice: real.bolt11, hash: 'not-a-hash' };
      await bad();
      const cheaper = other.createInvoice({ amountMsat: 9_000n, expirySeconds: 600 });
      fake.forgeNext = { invoice: cheaper.bolt11, hash: cheaper.paymentHash };
      await bad();
      fake.forgeNext = { invoice: real.bolt11, hash: real.paymentHash.toUpperCase() };
      assert.equal((await invoicer.createInvoice({ amountSats: 10 })).paymentHash, real.paymentHash);
    } finally {
      await invoicer.close();
    }
  });
});
