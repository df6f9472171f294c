// An LNC session kept in the store, end to end through our hashmail server on
// the program's TLS listener (devserver: certificate unverified): the first
// start pairs with the phrase (XX) and stores the node's key and its
// macaroon's expiry; a restart on the same database reaches the node with KK,
// without the phrase working again. A stored session's mailbox wins over the
// configured one (reported); a macaroon expiry is its earliest time-before.
// Past the stored expiry, opening the session (the program's start) and a
// reconnect fail with L402_ERR_LNC_SESSION_EXPIRED, and nothing is dialled again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startAperture } from '../../src/app/start-aperture.js';
import { LndInvoicer } from '../../src/lightning/lnd/index.js';
import { LncSession, macaroonExpiry } from '../../src/lnc/lnc-session.js';
import type { L402Error } from '../../src/core/errors.js';
import { HashmailGrpcClient } from '../../src/lnc/mailbox-grpc-client.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { configFrom, deferCleanup, quiet, tempBaseDir, type CleanupScope } from '../e2e/support.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { LncNodeSide } from '../fixtures/lnc-node-side.js';

const require = createRequire(import.meta.url);
interface Mac {
  addFirstPartyCaveat(caveat: string): void;
  exportBinary(): Uint8Array;
}
const macaroonLib = require('macaroon') as {
  importMacaroon(bytes: Uint8Array): Mac;
  newMacaroon(p: { version: number; rootKey: Uint8Array; identifier: string; location: string }): Mac;
};

const PHRASE = 'zoo ability able about above absent absorb abstract absurd abuse';
const EXPIRY = '2031-02-03T04:05:06Z';

function withCaveats(macaroon: Buffer, caveats: string[]): Buffer {
  const mac = macaroonLib.importMacaroon(macaroon);
  for (const c of caveats) mac.addFirstPartyCaveat(c);
  return Buffer.from(mac.exportBinary());
}

async function mailbox(t: CleanupScope): Promise<string> {
  const dir = tempBaseDir(t, 'aperture-lnc-session-');
  const yaml = `listenaddr: 127.0.0.1:0\nauthenticator:\n  disable: true\nhashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n`;
  const aperture = await startAperture(configFrom(yaml, dir), { store: new MemoryStore(), logger: quiet });
  deferCleanup(t, () => aperture.close());
  return `localhost:${aperture.addresses.proxy.port}`;
}

describe('an LNC session kept in the store', () => {
  it('pairs once (XX), stores the node key and the expiry; a restart on the same database uses KK', async (t) => {
    const address = await mailbox(t);
    const fake = await FakeLnd.start();
    deferCleanup(t, () => fake.stop());
    const nodeMailbox = new HashmailGrpcClient({ address, tls: { mode: 'skip-verify' }, retryWaitMs: 100 });
    deferCleanup(t, () => nodeMailbox.close());
    const macaroon = withCaveats(fake.invoiceMacaroon, [`time-before ${EXPIRY}`, 'time-before 2035-01-01T00:00:00Z']);
    const node = new LncNodeSide(nodeMailbox, pairingPhraseToEntropy(PHRASE), fake, macaroon);
    deferCleanup(t, () => node.stop());
    const dbPath = join(tempBaseDir(t, 'aperture-lnc-db-'), 'store.db');

    const run = async (): Promise<LncSession> => {
      const store = new SqliteStore({ path: dbPath, revocationPollMs: 0 });
      const session = await LncSession.open({ passphrase: PHRASE, mailboxAddress: address, devServer: true, store, retryWaitMs: 100 });
      try {
        const invoicer = await LndInvoicer.connect({ host: address, tunnel: session.tunnel });
        const invoice = await invoicer.createInvoice({ amountSats: 3 });
        assert.equal(fake.invoice(invoice.paymentHash)?.value_msat, 3000n);
        await invoicer.close();
      } finally {
        await session.close();
        await store.close();
      }
      return session;
    };

    const first = await run();
    assert.deepEqual(first.dialer.patterns, ['XX']);
    const store = new SqliteStore({ path: dbPath, revocationPollMs: 0 });
    const row = await store.getLncSession(pairingPhraseToEntropy(PHRASE));
    await store.close();
    assert.ok(row);
    assert.equal(row.passphraseWords, PHRASE);
    assert.equal(row.mailboxAddr, address);
    assert.equal(row.devServer, true);
    assert.deepEqual(Buffer.from(row.remoteStaticPubKey ?? []).length, 33);
    assert.equal(row.expiry, Date.parse(EXPIRY));

    const second = await run();
    assert.deepEqual(second.dialer.patterns, ['KK']);
  });

  it("a stored session's mailbox wins over the configured one, and the difference is reported", async (t) => {
    const dbPath = join(tempBaseDir(t, 'aperture-lnc-db-'), 'store.db');
    const store = new SqliteStore({ path: dbPath, revocationPollMs: 0 });
    deferCleanup(t, () => store.close());
    const first = await LncSession.open({ passphrase: PHRASE, mailboxAddress: '127.0.0.1:1', devServer: false, store });
    await first.close();
    const warnings: string[] = [];
    const second = await LncSession.open({
      passphrase: PHRASE,
      mailboxAddress: 'mailbox.example:443',
      devServer: true,
      store,
      onWarning: (m) => warnings.push(m),
    });
    await second.close();
    assert.equal(second.record.mailboxAddr, '127.0.0.1:1');
    assert.deepEqual(Buffer.from(second.record.localStaticPrivKey), Buffer.from(first.record.localStaticPrivKey));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /stored LNC session uses mailbox 127\.0\.0\.1:1.*mailbox\.example:443 \(devserver\) is not used/);
  });

  it('a stored session past its expiry: the program does not start (L402_ERR_LNC_SESSION_EXPIRED, pair again), nothing dialled', async (t) => {
    const dbPath = join(tempBaseDir(t, 'aperture-lnc-db-'), 'store.db');
    const store = new SqliteStore({ path: dbPath, revocationPollMs: 0 });
    deferCleanup(t, () => store.close());
    const entropy = pairingPhraseToEntropy(PHRASE);
    assert.equal(
      await store.addLncSession({
        passphraseWords: PHRASE,
        passphraseEntropy: entropy,
        remoteStaticPubKey: undefined,
        localStaticPrivKey: Buffer.alloc(32, 7),
        mailboxAddr: '127.0.0.1:1',
        createdAt: Date.parse('2024-01-01T00:00:00Z'),
        expiry: undefined,
        devServer: true,
      }),
      true,
    );
    await store.setLncExpiry(entropy, Date.parse('2025-01-01T00:00:00Z'));
    const dir = tempBaseDir(t, 'aperture-lnc-expired-');
    const yaml = `listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  passphrase: ${PHRASE}\n  mailboxaddress: 127.0.0.1:1\n  devserver: true\nservices:\n  - name: api\n    pathregexp: '^/api'\n    address: 127.0.0.1:9\n    price: 1\n`;
    await assert.rejects(
      startAperture(configFrom(yaml, dir), { store, logger: quiet, gcIntervalMs: 0, defaultMetrics: false }),
      (error: unknown) => {
        assert.equal((error as { code: string }).code, 'L402_ERR_LNC_SESSION_EXPIRED');
        assert.match(
          (error as Error).message,
          /expired at 2025-01-01T00:00:00\.000Z.*new LNC session.*authenticator\.passphrase.*new pairing phrase/,
        );
        return true;
      },
    );
    // A second before the expiry the session opens (nothing is dialled until a call).
    const before = await LncSession.open({
      passphrase: PHRASE,
      mailboxAddress: '127.0.0.1:1',
      devServer: true,
      store,
      now: () => Date.parse('2024-12-31T23:59:59Z'),
    });
    await before.close();
  });

  it('expiring while paired: the reconnect fails L402_ERR_LNC_SESSION_EXPIRED once, reported once, the mailbox never dialled again', async (t) => {
    const address = await mailbox(t);
    const fake = await FakeLnd.start();
    deferCleanup(t, () => fake.stop());
    const nodeMailbox = new HashmailGrpcClient({ address, tls: { mode: 'skip-verify' }, retryWaitMs: 100 });
    deferCleanup(t, () => nodeMailbox.close());
    const node = new LncNodeSide(
      nodeMailbox,
      pairingPhraseToEntropy(PHRASE),
      fake,
      withCaveats(fake.invoiceMacaroon, [`time-before ${EXPIRY}`]),
    );
    deferCleanup(t, () => node.stop());
    const store = new SqliteStore({ path: join(tempBaseDir(t, 'aperture-lnc-db-'), 'store.db'), revocationPollMs: 0 });
    deferCleanup(t, () => store.close());
    let now = Date.parse(EXPIRY) - 60_000;
    const expired: L402Error[] = [];
    const session = await LncSession.open({
      passphrase: PHRASE,
      mailboxAddress: address,
      devServer: true,
      store,
      retryWaitMs: 100,
      now: () => now,
      onExpired: (error) => expired.push(error),
    });
    deferCleanup(t, () => session.close());
    const invoicer = await LndInvoicer.connect({ host: address, tunnel: session.tunnel, backoff: { initialMs: 20, maxMs: 100 } });
    deferCleanup(t, () => invoicer.close());
    await invoicer.createInvoice({ amountSats: 2 });
    now = Date.parse(EXPIRY) + 1;
    const lost = new Promise<string>((resolve) => {
      const off = invoicer.onHealthChange((health) => {
        if (health.ok) return;
        off();
        resolve(health.detail ?? '');
      });
    });
    // The node side goes away: the invoicer's connection ends and is dialled again.
    await node.stop();
    await lost;
    // The invoicer dials again (with backoff): the first dial finds the session expired.
    const deadline = Date.now() + 20_000;
    while (expired.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // Several reconnect attempts later: reported once, the dialler closed after the one XX dial.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(expired.length, 1);
    assert.equal(expired[0]?.code, 'L402_ERR_LNC_SESSION_EXPIRED');
    assert.deepEqual(session.dialer.patterns, ['XX']);
    assert.equal(invoicer.health().ok, false);
  });

  it('a macaroon already past its time-before at pairing: the connection fails L402_ERR_LNC_SESSION_EXPIRED', async (t) => {
    const address = await mailbox(t);
    const fake = await FakeLnd.start();
    deferCleanup(t, () => fake.stop());
    const nodeMailbox = new HashmailGrpcClient({ address, tls: { mode: 'skip-verify' }, retryWaitMs: 100 });
    deferCleanup(t, () => nodeMailbox.close());
    const node = new LncNodeSide(
      nodeMailbox,
      pairingPhraseToEntropy(PHRASE),
      fake,
      withCaveats(fake.invoiceMacaroon, ['time-before 2020-01-01T00:00:00Z']),
    );
    deferCleanup(t, () => node.stop());
    const store = new SqliteStore({ path: join(tempBaseDir(t, 'aperture-lnc-db-'), 'store.db'), revocationPollMs: 0 });
    deferCleanup(t, () => store.close());
    const session = await LncSession.open({ passphrase: PHRASE, mailboxAddress: address, devServer: true, store, retryWaitMs: 100 });
    deferCleanup(t, () => session.close());
    await assert.rejects(session.tunnel.metadata(), { code: 'L402_ERR_LNC_SESSION_EXPIRED' });
    assert.equal((await store.getLncSession(pairingPhraseToEntropy(PHRASE)))?.expiry, Date.parse('2020-01-01T00:00:00Z'));
  });

  it('a macaroon expiry is its earliest first-party time-before; none without one; a malformed one is refused', () => {
    const mac = Buffer.from(
      macaroonLib.newMacaroon({ version: 2, rootKey: Buffer.alloc(32, 1), identifier: 'id', location: 'lnd' }).exportBinary(),
    );
    assert.equal(macaroonExpiry(mac), undefined);
    assert.equal(
      macaroonExpiry(withCaveats(mac, ['time-before 2030-01-01T00:00:00Z', 'time-before 2029-06-01T00:00:00Z', 'ipaddr 1.2.3.4'])),
      Date.parse('2029-06-01T00:00:00Z'),
    );
    assert.throws(() => macaroonExpiry(withCaveats(mac, ['time-before soon'])), { code: 'L402_ERR_LNC_HANDSHAKE_FAILED' });
  });
});
