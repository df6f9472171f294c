// The aperture program with lnd over Lightning Node Connect: a paid request
// whose invoice came through OUR hashmail server (a second aperture on a TLS
// listener, reached with devserver) from a node side of ours serving the fake
// lnd. The first start pairs with the phrase and keeps the session in its
// SQLite store; a restart on the same base directory reaches the node with the
// stored keys (the node side no longer answers the phrase). With enablesessions,
// an MPP session's refund is paid over the same LNC connection (the fake lnd pays).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { after, before, describe, test } from 'node:test';
import { startAperture } from '../../src/app/start-aperture.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import { lncSessionStoreOf } from '../../src/store/lnc-session-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { h1, startBackend } from '../proxy/support.js';
import { lncProgramYaml, serveNodeOverMailbox } from './lnc-support.js';
import { authorizationFor, challenge } from './lnd-support.js';
import { configFrom, deferCleanup, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

const PHRASE = 'ability abandon able about above absent absorb abstract absurd abuse';

describe('aperture with lnd over Lightning Node Connect', { timeout: 120_000 }, () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  before(async () => {
    backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
  });
  after(async () => {
    await backend.close();
  });

  test('a paid request whose invoice came over LNC through our mailbox; a restart uses the stored pairing', async (t) => {
    const mailboxDir = tempBaseDir(t, 'aperture-lnc-mailbox-');
    const mailbox = await startAperture(
      configFrom(
        'listenaddr: 127.0.0.1:0\nauthenticator:\n  disable: true\nhashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n',
        mailboxDir,
      ),
      { store: new MemoryStore(), logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
    );
    deferCleanup(t, () => mailbox.close());
    const address = `localhost:${mailbox.addresses.proxy.port}`;
    const fake = await FakeLnd.start();
    deferCleanup(t, () => fake.stop());
    const node = serveNodeOverMailbox(t, address, PHRASE, fake, fake.invoiceMacaroon);

    const dir = tempBaseDir(t, 'aperture-lnc-proxy-');
    const yaml = lncProgramYaml(PHRASE, address, backend.address);
    const start = () => startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });

    const first = await start();
    try {
      const c = await challenge(first);
      assert.equal(fake.invoice(c.paymentHash)?.value_msat, 10_000n, 'the invoice was created by the node over LNC');
      fake.settle(c.paymentHash);
      const res = await h1(`${first.url}/api/x`, { headers: { authorization: authorizationFor(fake, c) } });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'ok /api/x');
      const row = await lncSessionStoreOf(first.store)?.getLncSession(pairingPhraseToEntropy(PHRASE));
      assert.equal(row?.remoteStaticPubKey?.length, 33, 'the pairing is stored');
    } finally {
      await first.close();
    }

    const second = await start();
    try {
      const c = await challenge(second);
      assert.ok(fake.invoice(c.paymentHash));
      assert.equal(node.accepted, 2);
    } finally {
      await second.close();
    }
  });

  test('enablesessions: a session opened and closed, its refund paid over the same LNC connection', async (t) => {
    const mailboxDir = tempBaseDir(t, 'aperture-lnc-mailbox-');
    const mailbox = await startAperture(
      configFrom(
        'listenaddr: 127.0.0.1:0\nauthenticator:\n  disable: true\nhashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n',
        mailboxDir,
      ),
      { store: new MemoryStore(), logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
    );
    deferCleanup(t, () => mailbox.close());
    const address = `localhost:${mailbox.addresses.proxy.port}`;
    const wallet = new DevInvoicer({ onWarning: () => undefined });
    deferCleanup(t, () => wallet.close());
    const fake = await FakeLnd.start({ payee: async (pr) => (await wallet.pay(pr)).preimage });
    deferCleanup(t, () => fake.stop());
    // The session's macaroon may pay (litd's admin session).
    const node = serveNodeOverMailbox(t, address, PHRASE, fake, fake.macaroon);

    const dir = tempBaseDir(t, 'aperture-lnc-sessions-');
    const yaml = `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  passphrase: ${PHRASE}
  mailboxaddress: ${address}
  devserver: true
  network: regtest
  enablempp: true
  enablesessions: true
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 3
    authscheme: mpp
`;
    // Warnings kept for the failure message (a refund that fails says why there).
    const warnings: string[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        warnings.push(chunk.toString());
        callback();
      },
    });
    const aperture = await startAperture(configFrom(yaml, dir), {
      logger: createLogger('warn', sink),
      gcIntervalMs: 0,
      defaultMetrics: false,
    });
    deferCleanup(t, () => aperture.close());
    const res = await h1(`${aperture.url}/api/x`);
    assert.equal(res.status, 402);
    const session = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders)).find((c) => c.intent === 'session') as PaymentChallenge;
    const request = JSON.parse(Buffer.from(session.request, 'base64url').toString('utf8')) as {
      paymentHash: string;
      depositAmount: string;
    };
    assert.equal(request.depositAmount, '60');
    const preimage = fake.invoice(request.paymentHash)?.r_preimage.toString('hex') as string;
    assert.ok(preimage, 'the deposit invoice was created by the node over LNC');
    fake.settle(request.paymentHash);
    const returnInvoice = await wallet.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
    const auth = (payload: Record<string, unknown>): { authorization: string } => ({
      authorization: `Payment ${encodePaymentCredential({ challenge: session, payload })}`,
    });
    const open = await h1(`${aperture.url}/api/x`, {
      headers: auth({ action: 'open', preimage, returnInvoice: returnInvoice.paymentRequest }),
    });
    assert.equal(open.status, 200, open.body);
    const close = await h1(`${aperture.url}/api/x`, { headers: auth({ action: 'close', sessionId: request.paymentHash, preimage }) });
    assert.equal(close.status, 200, close.body);
    const receipt = decodePaymentReceipt(close.headers['payment-receipt'] as string);
    assert.equal(receipt['refundSats'], 60 - 2 * 3);
    assert.equal(receipt['refundStatus'], 'succeeded', warnings.join(''));
    assert.equal((await wallet.lookupInvoice(returnInvoice.paymentHash)).state, 'settled');
    assert.equal(String(fake.lastPaymentRequest?.['amt']), '54', 'the fake lnd paid the balance over LNC');
    assert.equal(node.accepted, 1, 'the invoicer and the refund payer shared one LNC connection');
  });

  test('refused on the memory store: the pairing would not survive a restart (L402_ERR_CONFIG_INVALID), and nothing is left open', async (t) => {
    const dir = tempBaseDir(t, 'aperture-lnc-memory-');
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  passphrase: ${PHRASE}\n  mailboxaddress: 127.0.0.1:1\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: ${backend.address}\n    price: 1\n`;
    await assert.rejects(
      startAperture(configFrom(yaml, dir), { store: new MemoryStore(), logger: quiet, gcIntervalMs: 0, defaultMetrics: false }),
      (error: unknown) => {
        assert.equal((error as { code: string }).code, 'L402_ERR_CONFIG_INVALID');
        assert.match((error as Error).message, /SQLite or PostgreSQL store/);
        return true;
      },
    );
  });
});
