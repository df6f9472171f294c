/**
 * The conformance suite every Payer implementation runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PaymentError } from '../../src/core/errors.js';
import type { Invoice, Invoicer, Payer } from '../../src/core/types.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';

/** One implementation under test. */
export interface PayerSubject {
  payer: Payer;
  /** Creates an invoice that `payer` can pay; `0` for one without an amount. */
  issue(amountSats: number): Promise<Invoice>;
  /** What the payee received for an invoice of {@link PayerSubject.issue}, sat (0 while unpaid). */
  received(paymentHash: string): Promise<number>;
  /** Releases what `create` set up. */
  cleanup(): Promise<void>;
}

/** How to build an implementation. */
export interface PayerHarness {
  name: string;
  /**
   * Whether the payer pays an invoice without an amount for `PayOptions.amountSats`
   * (an MPP session refund), or refuses it (and the option) because its backend cannot.
   */
  amountless: 'pays' | 'refuses';
  create(): Promise<PayerSubject>;
}

/**
 * A fake node's `payee` paying a {@link DevInvoicer}: the amount chosen for an
 * invoice without one is passed on (in sat), so the payee records what it received.
 */
export function payThrough(payee: DevInvoicer): (bolt11: string, amountMsat: bigint | undefined) => Promise<string> {
  return async (bolt11, amountMsat) =>
    (await payee.pay(bolt11, amountMsat === undefined ? undefined : Number(amountMsat / 1000n))).preimage;
}

/** What an invoice of `invoicer` received, sat; 0 while it is not settled. */
export async function receivedBy(invoicer: Pick<Invoicer, 'lookupInvoice'>, paymentHash: string): Promise<number> {
  const status = await invoicer.lookupInvoice(paymentHash);
  return status.state === 'settled' ? (status.amountPaidSats ?? 0) : 0;
}

/**
 * The subject of a payer paying `payee`'s invoices.
 * @param payer - the payer under test
 * @param payee - issues the invoices and reports what it received
 * @param release - releases the rest of the setup, after the payer is closed
 * @returns the subject
 */
export function payerSubject(
  payer: Payer & { close(): Promise<void> },
  payee: Pick<Invoicer, 'createInvoice' | 'lookupInvoice'>,
  release: () => Promise<void>,
): PayerSubject {
  return {
    payer,
    issue: (amountSats) => payee.createInvoice({ amountSats }),
    received: (hash) => receivedBy(payee, hash),
    cleanup: async () => {
      await payer.close();
      await release();
    },
  };
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

    const invalid = (error: unknown): boolean => {
      assert.ok(error instanceof PaymentError, String(error));
      assert.equal(error.code, 'L402_ERR_PAY_INVALID_INVOICE');
      return true;
    };

    it('refuses amountSats for an invoice with an amount, and pays nothing', async () => {
      const invoice = await subject.issue(5);
      await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 5 }), invalid);
      await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 8 }), invalid);
      assert.equal(await subject.received(invoice.paymentHash), 0);
    });

    if (harness.amountless === 'pays') {
      it('pays an invoice without an amount the amountSats asked, within the fee limit', async () => {
        const invoice = await subject.issue(0);
        const result = await subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 9, maxFeeSats: 10, timeoutMs: 10_000 });
        assert.equal(result.paymentHash, invoice.paymentHash);
        assert.equal(createHash('sha256').update(Buffer.from(result.preimage, 'hex')).digest('hex'), invoice.paymentHash);
        assert.equal(result.amountSats, 9);
        assert.equal(await subject.received(invoice.paymentHash), 9, 'the payee received the amount asked');
      });

      it('refuses an invoice without an amount when no amountSats (or a bad one) is given, and pays nothing', async () => {
        const invoice = await subject.issue(0);
        await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest), invalid);
        await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 0 }), invalid);
        await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 1.5 }), invalid);
        assert.equal(await subject.received(invoice.paymentHash), 0);
        const paid = await subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 3 });
        assert.equal(paid.amountSats, 3);
      });
    } else {
      it('refuses an invoice without an amount, with or without amountSats, and pays nothing', async () => {
        const invoice = await subject.issue(0);
        await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest, { amountSats: 9 }), invalid);
        await assert.rejects(subject.payer.payInvoice(invoice.paymentRequest), invalid);
        assert.equal(await subject.received(invoice.paymentHash), 0);
      });
    }

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
