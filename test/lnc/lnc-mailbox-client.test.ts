// Lightning Node Connect end to end through OUR hashmail server over real
// sockets: the client's dialler (pairing phrase → stream IDs → gRPC mailbox
// streams → go-back-N → Noise) under the LndInvoicer, and a node side of ours
// (creating the streams, gbn server, Noise responder) serving the fake lnd.
// Pairing with XX, the first call authenticated, an invoice and its settlement;
// the mailbox restarted mid-session (the connection lost, dialled again with
// KK, the settlement made meanwhile reconciled); a mailbox where nobody
// answers failing the dial at its deadline and leaving no stream behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { InvoiceStatus } from '../../src/core/types.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { LndInvoicer } from '../../src/lightning/lnd/index.js';
import { LncDialer } from '../../src/lnc/lnc-dialer.js';
import { LncGrpcTunnel } from '../../src/lnc/lnc-grpc-tunnel.js';
import { HashmailGrpcClient } from '../../src/lnc/mailbox-grpc-client.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { configFrom, deferCleanup, quiet, removeDir, tempBaseDir, type CleanupScope } from '../e2e/support.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { LncNodeSide } from '../fixtures/lnc-node-side.js';

const PHRASE = 'abandon ability able about above absent absorb abstract absurd abuse';
/** Short keepalive so that a lost mailbox is noticed in about a second (the presets: 7 s / 5 s pings, 3 s pong). */
const GBN = { pingMs: 400, pongMs: 400 };

/** Our program with the hashmail server on an insecure listener; restartable on the same port. */
class Mailbox {
  aperture: RunningAperture | undefined;
  port = 0;
  readonly #dir: string;

  constructor(t: CleanupScope) {
    this.#dir = tempBaseDir(t, 'aperture-lnc-mailbox-');
  }

  async start(): Promise<void> {
    const yaml =
      `listenaddr: 127.0.0.1:${this.port}\ninsecure: true\nauthenticator:\n  disable: true\n` +
      `hashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n`;
    this.aperture = await startAperture(configFrom(yaml, this.#dir), { store: new MemoryStore(), logger: quiet });
    this.port = this.aperture.addresses.proxy.port;
  }

  async stop(): Promise<void> {
    await this.aperture?.close();
    this.aperture = undefined;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return this.stop().then(() => removeDir(this.#dir));
  }
}

function nextSettlement(invoicer: LndInvoicer, hash: string): Promise<InvoiceStatus> {
  return new Promise((resolve) => {
    const off = invoicer.onSettled((status) => {
      if (status.paymentHash !== hash) return;
      off();
      resolve(status);
    });
  });
}

async function setUp(t: CleanupScope) {
  const mailbox = new Mailbox(t);
  await mailbox.start();
  deferCleanup(t, () => mailbox.close());
  const fake = await FakeLnd.start();
  deferCleanup(t, () => fake.stop());
  const entropy = pairingPhraseToEntropy(PHRASE);
  const nodeMailbox = new HashmailGrpcClient({ address: mailbox.address, tls: { mode: 'plaintext' }, retryWaitMs: 100 });
  deferCleanup(t, () => nodeMailbox.close());
  const node = new LncNodeSide(nodeMailbox, entropy, fake, fake.invoiceMacaroon, GBN);
  deferCleanup(t, () => node.stop());
  const clientMailbox = new HashmailGrpcClient({ address: mailbox.address, tls: { mode: 'plaintext' }, retryWaitMs: 100 });
  deferCleanup(t, () => clientMailbox.close());
  const keys = { entropy, localStaticSecret: randomBytes(32), remoteStatic: undefined as Uint8Array | undefined };
  const persisted: Buffer[] = [];
  const dialer = new LncDialer({ mailbox: clientMailbox, keys, gbn: GBN, onRemoteStatic: (key) => void persisted.push(key) });
  deferCleanup(t, () => dialer.close());
  const tunnel = await LncGrpcTunnel.open({ dial: dialer.dial });
  deferCleanup(t, () => tunnel.close());
  return { mailbox, fake, node, dialer, keys, persisted, tunnel };
}

describe('LNC through our hashmail server (gRPC mailbox client, gbn, Noise)', () => {
  it('pairs with the phrase, creates an invoice and receives its settlement; the remote key is handed over to persist', async (t) => {
    const { fake, node, dialer, keys, persisted, tunnel } = await setUp(t);
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, backoff: { initialMs: 50, maxMs: 300 } });
    deferCleanup(t, () => invoicer.close());
    // The invoice macaroon may not call GetInfo: the first calls, authenticated, are GetInfo (refused) and ListInvoices.
    assert.deepEqual(fake.calls.slice(0, 2), ['GetInfo', 'ListInvoices']);
    const invoice = await invoicer.createInvoice({ amountSats: 21, memo: 'through the mailbox' });
    assert.equal(fake.invoice(invoice.paymentHash)?.memo, 'through the mailbox');
    const settled = nextSettlement(invoicer, invoice.paymentHash);
    fake.settle(invoice.paymentHash);
    assert.equal((await settled).amountPaidSats, 21);
    assert.deepEqual(dialer.patterns, ['XX']);
    assert.equal(node.accepted, 1);
    // The node's static key, learnt by pairing, is what the next dial uses (KK).
    assert.equal(persisted.length, 1);
    assert.deepEqual(Buffer.from(keys.remoteStatic ?? []), persisted[0]);
    assert.deepEqual(Buffer.from(node.keys.remoteStatic ?? []).length, 33);
  });

  it('the mailbox restarted mid-session: the connection is lost, dialled again (KK), and the settlement made meanwhile arrives', async (t) => {
    const { mailbox, fake, node, dialer, tunnel } = await setUp(t);
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, backoff: { initialMs: 50, maxMs: 300 } });
    deferCleanup(t, () => invoicer.close());
    const invoice = await invoicer.createInvoice({ amountSats: 8 });
    const lost = new Promise<void>((resolve) => {
      const off = invoicer.onHealthChange((health) => {
        if (health.ok) return;
        off();
        resolve();
      });
    });
    await mailbox.stop();
    await lost;
    fake.settle(invoice.paymentHash);
    const settled = nextSettlement(invoicer, invoice.paymentHash);
    await mailbox.start();
    assert.equal((await settled).state, 'settled');
    assert.equal(invoicer.health().ok, true);
    assert.equal(dialer.patterns[0], 'XX');
    assert.ok(dialer.patterns.length >= 2 && dialer.patterns.slice(1).every((p) => p === 'KK'), `patterns ${dialer.patterns.join(',')}`);
    assert.ok(node.accepted >= 2);
  });

  it('a phrase nobody answers: the dial fails at its deadline and leaves no mailbox stream open', async (t) => {
    const mailbox = new Mailbox(t);
    await mailbox.start();
    deferCleanup(t, () => mailbox.close());
    const client = new HashmailGrpcClient({ address: mailbox.address, tls: { mode: 'plaintext' }, retryWaitMs: 100 });
    deferCleanup(t, () => client.close());
    const dialer = new LncDialer({
      mailbox: client,
      keys: { entropy: randomBytes(14), localStaticSecret: randomBytes(32) },
      dialTimeoutMs: 700,
    });
    deferCleanup(t, () => dialer.close());
    const started = Date.now();
    await assert.rejects(dialer.dial(), { code: 'L402_ERR_LNC_HANDSHAKE_TIMEOUT' });
    assert.ok(Date.now() - started < 3000);
    // No stream was created by the client, and its retries stopped: a node side creating the streams now finds them free.
    assert.equal(client.openTransports, 0);
  });
});
