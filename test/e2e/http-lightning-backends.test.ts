// The aperture binary selling through Core Lightning (clnrest), LNbits and phoenixd: a 402 whose
// invoice comes from the backend, paid with the same backend's Payer, then 200; the credential is
// read from a file (cln, lnbits) or ${ENV} (phoenixd) and never printed. Backends are the test fakes.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Payer } from '../../src/core/types.js';
import { ClnPayer } from '../../src/lightning/cln/index.js';
import { LnbitsPayer } from '../../src/lightning/lnbits/index.js';
import { PhoenixdPayer } from '../../src/lightning/phoenixd/index.js';
import { FakeClnRest } from '../fixtures/fake-clnrest.js';
import { FakeLnbits } from '../fixtures/fake-lnbits.js';
import { FakePhoenixd } from '../fixtures/fake-phoenixd.js';
import { FakeNostrRelay } from '../fixtures/fake-nostr-relay.js';
import { FakeNwcWallet } from '../fixtures/fake-nwc-wallet.js';
import { NwcPayer } from '../../src/lightning/nwc/index.js';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { challengeOf, freePort, tempBaseDir } from './support.js';

interface Case {
  name: string;
  start(dir: string): Promise<{
    yaml: string;
    env: Record<string, string>;
    secret: string;
    payer: Payer & { close(): Promise<void> };
    invoiceExists(hash: string): boolean;
    stop(): Promise<void>;
  }>;
}

function secretFile(dir: string, name: string, value: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${value}\n`);
  chmodSync(file, 0o600);
  return file;
}

const CASES: Case[] = [
  {
    name: 'cln',
    async start(dir) {
      const fake = await FakeClnRest.start();
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, fake.caCert);
      return {
        yaml: `  backend: cln\n  clnresturl: ${fake.url}\n  clnrunefile: ${secretFile(dir, 'rune', fake.rune)}\n  clncacertpath: ${ca}\n`,
        env: {},
        secret: fake.rune,
        payer: new ClnPayer({ url: fake.url, rune: fake.rune, caCert: fake.caCert }),
        invoiceExists: (hash) => fake.node.invoices.has(hash),
        stop: () => fake.server.close(),
      };
    },
  },
  {
    name: 'lnbits',
    async start(dir) {
      const fake = await FakeLnbits.start();
      return {
        yaml: `  backend: lnbits\n  lnbitsurl: ${fake.url}\n  lnbitsinvoicekeyfile: ${secretFile(dir, 'inkey', fake.invoiceKey)}\n`,
        env: {},
        secret: fake.invoiceKey,
        payer: new LnbitsPayer({ url: fake.url, adminKey: fake.adminKey, pollIntervalMs: 10 }),
        invoiceExists: (hash) => fake.node.invoices.has(hash),
        stop: () => fake.server.close(),
      };
    },
  },
  {
    name: 'phoenixd',
    async start() {
      const fake = await FakePhoenixd.start();
      return {
        yaml: `  backend: phoenixd\n  phoenixdurl: ${fake.url}\n  phoenixdpassword: "\${PHOENIXD_PASSWORD}"\n`,
        env: { PHOENIXD_PASSWORD: fake.limitedPassword },
        secret: fake.limitedPassword,
        payer: new PhoenixdPayer({ url: fake.url, password: fake.password }),
        invoiceExists: (hash) => fake.node.invoices.has(hash),
        stop: () => fake.server.close(),
      };
    },
  },
  {
    name: 'nwc',
    async start(dir) {
      const relay = await FakeNostrRelay.start();
      const wallet = await FakeNwcWallet.start(relay.url);
      return {
        yaml: `  backend: nwc\n  nwcurifile: ${secretFile(dir, 'nwc-uri', wallet.uri())}\n`,
        env: {},
        secret: Buffer.from(wallet.clientSecret).toString('hex'),
        payer: new NwcPayer({ uri: wallet.uri() }),
        invoiceExists: (hash) => wallet.node.invoices.has(hash),
        stop: async () => {
          wallet.close();
          await relay.server.close();
        },
      };
    },
  },
];

describe('the aperture binary with an HTTP Lightning backend', { timeout: 120_000 }, () => {
  for (const c of CASES) {
    test(`${c.name}: 402 with the backend's invoice → paid with its Payer → 200`, async (t) => {
      const dir = tempBaseDir(t);
      const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
      const ln = await c.start(dir);
      try {
        const config = join(dir, 'aperture.yaml');
        writeFileSync(
          config,
          `listenaddr: 127.0.0.1:${await freePort()}\ninsecure: true\ndebuglevel: debug\nauthenticator:\n${ln.yaml}services:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 7\n`,
        );
        const check = spawnNode('bin/aperture.js', ['--check-config', '--config', config, '--basedir', dir], ln.env, t);
        assert.equal(await check.exited, 0, check.output());
        const p = spawnNode('bin/aperture.js', ['--config', config, '--basedir', dir], ln.env, t);
        const url = (await p.waitFor(/aperture listening on (http:\/\/\S+)/))[1] ?? '';
        await p.waitFor(new RegExp(`^lightning: ${c.name}( at http|\\b)`, 'm'));
        const challenged = await h1(`${url}/api/x`);
        assert.equal(challenged.status, 402, challenged.body);
        const offer = challengeOf(challenged.headers['www-authenticate']);
        const paid = await ln.payer.payInvoice(offer.invoice, { maxFeeSats: 10 });
        assert.ok(ln.invoiceExists(paid.paymentHash), 'the invoice came from the backend');
        assert.equal(paid.amountSats, 7);
        const ok = await h1(`${url}/api/x`, { headers: { authorization: `L402 ${offer.macaroon}:${paid.preimage}` } });
        assert.equal(ok.status, 200);
        assert.equal(ok.body, 'ok /api/x');
        p.child.kill('SIGTERM');
        assert.equal(await p.exited, 0, p.output());
        assert.ok(!p.output().includes(ln.secret), 'the credential is never printed');
        assert.ok(!check.output().includes(ln.secret), 'the credential is never printed');
      } finally {
        await ln.payer.close();
        await ln.stop();
        await backend.close();
      }
    });
  }

  test('a refused credential stops the start with a coded error', async (t) => {
    const dir = tempBaseDir(t);
    const fake = await FakeLnbits.start();
    try {
      const config = join(dir, 'aperture.yaml');
      writeFileSync(
        config,
        `listenaddr: 127.0.0.1:${await freePort()}\ninsecure: true\nauthenticator:\n  backend: lnbits\n  lnbitsurl: ${fake.url}\n  lnbitsinvoicekey: wrong-key\nservices: []\n`,
      );
      const p = spawnNode('bin/aperture.js', ['--config', config, '--basedir', dir], {}, t);
      assert.equal(await p.exited, 1, p.output());
      assert.match(p.output(), /L402_ERR_LN_AUTH_REFUSED/);
      assert.doesNotMatch(p.output(), /aperture listening/);
    } finally {
      await fake.server.close();
    }
  });
});

describe('aperture with phoenixd going away and coming back', { timeout: 120_000 }, () => {
  test('503 for new challenges, paid tokens keep working, a payment made meanwhile reaches the ledger', async (t) => {
    const { startAperture } = await import('../../src/app/start-aperture.js');
    const { configFrom, quiet } = await import('./support.js');
    const { ledgerRow, settledInLedger } = await import('./lnd-support.js');
    const dir = tempBaseDir(t);
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const fake = await FakePhoenixd.start();
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: phoenixd\n  phoenixdurl: ${fake.url}\n  phoenixdpassword: ${fake.limitedPassword}\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 4\n`;
    const aperture = await startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    const invoicer = aperture.invoicer;
    assert.ok(invoicer !== undefined);
    const settled = (hash: string): Promise<void> =>
      new Promise((resolve) => {
        const off = invoicer.onSettled((s) => {
          if (s.paymentHash !== hash) return;
          off();
          resolve();
        });
      });
    const challenge = async (): Promise<{ macaroon: string; invoice: string; hash: string }> => {
      const res = await h1(`${aperture.url}/api/x`);
      assert.equal(res.status, 402, res.body);
      const offer = challengeOf(res.headers['www-authenticate']);
      const hash = [...fake.node.invoices.values()].find((i) => i.bolt11 === offer.invoice)?.paymentHash;
      assert.ok(hash !== undefined, 'the invoice came from phoenixd');
      return { ...offer, hash };
    };
    try {
      const a = await challenge();
      const settledA = settled(a.hash);
      fake.node.settle(a.hash);
      await settledA;
      await settledInLedger(aperture, a.hash);
      const authA = `L402 ${a.macaroon}:${fake.node.invoices.get(a.hash)?.preimage ?? ''}`;
      const b = await challenge();

      await fake.server.stop();
      const down = await h1(`${aperture.url}/api/x`);
      assert.equal(down.status, 503);
      assert.match(down.body, /L402_ERR_LN_UNAVAILABLE/);
      assert.equal(
        (await h1(`${aperture.url}/api/x`, { headers: { authorization: authA } })).status,
        200,
        'a paid token works while phoenixd is down',
      );

      // Paid while aperture cannot hear of it; found by the lookup after the reconnect.
      fake.node.settle(b.hash);
      const settledB = settled(b.hash);
      await fake.server.start();
      await settledB;
      assert.equal((await settledInLedger(aperture, b.hash)).state, 'settled');
      assert.equal((await ledgerRow(aperture, a.hash))?.state, 'settled');
      assert.equal((await h1(`${aperture.url}/api/x`)).status, 402, 'challenges again once phoenixd is back');
    } finally {
      await aperture.close();
      await fake.server.close();
      await backend.close();
    }
  });
});

describe('aperture with Core Lightning and strictverify', { timeout: 120_000 }, () => {
  test('settled invoices load page by page at start; a right preimage of an unpaid invoice is refused until CLN reports it paid', async (t) => {
    const { startAperture } = await import('../../src/app/start-aperture.js');
    const { configFrom, quiet } = await import('./support.js');
    const dir = tempBaseDir(t);
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const fake = await FakeClnRest.start();
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, fake.caCert);
    const yaml = (strict: boolean): string =>
      `listenaddr: 127.0.0.1:0\ninsecure: true\n${strict ? 'strictverify: true\ninvoicebatchsize: 2\n' : ''}authenticator:\n  backend: cln\n  clnresturl: ${fake.url}\n  clnrune: ${fake.rune}\n  clncacertpath: ${ca}\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 3\n`;
    const challenge = async (url: string): Promise<{ auth: string; hash: string }> => {
      const res = await h1(`${url}/api/x`);
      assert.equal(res.status, 402, res.body);
      const offer = challengeOf(res.headers['www-authenticate']);
      const invoice = [...fake.node.invoices.values()].find((i) => i.bolt11 === offer.invoice);
      assert.ok(invoice !== undefined);
      return { auth: `L402 ${offer.macaroon}:${invoice.preimage}`, hash: invoice.paymentHash };
    };
    try {
      const loose = await startAperture(configFrom(yaml(false), dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
      const early: Array<{ auth: string; hash: string }> = [];
      try {
        for (let i = 0; i < 5; i++) early.push(await challenge(loose.url));
      } finally {
        await loose.close();
      }
      fake.node.settle(early[0]!.hash);
      fake.node.settle(early[4]!.hash);
      const listsBefore = fake.calls.filter((c) => c === 'listinvoices').length;
      const strict = await startAperture(configFrom(yaml(true), dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
      try {
        assert.ok(fake.calls.filter((c) => c === 'listinvoices').length - listsBefore >= 3, 'pages of 2');
        assert.equal((await h1(`${strict.url}/api/x`, { headers: { authorization: early[0]!.auth } })).status, 200);
        assert.equal((await h1(`${strict.url}/api/x`, { headers: { authorization: early[4]!.auth } })).status, 200);
        assert.notEqual((await h1(`${strict.url}/api/x`, { headers: { authorization: early[2]!.auth } })).status, 200, 'unpaid: refused');
        const invoicer = strict.invoicer;
        assert.ok(invoicer !== undefined);
        const settled = new Promise<void>((resolve) => invoicer.onSettled((s) => s.paymentHash === early[2]!.hash && resolve()));
        fake.node.settle(early[2]!.hash);
        await settled;
        assert.equal((await h1(`${strict.url}/api/x`, { headers: { authorization: early[2]!.auth } })).status, 200, 'paid now');
      } finally {
        await strict.close();
      }
    } finally {
      await fake.server.close();
      await backend.close();
    }
  });
});
