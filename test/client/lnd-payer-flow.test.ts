// LndPayer inside a client flow: aperture runs the lnd backend against the fake
// lnd, and the client pays with LndPayer through the SAME fake node (its
// SendPaymentV2 settles the invoice it issued to aperture). Also the default
// routing-fee limit: 10 sat reaches the payer and lnd, and a payment needing
// more fails with the payer's code and leaves no token behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { main, type CliIo } from '../../src/cli/aperturecli.js';
import { clientErrorContext } from '../../src/client/client-error-context.js';
import { L402Client } from '../../src/client/l402-client.js';
import { MemoryTokenStore } from '../../src/client/memory-token-store.js';
import { decodeTokenFile } from '../../src/client/token-file-codec.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { PaymentError } from '../../src/core/errors.js';
import type { PayOptions } from '../../src/core/types.js';
import { LndPayer } from '../../src/lightning/lnd/lnd-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { lndFiles } from '../e2e/lnd-support.js';
import { configFrom, quiet, tempBaseDir } from '../e2e/support.js';
import { startBackend } from '../proxy/support.js';

type Backend = Awaited<ReturnType<typeof startBackend>>;

interface Setup {
  fake: FakeLnd;
  aperture: RunningAperture;
  /** Paths the client side uses: lnd's certificate and a macaroon allowed to pay. */
  tlsPath: string;
  macaroonPath: string;
  dir: string;
  payer: () => LndPayer;
  close: () => Promise<void>;
}

const backends: Backend[] = [];
after(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

/** aperture (lnd backend) in front of an HTTP backend, both on the same fake lnd the client pays through. */
async function setup(feeMsat = 0n): Promise<Setup> {
  const backend = await startBackend((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, paid: typeof req.headers.authorization === 'string' }));
  });
  backends.push(backend);
  const fake = await FakeLnd.start({ feeMsat });
  const dir = tempBaseDir('client-lnd-');
  const files = lndFiles(fake, dir);
  const macaroonPath = join(dir, 'admin.macaroon');
  writeFileSync(macaroonPath, fake.macaroon);
  const yaml = `
listenaddr: 127.0.0.1:0
insecure: true
${files.yaml}
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`;
  const aperture = await startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  const payers: LndPayer[] = [];
  return {
    fake,
    aperture,
    tlsPath: files.tlsPath,
    macaroonPath,
    dir,
    payer: () => {
      const payer = new LndPayer({ host: fake.host, tlsCertPath: files.tlsPath, macaroonPath });
      payers.push(payer);
      return payer;
    },
    close: async () => {
      await Promise.all(payers.map((p) => p.close()));
      await aperture.close();
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `aperturecli` in process; HOME is a temp dir. */
async function cli(args: string[], home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (c) => (stdout += Buffer.from(c).toString('utf8')), isTTY: false },
    stderr: { write: (c) => (stderr += Buffer.from(c).toString('utf8')) },
    env: { HOME: home },
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

describe('LndPayer in a client flow against aperture on the fake lnd', { timeout: 60_000 }, () => {
  test('wrapFetch + LndPayer: 402 → SendPaymentV2 on the node that issued the invoice → 200; the token is reused', async () => {
    const s = await setup();
    try {
      const store = new MemoryTokenStore();
      const fetch402 = wrapFetch(fetch, { payer: s.payer(), store });
      const res = await fetch402(`${s.aperture.url}/api/quote`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { path: '/api/quote', paid: true });
      assert.equal(s.fake.calls.filter((c) => c === 'SendPaymentV2').length, 1);
      const token = await store.get(new URL(s.aperture.url).origin);
      assert.ok(token?.preimage !== undefined, 'a paid token is stored');
      const invoice = s.fake.invoice(token.paymentHash);
      assert.equal(invoice?.state, 'SETTLED', 'the client paid the invoice aperture had lnd issue');
      assert.equal(token.preimage, invoice.r_preimage.toString('hex'));
      assert.equal(token.amountPaidMsat, 10_000n);

      const again = await fetch402(`${s.aperture.url}/api/again`);
      assert.equal(again.status, 200);
      await again.text();
      assert.equal(s.fake.calls.filter((c) => c === 'SendPaymentV2').length, 1, 'no second payment');
    } finally {
      await s.close();
    }
  });

  test('aperturecli fetch --payer lnd --lnd-host --lnd-tls --lnd-macaroon pays and prints the body', async () => {
    const s = await setup();
    try {
      const tokenFile = join(s.dir, 'cli.token');
      const run = await cli(
        [
          'fetch',
          `${s.aperture.url}/api/cli`,
          '--payer',
          'lnd',
          '--lnd-host',
          s.fake.host,
          '--lnd-tls',
          s.tlsPath,
          '--lnd-macaroon',
          s.macaroonPath,
          '--token-file',
          tokenFile,
        ],
        s.dir,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { path: '/api/cli', paid: true });
      const summary = JSON.parse(run.stderr.trim()) as Record<string, unknown>;
      assert.equal(summary['paid'], true);
      assert.equal(summary['paidSats'], 10);
      assert.equal(summary['feeSats'], 0);
      const token = decodeTokenFile(readFileSync(tokenFile));
      assert.equal(s.fake.invoice(token.paymentHash)?.state, 'SETTLED');
      assert.equal(summary['paymentHash'], token.paymentHash);
    } finally {
      await s.close();
    }
  });

  test('default fee limit: the payer is asked with 10 sat, and lnd accepts a 10-sat fee (recorded and charged to the budget)', async () => {
    const s = await setup(10_000n);
    try {
      const lnd = s.payer();
      const asked: PayOptions[] = [];
      const payer = {
        payInvoice: (invoice: string, options?: PayOptions) => {
          asked.push(options ?? {});
          return lnd.payInvoice(invoice, options);
        },
        trackPayment: (hash: string) => lnd.trackPayment(hash),
      };
      const store = new MemoryTokenStore();
      const client = new L402Client({ payer, store });
      const res = await wrapFetch(fetch, client)(`${s.aperture.url}/api/fee`);
      assert.equal(res.status, 200);
      await res.text();
      assert.equal(asked.length, 1);
      assert.equal(asked[0]?.maxFeeSats, 10);
      const token = await store.get(new URL(s.aperture.url).origin);
      assert.equal(token?.routingFeeMsat, 10_000n);
      assert.equal(client.spent().totalSats, 20, 'price 10 + fee 10');
    } finally {
      await s.close();
    }
  });

  test("default fee limit: an invoice needing an 11-sat fee fails with the payer's code, no token stored, nothing charged", async () => {
    const s = await setup(11_000n);
    try {
      const store = new MemoryTokenStore();
      const client = new L402Client({ payer: s.payer(), store });
      await assert.rejects(wrapFetch(fetch, client)(`${s.aperture.url}/api/fee`), (error: unknown) => {
        assert.ok(error instanceof PaymentError);
        assert.equal(error.code, 'L402_ERR_PAY_NO_ROUTE');
        assert.equal(clientErrorContext(error)?.responseStatus, 402);
        return true;
      });
      assert.equal(s.fake.calls.filter((c) => c === 'SendPaymentV2').length, 1, 'one attempt, not retried');
      assert.deepEqual(await store.keys(), [], 'no token and no pending entry left');
      assert.equal(client.spent().totalSats, 0);

      // The command line has the same default: exit 4, the code on stderr, no token file.
      const tokenFile = join(s.dir, 'fee.token');
      const run = await cli(
        [
          'fetch',
          `${s.aperture.url}/api/fee`,
          '--payer',
          'lnd',
          '--lnd-host',
          s.fake.host,
          '--lnd-tls',
          s.tlsPath,
          '--lnd-macaroon',
          s.macaroonPath,
          '--token-file',
          tokenFile,
        ],
        s.dir,
      );
      assert.equal(run.code, 4, run.stderr);
      assert.equal(run.stdout, '');
      const error = JSON.parse(run.stderr.trim()) as { l402_code: string; code: string; status: number };
      assert.equal(error.l402_code, 'L402_ERR_PAY_NO_ROUTE');
      assert.equal(error.code, 'auth_failure');
      assert.equal(error.status, 402);
      assert.ok(!existsSync(tokenFile) || readFileSync(tokenFile).length === 0, 'no token file written');
    } finally {
      await s.close();
    }
  });
});
