// The Payment scheme's session refunds through the remote backends: the program selling through
// Core Lightning (clnrest), phoenixd or Nostr Wallet Connect (the test fakes of their APIs), with
// the paying credential (`clnpayrunefile`, `phoenixdpaypassword`, `nwcpayurifile`), opens a session
// and, on close, pays the balance to the client's amountless return invoice with the amount in the
// backend's own field (`amount_msat`, `amountSat`, NIP-47 `amount`). Each backend through
// `startAperture`, and Core Lightning through the spawned `aperture` binary too.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startAperture } from '../../src/app/start-aperture.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { FakeClnRest } from '../fixtures/fake-clnrest.js';
import { FakeNostrRelay } from '../fixtures/fake-nostr-relay.js';
import { FakeNwcWallet } from '../fixtures/fake-nwc-wallet.js';
import { FakePhoenixd } from '../fixtures/fake-phoenixd.js';
import type { FakeWalletNode } from '../fixtures/fake-wallet-node.js';
import { payThrough } from '../lightning/payer.conformance.js';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { configFrom, freePort, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

interface Backend {
  /** The `authenticator` keys of the backend, its paying credential included. */
  yaml: string;
  env: Record<string, string>;
  node: FakeWalletNode;
  stop(): Promise<void>;
}

function secretFile(dir: string, name: string, value: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${value}\n`);
  chmodSync(file, 0o600);
  return file;
}

/**
 * A session on `url` (price 3, deposit 60): the deposit invoice (issued by the backend `node`) paid,
 * the session opened with an amountless return invoice of `wallet` and closed after one request;
 * the balance must reach the return invoice through the backend.
 */
async function refundedSession(url: string, node: FakeWalletNode, wallet: DevInvoicer): Promise<void> {
  const res = await h1(`${url}/x`);
  assert.equal(res.status, 402, res.body);
  const session = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders)).find((x) => x.intent === 'session') as PaymentChallenge;
  assert.ok(session !== undefined, 'a session challenge');
  const request = JSON.parse(Buffer.from(session.request, 'base64url').toString('utf8')) as {
    paymentHash: string;
    depositAmount: string;
  };
  assert.equal(request.depositAmount, '60');
  // The client pays the deposit invoice, which the backend issued.
  const deposit = node.settle(request.paymentHash);
  const returnInvoice = await wallet.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
  const auth = (payload: Record<string, unknown>): { authorization: string } => ({
    authorization: `Payment ${encodePaymentCredential({ challenge: session, payload })}`,
  });
  const open = await h1(`${url}/x`, {
    headers: auth({ action: 'open', preimage: deposit.preimage, returnInvoice: returnInvoice.paymentRequest }),
  });
  assert.equal(open.status, 200, open.body);
  const close = await h1(`${url}/x`, {
    headers: auth({ action: 'close', sessionId: request.paymentHash, preimage: deposit.preimage }),
  });
  assert.equal(close.status, 200, close.body);
  const receipt = decodePaymentReceipt(close.headers['payment-receipt'] as string);
  assert.equal(receipt['refundSats'], 60 - 2 * 3);
  assert.equal(receipt['refundStatus'], 'succeeded');
  const paid = await wallet.lookupInvoice(returnInvoice.paymentHash);
  assert.equal(paid.state, 'settled');
  assert.equal(paid.amountPaidSats, 54, 'the return invoice received exactly the balance');
  assert.equal(node.payments.get(returnInvoice.paymentHash)?.amountMsat, 54_000n, 'the backend paid the balance it was asked');
}

const CASES: Array<{ name: string; start(dir: string, wallet: DevInvoicer): Promise<Backend> }> = [
  {
    name: 'cln',
    async start(dir, wallet) {
      const fake = await FakeClnRest.start({ payee: payThrough(wallet) });
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, fake.caCert);
      return {
        yaml: `  backend: cln\n  clnresturl: ${fake.url}\n  clnrune: "\${CLN_RUNE}"\n  clncacertpath: ${ca}\n  clnpayrunefile: ${secretFile(dir, 'pay-rune', fake.rune)}\n`,
        env: { CLN_RUNE: fake.rune },
        node: fake.node,
        stop: () => fake.server.close(),
      };
    },
  },
  {
    name: 'phoenixd',
    async start(_dir, wallet) {
      const fake = await FakePhoenixd.start({ payee: payThrough(wallet) });
      return {
        // Selling with the limited-access password, paying refunds with the full one.
        yaml: `  backend: phoenixd\n  phoenixdurl: ${fake.url}\n  phoenixdpassword: ${fake.limitedPassword}\n  phoenixdpaypassword: "\${PHOENIXD_PASSWORD}"\n`,
        env: { PHOENIXD_PASSWORD: fake.password },
        node: fake.node,
        stop: () => fake.server.close(),
      };
    },
  },
  {
    name: 'nwc',
    async start(dir, wallet) {
      const relay = await FakeNostrRelay.start();
      const service = await FakeNwcWallet.start(relay.url, { payee: payThrough(wallet) });
      return {
        yaml: `  backend: nwc\n  nwcurifile: ${secretFile(dir, 'nwc-uri', service.uri())}\n  nwcpayurifile: ${secretFile(dir, 'nwc-pay-uri', service.uri())}\n`,
        env: {},
        node: service.node,
        stop: async () => {
          service.close();
          await relay.server.close();
        },
      };
    },
  },
];

describe('MPP sessions refunded through a remote Lightning backend', { timeout: 60_000 }, () => {
  for (const c of CASES) {
    test(`${c.name}: a session opened and closed pays its balance to the amountless return invoice`, async (t) => {
      const wallet = new DevInvoicer({ onWarning: () => undefined });
      const dir = tempBaseDir(t);
      const ln = await c.start(dir, wallet);
      const backend = await startBackend((_req, res) => res.end('ok'));
      let aperture: Awaited<ReturnType<typeof startAperture>> | undefined;
      t.after(async () => {
        await aperture?.close();
        await backend.close();
        await ln.stop();
        await wallet.close();
      });
      const yaml = `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  network: regtest
${ln.yaml}  enablempp: true
  enablesessions: true
services:
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 3
    authscheme: mpp
`;
      const saved = { ...process.env };
      Object.assign(process.env, ln.env);
      try {
        aperture = await startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
      } finally {
        for (const key of Object.keys(ln.env)) {
          if (saved[key] === undefined) delete process.env[key];
          else process.env[key] = saved[key];
        }
      }

      await refundedSession(aperture.url, ln.node, wallet);
    });
  }
});

describe('the aperture binary with MPP sessions on Core Lightning', { timeout: 120_000 }, () => {
  test('--check-config passes, a session is refunded through clnrest, and the runes are never printed', async (t) => {
    const wallet = new DevInvoicer({ onWarning: () => undefined });
    const dir = tempBaseDir(t);
    const ln = await (CASES.find((c) => c.name === 'cln') as (typeof CASES)[number]).start(dir, wallet);
    const backend = await startBackend((_req, res) => res.end('ok'));
    try {
      const config = join(dir, 'aperture.yaml');
      writeFileSync(
        config,
        `listenaddr: 127.0.0.1:${await freePort()}\ninsecure: true\ndebuglevel: debug\nauthenticator:\n  network: regtest\n${ln.yaml}  enablempp: true\n  enablesessions: true\nservices:\n  - name: api\n    hostregexp: '.*'\n    address: ${backend.address}\n    price: 3\n    authscheme: mpp\n`,
      );
      const check = spawnNode('bin/aperture.js', ['--check-config', '--config', config, '--basedir', dir], ln.env, t);
      assert.equal(await check.exited, 0, check.output());
      const p = spawnNode('bin/aperture.js', ['--config', config, '--basedir', dir], ln.env, t);
      const url = (await p.waitFor(/aperture listening on (http:\/\/\S+)/))[1] ?? '';
      await refundedSession(url, ln.node, wallet);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.output());
      for (const out of [p.output(), check.output()]) assert.ok(!out.includes(ln.env['CLN_RUNE'] as string), 'the rune is never printed');
    } finally {
      await backend.close();
      await ln.stop();
      await wallet.close();
    }
  });
});
