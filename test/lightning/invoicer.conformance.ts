/**
 * The conformance suite every Invoicer implementation runs: import it from a
 * `*.test.ts` and call it with a harness that builds the implementation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import bolt11 from 'bolt11';
import type { Invoice, Invoicer } from '../../src/core/types.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { nextSettled } from './invoicer-events.js';

/** One implementation under test. */
export interface InvoicerSubject {
  invoicer: Invoicer;
  /** Makes the invoice paid the way this backend learns of payments. */
  settle(invoice: Invoice): Promise<void>;
  /** Releases what `create` set up. */
  cleanup(): Promise<void>;
}

/** How to build an implementation. */
export interface InvoicerHarness {
  name: string;
  create(): Promise<InvoicerSubject>;
  /**
   * `false` for a backend that reports no settlement (Wavelength): the settlement cases are skipped and the
   * suite checks instead that it says so (`tracksSettlement: false`, lookups refused with `L402_ERR_LN_UNSUPPORTED`).
   */
  tracksSettlement?: false;
  /** `false` for a backend whose API takes no expiry (Wavelength): the invoice's own expiry is reported, not checked against the one asked for. */
  honoursExpiry?: false;
}

/**
 * Runs the suite.
 * @param harness - builds the implementation under test
 */
export function invoicerConformance(harness: InvoicerHarness): void {
  describe(`Invoicer conformance: ${harness.name}`, () => {
    let subject: InvoicerSubject;
    before(async () => {
      subject = await harness.create();
    });
    after(async () => {
      await subject.cleanup();
    });

    it('creates a signed BOLT11 invoice carrying the amount, memo, hash and expiry', async () => {
      const before = Date.now();
      const invoice = await subject.invoicer.createInvoice({ amountSats: 21, memo: 'conformance', expirySeconds: 600 });
      const decoded = decodeInvoice(invoice.paymentRequest);
      assert.equal(decoded.paymentHash, invoice.paymentHash);
      assert.match(invoice.paymentHash, /^[0-9a-f]{64}$/);
      assert.equal(decoded.amountMsat, 21_000n);
      assert.equal(invoice.amountSats, 21);
      assert.equal(decoded.memo, 'conformance');
      assert.equal(invoice.expiresAt, decoded.expiresAt);
      if (harness.honoursExpiry !== false) {
        assert.ok(invoice.expiresAt >= Math.floor(before / 1000) * 1000 + 600_000, 'expiry honoured');
        assert.ok(invoice.expiresAt <= Date.now() + 601_000, 'expiry not longer than asked');
      }
      // Independent check of the signature with the bolt11 package.
      const raw = bolt11.decode(
        invoice.paymentRequest,
        decoded.network === 'signet' ? { bech32: 'tbs', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] } : undefined,
      );
      assert.equal(raw.complete, true);
    });

    it("uses the backend's default expiry when none is given", async () => {
      const invoice = await subject.invoicer.createInvoice({ amountSats: 1 });
      const decoded = decodeInvoice(invoice.paymentRequest);
      assert.equal(invoice.expiresAt, decoded.expiresAt);
      assert.ok(decoded.expiresAt - decoded.timestampSeconds * 1000 >= 3600_000, 'at least an hour');
    });

    it('gives every invoice its own payment hash', async () => {
      const a = await subject.invoicer.createInvoice({ amountSats: 5 });
      const b = await subject.invoicer.createInvoice({ amountSats: 5 });
      assert.notEqual(a.paymentHash, b.paymentHash);
      assert.notEqual(a.paymentRequest, b.paymentRequest);
    });

    it(
      'reports a new invoice as open',
      { skip: harness.tracksSettlement === false ? 'the backend reports no settlement' : false },
      async () => {
        const invoice = await subject.invoicer.createInvoice({ amountSats: 3 });
        const status = await subject.invoicer.lookupInvoice(invoice.paymentHash);
        assert.equal(status.paymentHash, invoice.paymentHash);
        assert.equal(status.state, 'open');
      },
    );

    it(
      'fires onSettled and reports settled after payment',
      { skip: harness.tracksSettlement === false ? 'the backend reports no settlement' : false },
      async () => {
        const invoice = await subject.invoicer.createInvoice({ amountSats: 42 });
        const settled = nextSettled(subject.invoicer, invoice.paymentHash);
        await subject.settle(invoice);
        const event = await settled;
        assert.equal(event.state, 'settled');
        assert.equal(event.amountPaidSats, 42);
        assert.equal(typeof event.settledAt, 'number');
        const status = await subject.invoicer.lookupInvoice(invoice.paymentHash.toUpperCase());
        assert.equal(status.state, 'settled');
        assert.equal(status.amountPaidSats, 42);
      },
    );

    it(
      'stops calling a listener once it is removed',
      { skip: harness.tracksSettlement === false ? 'the backend reports no settlement' : false },
      async () => {
        const seen: string[] = [];
        const off = subject.invoicer.onSettled((s) => seen.push(s.paymentHash));
        off();
        const invoice = await subject.invoicer.createInvoice({ amountSats: 7 });
        const settled = nextSettled(subject.invoicer, invoice.paymentHash);
        await subject.settle(invoice);
        await settled;
        assert.deepEqual(seen, []);
      },
    );

    it(
      'keeps notifying other listeners when one throws',
      { skip: harness.tracksSettlement === false ? 'the backend reports no settlement' : false },
      async () => {
        const offBad = subject.invoicer.onSettled(() => {
          throw new Error('listener bug');
        });
        const invoice = await subject.invoicer.createInvoice({ amountSats: 8 });
        const settled = nextSettled(subject.invoicer, invoice.paymentHash);
        const warned = new Promise<void>((resolve) => {
          const onWarning = (warning: Error): void => {
            if (!warning.message.includes('listener bug')) return;
            process.off('warning', onWarning);
            resolve();
          };
          process.on('warning', onWarning);
        });
        await subject.settle(invoice);
        assert.equal((await settled).state, 'settled');
        await warned;
        offBad();
      },
    );

    it('rejects a bad amount or expiry with L402_ERR_LN_INVALID_REQUEST', async () => {
      for (const request of [{ amountSats: -1 }, { amountSats: 1.5 }, { amountSats: 1, expirySeconds: 0 }]) {
        await assert.rejects(subject.invoicer.createInvoice(request), {
          name: 'InvoiceError',
          code: 'L402_ERR_LN_INVALID_REQUEST',
          status: 400,
        });
      }
    });

    it(
      'rejects a malformed hash and reports an unknown one as not found',
      { skip: harness.tracksSettlement === false ? 'the backend reports no settlement' : false },
      async () => {
        await assert.rejects(subject.invoicer.lookupInvoice('xyz'), { code: 'L402_ERR_LN_INVALID_REQUEST' });
        const unknown = createHash('sha256').update('never issued').digest('hex');
        await assert.rejects(subject.invoicer.lookupInvoice(unknown), {
          name: 'InvoiceError',
          code: 'L402_ERR_LN_INVOICE_NOT_FOUND',
          status: 404,
        });
      },
    );

    it(
      'says so when it reports no settlement: tracksSettlement false, lookups refused',
      { skip: harness.tracksSettlement !== false },
      async () => {
        assert.equal(subject.invoicer.tracksSettlement, false);
        const invoice = await subject.invoicer.createInvoice({ amountSats: 3 });
        await assert.rejects(subject.invoicer.lookupInvoice(invoice.paymentHash), {
          name: 'InvoiceError',
          code: 'L402_ERR_LN_UNSUPPORTED',
        });
        await assert.rejects(subject.invoicer.lookupInvoice('xyz'), { code: 'L402_ERR_LN_INVALID_REQUEST' });
        const off = subject.invoicer.onSettled(() => assert.fail('no settlement is reported'));
        await subject.settle(invoice);
        off();
      },
    );

    it('is healthy', () => {
      const health = subject.invoicer.health();
      assert.equal(health.ok, true);
      assert.equal(typeof health.since, 'number');
    });
  });
}
