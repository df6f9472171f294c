// The aperture program selling through a Wavelength wallet gateway (the test fake: it checks the macaroon
// and signs real regtest invoices): the binary's 402 carries the gateway's invoice, paying it gives 200,
// the macaroon is never printed. In process: the ledger keeps the challenge pending (no settlement is
// reported) and garbage collection never takes the root key of a token paid that way; strictverify is
// refused at start as the reference refuses it.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { startAperture } from '../../src/app/start-aperture.js';
import { WavelengthInvoicer } from '../../src/lightning/wavelength/index.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { FakeWavelength } from '../fixtures/fake-wavelength.js';
import { h1, startBackend } from '../proxy/support.js';
import { challenge, ledgerRow } from './lnd-support.js';
import { spawnNode } from './spawn.js';
import { TestClock, challengeOf, configFrom, freePort, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

function macaroonFile(dir: string, fake: FakeWavelength): string {
  const file = join(dir, 'wallet.macaroon');
  writeFileSync(file, fake.macaroon);
  chmodSync(file, 0o600);
  return file;
}

describe('aperture with a Wavelength gateway', { timeout: 120_000 }, () => {
  test('the binary: --check-config passes, 402 with the gateway invoice → paid → 200, the macaroon never printed', async (t) => {
    const dir = tempBaseDir(t);
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const fake = await FakeWavelength.start();
    const secret = Buffer.from(fake.macaroon).toString('hex');
    try {
      const config = join(dir, 'aperture.yaml');
      writeFileSync(
        config,
        `listenaddr: 127.0.0.1:${await freePort()}\ninsecure: true\ndebuglevel: debug\nauthenticator:\n  wavelengthgateway: ${fake.url}\n  wavelengthmacaroonpath: ${macaroonFile(dir, fake)}\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 7\n`,
      );
      const check = spawnNode('bin/aperture.js', ['--check-config', '--config', config, '--basedir', dir], {}, t);
      assert.equal(await check.exited, 0, check.output());
      const p = spawnNode('bin/aperture.js', ['--config', config, '--basedir', dir], {}, t);
      const url = (await p.waitFor(/aperture listening on (http:\/\/\S+)/))[1] ?? '';
      await p.waitFor(/^lightning: wavelength at http:\/\/127\.0\.0\.1:\d+ \(settlement not tracked\)/m);
      const challenged = await h1(`${url}/api/x`);
      assert.equal(challenged.status, 402, challenged.body);
      const offer = challengeOf(challenged.headers['www-authenticate']);
      assert.equal(fake.calls.length, 1);
      assert.deepEqual(fake.calls[0], { body: { amt_sat: 7, memo: 'aperture: api' }, macaroon: secret });
      const paid = await fake.node.pay(offer.invoice, 0n);
      assert.equal(paid.amountMsat, 7000n);
      const ok = await h1(`${url}/api/x`, { headers: { authorization: `L402 ${offer.macaroon}:${paid.preimage}` } });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, 'ok /api/x');
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.output());
      assert.ok(!p.output().includes(secret), 'the macaroon is never printed');
      assert.ok(!check.output().includes(secret), 'the macaroon is never printed');
    } finally {
      await fake.server.close();
      await backend.close();
    }
  });

  test('the ledger keeps a paid Wavelength token pending and garbage collection never takes its root key', async (t) => {
    const dir = tempBaseDir(t);
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const fake = await FakeWavelength.start();
    const clock = new TestClock(Date.now());
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  wavelengthgateway: ${fake.url}\n  wavelengthmacaroonpath: ${macaroonFile(dir, fake)}\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 3\n`;
    const aperture = await startAperture(configFrom(yaml, dir), { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false });
    try {
      assert.ok(aperture.invoicer instanceof WavelengthInvoicer);
      assert.equal(await aperture.reconciled, 0);
      const c = await challenge(aperture);
      const paid = await fake.node.pay(c.invoice, 0n);
      const authorization = `L402 ${c.macaroon}:${paid.preimage}`;
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status, 200);
      assert.equal((await ledgerRow(aperture, c.paymentHash))?.state, 'pending', 'no settlement is reported');
      // Days later, long past the invoice's expiry and the GC grace.
      clock.advance(3 * 24 * 3600_000);
      assert.deepEqual(await aperture.collectGarbage(), { rootKeys: 0, transactions: 0, charges: 0 });
      assert.ok((await ledgerRow(aperture, c.paymentHash)) !== undefined, 'the row is kept');
      const again = await h1(`${aperture.url}/api/x`, { headers: { authorization } });
      assert.equal(again.status, 200, 'the paid token still works');
    } finally {
      await aperture.close();
      await fake.server.close();
      await backend.close();
    }
  });

  test('a Payment (MPP) charge is served: the invoice from the gateway, paid, one request answered', async (t) => {
    const dir = tempBaseDir(t);
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const fake = await FakeWavelength.start();
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  wavelengthgateway: ${fake.url}\n  wavelengthmacaroonpath: ${macaroonFile(dir, fake)}\n  enablempp: true\n  network: regtest\n  mpprealm: api.example.test\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 4\n    authscheme: mpp\n`;
    const aperture = await startAperture(configFrom(yaml, dir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
      mppSweepIntervalMs: 0,
    });
    try {
      const res = await h1(`${aperture.url}/api/x`);
      assert.equal(res.status, 402, res.body);
      const offers = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders).filter((l) => l.startsWith('Payment ')));
      const charge = offers.find((c) => c.intent === 'charge') as PaymentChallenge;
      assert.ok(charge !== undefined, 'a charge is offered');
      assert.equal(
        offers.find((c) => c.intent === 'session'),
        undefined,
        'no session without a payer',
      );
      const request = JSON.parse(Buffer.from(charge.request, 'base64url').toString('utf8')) as { methodDetails: { invoice: string } };
      assert.equal(fake.calls.at(-1)?.body['amt_sat'], 4);
      const paid = await fake.node.pay(request.methodDetails.invoice, 0n);
      const authorization = `Payment ${encodePaymentCredential({ challenge: charge, payload: { preimage: paid.preimage } })}`;
      const ok = await h1(`${aperture.url}/api/x`, { headers: { authorization } });
      assert.equal(ok.status, 200, ok.body);
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status, 402, 'a charge buys one request');
    } finally {
      await aperture.close();
      await fake.server.close();
      await backend.close();
    }
  });

  test('a macaroon file open to group or others is reported at start, by path', { skip: process.platform === 'win32' }, async (t) => {
    const dir = tempBaseDir(t);
    const fake = await FakeWavelength.start();
    const file = macaroonFile(dir, fake);
    chmodSync(file, 0o644);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  wavelengthgateway: ${fake.url}\n  wavelengthmacaroonpath: ${file}\nservices: []\n`;
    const aperture = await startAperture(configFrom(yaml, dir), {
      logger: createLogger('info', sink),
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    try {
      const output = lines.join('');
      assert.match(output, new RegExp(`chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.ok(!output.includes(Buffer.from(fake.macaroon).toString('hex')), 'the macaroon is never logged');
    } finally {
      await aperture.close();
      await fake.server.close();
    }
  });

  test('strictverify with a backend that reports no settlement is refused at start (L402_ERR_CONFIG_INVALID)', async (t) => {
    const dir = tempBaseDir(t);
    const fake = await FakeWavelength.start();
    try {
      const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\nservices: []\n`;
      const config = configFrom(yaml, dir);
      config.strictVerify = true;
      const invoicer = await WavelengthInvoicer.connect({ gateway: fake.url, macaroon: fake.macaroon });
      try {
        await assert.rejects(startAperture(config, { logger: quiet, invoicer, gcIntervalMs: 0, defaultMetrics: false }), {
          code: 'L402_ERR_CONFIG_INVALID',
          message: /strictverify/,
        });
      } finally {
        await invoicer.close();
      }
    } finally {
      await fake.server.close();
    }
  });
});
