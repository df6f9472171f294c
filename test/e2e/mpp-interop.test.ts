// Independent MPP clients against the `aperture` program: mppx (the MPP
// reference SDK) pays the charge of an l402+mpp service, whose 402 also carries
// the L402 lines, through a small `lightning` method on the dev backend; Alby's
// fetchWithMpp pays an mpp-only service (it reads a Payment challenge that comes first).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Credential, Method, Receipt, z } from 'mppx';
import { Mppx } from 'mppx/client';
import { fetchWithMpp } from '@getalby/lightning-tools';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

const lightningCharge = Method.from({
  name: 'lightning',
  intent: 'charge',
  schema: {
    credential: { payload: z.object({ preimage: z.string() }) },
    request: z.object({
      amount: z.string(),
      currency: z.string(),
      description: z.optional(z.string()),
      methodDetails: z.object({ invoice: z.string(), network: z.string(), paymentHash: z.string() }),
    }),
  },
});

describe('MPP clients against the aperture program', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const baseDir = tempBaseDir();

  before(async () => {
    backend = await startBackend((req, res) => res.end(`served ${req.url}`));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
  enablempp: true
services:
  - name: quotes
    pathregexp: '^/quote'
    address: ${backend.address}
    price: 21
    authscheme: l402+mpp
  - name: news
    pathregexp: '^/news'
    address: ${backend.address}
    price: 5
    authscheme: mpp
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    await aperture?.close();
    await backend?.close();
    removeDir(baseDir);
  });

  test('mppx pays the charge of an l402+mpp service; the receipt names the payment', async () => {
    const payer = new DevPayer(aperture.invoicer as DevInvoicer);
    const paid: string[] = [];
    const client = Method.toClient(lightningCharge, {
      async createCredential({ challenge }) {
        assert.equal(challenge.request.amount, '21');
        const { preimage } = await payer.payInvoice(challenge.request.methodDetails.invoice);
        paid.push(challenge.request.methodDetails.paymentHash);
        return Credential.serialize(Credential.from({ challenge, payload: { preimage } }));
      },
    });
    const mppx = Mppx.create({ methods: [client], polyfill: false });
    const response = await mppx.fetch(`${aperture.url}/quote`);
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(await response.text(), 'served /quote');
    assert.equal(paid.length, 1);
    const receipt = Receipt.fromResponse(response);
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.reference, paid[0]);
    const row = await aperture.store.getTransaction(paid[0] as string);
    assert.equal(row?.authType, 'mpp');
  });

  test("Alby's fetchWithMpp pays an mpp-only service", async () => {
    const payer = new DevPayer(aperture.invoicer as DevInvoicer);
    const invoices: string[] = [];
    const wallet = {
      async payInvoice({ invoice }: { invoice: string }) {
        invoices.push(invoice);
        return { preimage: (await payer.payInvoice(invoice)).preimage };
      },
    };
    const response = await fetchWithMpp(`${aperture.url}/news`, {}, { wallet });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(await response.text(), 'served /news');
    assert.equal(invoices.length, 1);
    assert.ok(response.headers.get('payment-receipt'));
  });
});
