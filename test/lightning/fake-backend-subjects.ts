/**
 * Conformance subjects over a fake backend served on a real socket (Core
 * Lightning, LNbits, phoenixd, Wavelength): an invoicer connected to it, settled through
 * its wallet node; a payer paying a {@link DevInvoicer} through it.
 */
import type { Invoicer, Payer } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import type { FakeWalletNode } from '../fixtures/fake-wallet-node.js';
import type { InvoicerSubject } from './invoicer.conformance.js';
import { payerSubject, payThrough, type PayerSubject } from './payer.conformance.js';

/** A started fake: its wallet node and its server. */
export interface ServedFake {
  node: FakeWalletNode;
  server: { close(): Promise<void> };
}

/**
 * The invoicer subject: settles through the fake's node; cleanup closes the invoicer, then the fake.
 * @param fake - the started fake
 * @param invoicer - an invoicer connected to it
 * @returns the subject
 */
export function invoicerOnFake(fake: ServedFake, invoicer: Invoicer): InvoicerSubject {
  return {
    invoicer,
    settle: async (invoice) => void fake.node.settle(invoice.paymentHash),
    cleanup: async () => {
      await invoicer.close();
      await fake.server.close();
    },
  };
}

/**
 * The payer subject: a fake whose node pays a dev payee, and a payer of it.
 * @param start - starts the fake with the given `payee` option
 * @param payerOf - builds the payer of the started fake
 * @returns the subject; cleanup closes the payer, then the fake
 */
export async function payerOnFake<F extends ServedFake>(
  start: (payee: ReturnType<typeof payThrough>) => Promise<F>,
  payerOf: (fake: F) => Payer & { close(): Promise<void> },
): Promise<PayerSubject> {
  const payee = new DevInvoicer({ onWarning: () => {} });
  const fake = await start(payThrough(payee));
  return payerSubject(payerOf(fake), payee, () => fake.server.close());
}
