// lnd's gRPC over the Noise stream of Lightning Node Connect, end to end in
// memory: the LndInvoicer, unchanged, reaches the fake lnd through the LNC gRPC
// tunnel; each connection is a fresh in-memory message pipe with the Noise
// handshake (XX with the pairing secret first, KK once both sides hold each
// other's key) and a node side serving the fake lnd over HTTP/2 on the stream.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import type { InvoiceStatus } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';
import { LndInvoicer, LndPayer } from '../../src/lightning/lnd/index.js';
import { createLndClients, serverStream, unary } from '../../src/lightning/lnd/lnd-grpc.js';
import { LncGrpcTunnel, authDataToMetadata, type LncDialResult } from '../../src/lnc/lnc-grpc-tunnel.js';
import { openNoiseStream } from '../../src/lnc/noise-stream.js';
import { pairingPhraseToEntropy, stretchPairingEntropy } from '../../src/lnc/pairing-phrase.js';
import { FakeLnd, type FakeLndOptions } from '../fixtures/fake-lnd.js';
import { deferCleanup } from '../fixtures/cleanup.js';
import { messagePipe, type PipeEnd } from '../fixtures/lnc-message-pipe.js';

const PHRASE = 'abandon ability able about above absent absorb abstract absurd abuse';

/** A node side standing in for litd, and the client's dialler, sharing the pairing state. */
class Session {
  readonly clientKey = randomBytes(32);
  readonly nodeKey = randomBytes(32);
  clientKnowsNode: Buffer | undefined;
  nodeKnowsClient: Buffer | undefined;
  readonly patterns: string[] = [];
  /** The client end of the current connection's pipe. */
  current: PipeEnd | undefined;
  refuse: Error | undefined;

  constructor(
    readonly fake: FakeLnd,
    readonly secret: Buffer,
    readonly authData: Buffer,
  ) {}

  dial = async (): Promise<LncDialResult> => {
    if (this.refuse !== undefined) throw this.refuse;
    const [a, b] = messagePipe({ recutAfter: this.clientKnowsNode === undefined ? 2 : 1, seed: this.patterns.length + 3 });
    this.current = a;
    this.patterns.push(this.clientKnowsNode === undefined ? 'XX' : 'KK');
    const [client, node] = await Promise.all([
      openNoiseStream(a, {
        initiator: true,
        localStaticSecret: this.clientKey,
        remoteStatic: this.clientKnowsNode,
        pairingSecret: this.secret,
      }),
      openNoiseStream(b, {
        initiator: false,
        localStaticSecret: this.nodeKey,
        remoteStatic: this.nodeKnowsClient,
        pairingSecret: this.secret,
        authData: this.authData,
      }),
    ]);
    if (client.handshake.persistRemote) this.clientKnowsNode = client.handshake.remoteStatic;
    if (node.handshake.persistRemote) this.nodeKnowsClient = node.handshake.remoteStatic;
    this.fake.serve(node.stream);
    return { stream: client.stream, authData: client.handshake.authData };
  };
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

async function setUp(t: { after(fn: () => unknown): void }, macaroon?: (fake: FakeLnd) => Buffer, options?: FakeLndOptions) {
  const fake = await FakeLnd.start(options);
  deferCleanup(t, () => fake.stop());
  const secret = await stretchPairingEntropy(pairingPhraseToEntropy(PHRASE));
  const session = new Session(fake, secret, Buffer.from(`Macaroon: ${(macaroon ?? ((f) => f.invoiceMacaroon))(fake).toString('hex')}`));
  const tunnel = await LncGrpcTunnel.open({ dial: session.dial });
  deferCleanup(t, () => tunnel.close());
  return { fake, session, tunnel };
}

describe('LndInvoicer over Lightning Node Connect (in memory)', () => {
  it('pairs, creates an invoice and receives its settlement; the first call already carries the macaroon', async (t) => {
    const { fake, session, tunnel } = await setUp(t);
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, backoff: { initialMs: 20, maxMs: 200 } });
    deferCleanup(t, () => invoicer.close());
    // The invoice macaroon may not call GetInfo: the invoicer falls back to ListInvoices, authenticated from the first call.
    assert.deepEqual(fake.calls.slice(0, 2), ['GetInfo', 'ListInvoices']);
    assert.equal(invoicer.health().ok, true);
    const invoice = await invoicer.createInvoice({ amountSats: 21, memo: 'over LNC' });
    assert.equal(fake.invoice(invoice.paymentHash)?.memo, 'over LNC');
    const settled = nextSettlement(invoicer, invoice.paymentHash);
    fake.settle(invoice.paymentHash);
    assert.equal((await settled).amountPaidSats, 21);
    assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'settled');
    // One LNC connection carries both services.
    assert.deepEqual(session.patterns, ['XX']);
  });

  it('a dropped LNC connection fails the subscription; the invoicer dials again (KK now) and gets the settlement it missed', async (t) => {
    const { fake, session, tunnel } = await setUp(t, (f) => f.macaroon);
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, backoff: { initialMs: 20, maxMs: 200 } });
    deferCleanup(t, () => invoicer.close());
    const invoice = await invoicer.createInvoice({ amountSats: 5 });
    const lost = new Promise<void>((resolve) => {
      const off = invoicer.onHealthChange((health) => {
        if (health.ok) return;
        off();
        resolve();
      });
    });
    session.current?.fail(new Error('no pong received'));
    await lost;
    fake.settle(invoice.paymentHash);
    const status = await nextSettlement(invoicer, invoice.paymentHash);
    assert.equal(status.state, 'settled');
    assert.equal(invoicer.health().ok, true);
    assert.deepEqual(session.patterns.slice(0, 2), ['XX', 'KK']);
  });

  it('a large response (ListInvoices of over half a megabyte) crosses the stream', async (t) => {
    const { fake, tunnel } = await setUp(t, (f) => f.macaroon);
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel });
    deferCleanup(t, () => invoicer.close());
    const memo = 'm'.repeat(600);
    for (let batch = 0; batch < 6; batch++) {
      await Promise.all([...Array(50).keys()].map(() => invoicer.createInvoice({ amountSats: 1, memo })));
    }
    const page = await invoicer.listInvoices(0n, 1000);
    assert.equal(page.count, 300);
    // Each invoice carries its memo twice (memo and payment request): the response is over 300 × 1200 bytes.
    assert.ok(fake.calls.filter((c) => c === 'AddInvoice').length === 300);
  });

  it('LndPayer pays through the Router service over LNC', async (t) => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const { session, tunnel } = await setUp(t, (f) => f.macaroon, { payee: async (request) => (await payee.pay(request)).preimage });
    const payer = new LndPayer({ host: 'mailbox.test:443', tunnel });
    deferCleanup(t, () => payer.close());
    const invoice = await payee.createInvoice({ amountSats: 34 });
    const paid = await payer.payInvoice(invoice.paymentRequest, { maxFeeSats: 1 });
    assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), invoice.paymentHash);
    assert.deepEqual(session.patterns, ['XX']);
  });

  it('both services go over one LNC connection (a session carries one at a time)', async (t) => {
    const { fake, session, tunnel } = await setUp(t, (f) => f.macaroon);
    const clients = createLndClients({ host: 'mailbox.test:443', tunnel }, { initialMs: 20, maxMs: 200 }, 'test');
    deferCleanup(t, () => clients.close());
    const info = await unary<{ identity_pubkey: string }>(clients.lightning, 'GetInfo', {}, 5000);
    assert.equal(info.identity_pubkey, fake.pubkey);
    const tracked = serverStream(clients.router, 'TrackPaymentV2', { payment_hash: randomBytes(32) });
    const [error] = (await once(tracked, 'error')) as [{ code: number }];
    assert.equal(error.code, 5, 'NOT_FOUND from the fake');
    assert.deepEqual(fake.calls, ['GetInfo', 'TrackPaymentV2']);
    assert.deepEqual(session.patterns, ['XX']);
  });

  it('an LndInvoicer and an LndPayer on one tunnel share its one LNC connection; closing the payer leaves the invoicer working', async (t) => {
    const payee = new DevInvoicer({ onWarning: () => {} });
    const { fake, session, tunnel } = await setUp(t, (f) => f.macaroon, { payee: async (request) => (await payee.pay(request)).preimage });
    const invoicer = await LndInvoicer.connect({ host: 'mailbox.test:443', tunnel });
    deferCleanup(t, () => invoicer.close());
    const payer = new LndPayer({ host: 'mailbox.test:443', tunnel });
    const bill = await payee.createInvoice({ amountSats: 13 });
    const paid = await payer.payInvoice(bill.paymentRequest, { maxFeeSats: 1 });
    assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), bill.paymentHash);
    // A second channel would have dialled a second connection (KK) that takes the first one's mailbox streams.
    assert.deepEqual(session.patterns, ['XX']);
    await payer.close();
    const invoice = await invoicer.createInvoice({ amountSats: 8 });
    const settled = nextSettlement(invoicer, invoice.paymentHash);
    fake.settle(invoice.paymentHash);
    assert.equal((await settled).amountPaidSats, 8);
    assert.deepEqual(session.patterns, ['XX'], 'still the one connection after the payer closed');
  });

  it('client sets with different channel settings on one tunnel still share its one LNC connection', async (t) => {
    const { fake, session, tunnel } = await setUp(t, (f) => f.macaroon);
    // grpc-js shares a subchannel between channels only when their settings match; the tunnel's channel does not depend on it.
    const first = createLndClients({ host: 'mailbox.test:443', tunnel }, { initialMs: 20, maxMs: 200 }, 'test');
    deferCleanup(t, () => first.close());
    const second = createLndClients({ host: 'mailbox.test:443', tunnel }, { initialMs: 300, maxMs: 3000 }, 'test');
    deferCleanup(t, () => second.close());
    await unary(first.lightning, 'GetInfo', {}, 5000);
    const info = await unary<{ identity_pubkey: string }>(second.lightning, 'GetInfo', {}, 5000);
    assert.equal(info.identity_pubkey, fake.pubkey);
    assert.deepEqual(session.patterns, ['XX']);
    second.close();
    await unary(first.lightning, 'GetInfo', {}, 5000);
    assert.deepEqual(session.patterns, ['XX']);
  });

  it('a node that cannot be reached fails the start-up with L402_ERR_LN_CONNECT_FAILED naming the cause', async (t) => {
    const { session, tunnel } = await setUp(t);
    session.refuse = new Error('stream not found');
    await assert.rejects(LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, connectTimeoutMs: 2000 }), (error: unknown) => {
      const e = error as { code: string; message: string };
      assert.equal(e.code, 'L402_ERR_LN_CONNECT_FAILED');
      assert.match(e.message, /UNAVAILABLE.*stream not found/);
      return true;
    });
  });

  it('a dial that does not finish in time fails the call instead of holding it (L402_ERR_LNC_HANDSHAKE_TIMEOUT)', async (t) => {
    let release = (): void => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const lateClosed: Promise<void>[] = [];
    const tunnel = await LncGrpcTunnel.open({
      dialTimeoutMs: 50,
      dial: () => {
        let closed = (): void => {};
        lateClosed.push(new Promise<void>((resolve) => (closed = resolve)));
        return released.then(() => ({
          stream: new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() }).once('close', () => closed()),
          authData: Buffer.from('Macaroon: 00'),
        }));
      },
    });
    deferCleanup(t, () => tunnel.close());
    await assert.rejects(tunnel.metadata(), { code: 'L402_ERR_LNC_HANDSHAKE_TIMEOUT' });
    await assert.rejects(LndInvoicer.connect({ host: 'mailbox.test:443', tunnel, connectTimeoutMs: 5000 }), (error: unknown) => {
      assert.equal((error as { code: string }).code, 'L402_ERR_LN_CONNECT_FAILED');
      assert.match((error as Error).message, /UNAVAILABLE.*no LNC connection within 50 ms/);
      return true;
    });
    // The connections that come too late are closed, not leaked.
    release();
    assert.ok(lateClosed.length >= 2);
    await Promise.all(lateClosed);
  });

  it('a call whose deadline passes while its connection is dialled fails DEADLINE_EXCEEDED then, not after the dial', async (t) => {
    let release = (): void => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const tunnel = await LncGrpcTunnel.open({
      dialTimeoutMs: 60_000,
      dial: () => released.then(() => Promise.reject(new Error('gave up'))),
    });
    deferCleanup(t, () => tunnel.close());
    deferCleanup(t, () => release());
    const clients = createLndClients({ host: 'mailbox.test:443', tunnel }, { initialMs: 20, maxMs: 200 }, 'test');
    deferCleanup(t, () => clients.close());
    await assert.rejects(unary(clients.lightning, 'GetInfo', {}, 50), (error: unknown) => {
      assert.equal((error as { code: number }).code, 4);
      assert.match((error as Error).message, /deadline exceeded while connecting to lnd through mailbox\.test:443/);
      return true;
    });
  });

  it('the tunnel socket lives in a private directory, removed on close', async () => {
    const tunnel = await LncGrpcTunnel.open({ dial: () => Promise.reject(new Error('unused')) });
    const path = tunnel.target.slice('unix:'.length);
    const dir = path.slice(0, path.lastIndexOf('/'));
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    await tunnel.close();
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });
});

describe('authDataToMetadata', () => {
  it('reads litd’s "Macaroon: <hex>" and CRLF-separated lines', () => {
    assert.deepEqual(authDataToMetadata(Buffer.from('Macaroon: 0a0b')), { macaroon: '0a0b' });
    assert.deepEqual(authDataToMetadata(Buffer.from('Macaroon: 0a0b\r\nX-Other: v')), { macaroon: '0a0b', 'x-other': 'v' });
  });
  it('refuses auth data without a hex macaroon or with a malformed line (L402_ERR_LNC_HANDSHAKE_FAILED)', () => {
    for (const bad of ['', 'Macaroon 0a0b', 'Macaroon: xyz', 'Other: 1', 'Macaroon: 0a: 0b']) {
      assert.throws(() => authDataToMetadata(Buffer.from(bad)), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' }, bad);
    }
  });
});
