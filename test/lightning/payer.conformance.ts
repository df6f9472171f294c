/**
 * The conformance suite every Payer implementation runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PaymentError } from '../../src/core/errors.js';
import type { Invoice, Payer } from '../../src/core/types.js';

/** One implementation under test. */
export interface PayerSubject {
  payer: Payer;
  /** Creates an invoice that `payer` can pay. */
  issue(amountSats: number): Promise<Invoice>;
  /** Releases what `create` set up. */
  cleanup(): Promise<void>;
}

/** How to build an implementation. */
export interface PayerHarness {
  name: string;
  create(): Promise<PayerSubject>;
}

/**
 * Runs the suite.
 * @param harness - builds the implementation under test
 */
export function payerConformance(harness: PayerHarness): void {
  describe(`Payer conformance: ${harness.name}`, () => {
    let subject: PayerSubject;
    before(async () => {
      subject = await harness.create();
    });
    after(async () => {
      await subject.cleanup();
    });

    it('pays an invoice and returns the preimage of its hash', async () => {
      const invoice = await subject.issue(13);
      const result = await subject.payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 10, timeoutMs: 10_000 });
      assert.equal(result.paymentHash, invoice.paymentHash);
      assert.match(result.preimage, /^[0-9a-f]{64}$/);
      assert.equal(createHash('sha256').update(Buffer.from(result.preimage, 'hex')).digest('hex'), invoice.paymentHash);
      assert.equal(result.amountSats, 13);
      assert.ok(result.feeSats >= 0);
    });

    it('refuses to pay the same invoice twice', async () => {
      const invoice = await subject.issue(2);
      await subject.payer.payInvoice(invoice.paymentRequest);
      await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest), (error: unknown) => {
        assert.ok(error instanceof PaymentError, String(error));
        assert.match(error.code, /^L402_ERR_(PAY|DEV)_ALREADY_PAID$/);
        return true;
      });
    });

    it('rejects something that is not an invoice with L402_ERR_PAY_INVALID_INVOICE', async () => {
      await assert.rejects(subject.payer.payInvoice('lnbcrt1notaninvoice'), { name: 'PaymentError', code: 'L402_ERR_PAY_INVALID_INVOICE' });
    });

    it('does not start a payment whose signal is already aborted', async () => {
      const invoice = await subject.issue(4);
      await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { signal: AbortSignal.abort() }), {
        code: 'L402_ERR_PAY_ABORTED',
      });
      // Nothing was paid: the invoice can still be paid.
      const result = await subject.payer.payInvoice(invoice.paymentRequest);
      assert.equal(result.paymentHash, invoice.paymentHash);
    });

    it('tracks an earlier payment by hash, and knows nothing of others', async (t) => {
      if (subject.payer.trackPayment === undefined) {
        t.skip('this payer has no trackPayment');
        return;
      }
      const invoice = await subject.issue(6);
      const paid = await subject.payer.payInvoice(invoice.paymentRequest);
      assert.deepEqual(await subject.payer.trackPayment(invoice.paymentHash), paid);
      const unknown = createHash('sha256').update('never paid').digest('hex');
      assert.equal(await subject.payer.trackPayment(unknown), undefined);
    });
  });
}
