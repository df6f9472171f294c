// The Invoicer and Payer conformance suites against real lnd nodes: LndInvoicer
// on the seller with only its invoice macaroon, LndPayer on the buyer; and what
// lnd's macaroons let each do.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import lightning from 'lightning';
import { LndInvoicer, LndPayer } from '../../src/lightning/lnd/index.js';
import { invoicerConformance } from '../lightning/invoicer.conformance.js';
import { payerConformance, payerSubject } from '../lightning/payer.conformance.js';
import type { RegtestNetwork } from './network.js';

/** The network, once the group's `before` has started it. */
export interface NetworkRef {
  network: RegtestNetwork;
}

/**
 * Registers the suites.
 * @param ref - filled in by the group's `before`
 */
export function lightningSuites(ref: NetworkRef): void {
  invoicerConformance({
    name: 'LndInvoicer on a real lnd (seller, invoice macaroon)',
    async create() {
      const { seller, buyer } = ref.network;
      const invoicer = await LndInvoicer.connect({
        host: seller.host,
        tlsCert: seller.tlsCert,
        macaroon: seller.invoiceMacaroon,
        network: 'regtest',
      });
      return {
        invoicer,
        // Paid for real: by the buyer, over the channel.
        settle: async (invoice) => {
          await lightning.pay({ lnd: buyer.lnd, request: invoice.paymentRequest });
        },
        cleanup: () => invoicer.close(),
      };
    },
  });

  payerConformance({
    name: 'LndPayer on a real lnd (buyer paying the seller)',
    amountless: 'pays',
    async create() {
      const { seller, buyer } = ref.network;
      const payer = new LndPayer({ host: buyer.host, tlsCert: buyer.tlsCert, macaroon: buyer.adminMacaroon });
      const payee = await LndInvoicer.connect({
        host: seller.host,
        tlsCert: seller.tlsCert,
        macaroon: seller.invoiceMacaroon,
        network: 'regtest',
      });
      return payerSubject(payer, payee, () => payee.close());
    },
  });

  describe('lnd macaroons', () => {
    it('the invoice macaroon lets the seller create, look up and follow invoices, and nothing else', async () => {
      const { seller } = ref.network;
      const invoicer = await LndInvoicer.connect({
        host: seller.host,
        tlsCert: seller.tlsCert,
        macaroon: seller.invoiceMacaroon,
        network: 'regtest',
      });
      try {
        const invoice = await invoicer.createInvoice({ amountSats: 9 });
        assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      } finally {
        await invoicer.close();
      }
      // lnd itself refuses the same macaroon for a payment.
      const payer = new LndPayer({ host: seller.host, tlsCert: seller.tlsCert, macaroon: seller.invoiceMacaroon });
      try {
        const { request } = await lightning.createInvoice({ lnd: ref.network.buyer.lnd, tokens: 1 });
        await assert.rejects(payer.payInvoice(request), (error: unknown) => {
          assert.match(String((error as Error).message), /permission denied/);
          return true;
        });
      } finally {
        await payer.close();
      }
    });

    it("a read-only macaroon cannot create invoices: the refusal is lnd's, with its reason", async () => {
      const { seller } = ref.network;
      const dir = mkdtempSync(join(tmpdir(), 'regtest-mac-'));
      try {
        writeFileSync(join(dir, 'invoice.macaroon'), seller.readonlyMacaroon);
        const invoicer = await LndInvoicer.connect({
          host: seller.host,
          tlsCert: seller.tlsCert,
          macaroonPath: join(dir, 'invoice.macaroon'),
        });
        try {
          await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_RPC_FAILED', message: /permission denied/ });
        } finally {
          await invoicer.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
