// A lossless switch from the Go aperture: on its database (golang-migrate applying its
// migrations, its MPP HMAC secret in `secrets`), a client that paid a Payment challenge
// the Go aperture issued (id keyed with the secret itself, as the vectors pin it) is
// served by startAperture once, on a service whose price the amount covers; a dearer
// service and a replay get 402. With `acceptgochallenges: false` the same credential
// gets 402, and so does one the Go aperture recorded as consumed. A session the Go aperture
// opened (written as its session store does) is debited here and its balance refunded on
// close. Needs Go (the database tool); skipped without it, except under CI.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { GO_MPP_HMAC_KEY_HASH } from '../../src/store/go-aperture-schema.js';
import { goApertureDb, type GoApertureDb } from '../fixtures/go-aperture-db.js';
import { goChallenge, paymentHeader } from '../mpp/support.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from './support.js';

const REALM = 'api.example.test';

/** A Go aperture's database holding its MPP secret; the program started on it; the secret. */
async function startOnGoDatabase(
  t: TestContext,
  extra = '',
  options: { refundPayer?: DevPayer } = {},
): Promise<{ aperture: RunningAperture; secret: Buffer; file: string; go: GoApertureDb } | undefined> {
  const go = goApertureDb(t);
  if (go === undefined) return undefined;
  const dir = tempBaseDir(t);
  const file = join(dir, 'aperture.db');
  await go.migrate(file);
  const secret = randomBytes(32);
  const db = new Database(file);
  db.prepare('INSERT INTO secrets (hash, secret, created_at) VALUES (?, ?, ?)').run(
    Buffer.from(GO_MPP_HMAC_KEY_HASH, 'hex'),
    secret,
    '2026-01-01 00:00:00+00:00',
  );
  db.close();
  const backend = await startBackend((_req, res) => res.end('served'));
  t.after(() => backend.close());
  const config = configFrom(
    `
listenaddr: 127.0.0.1:0
insecure: true
dbbackend: sqlite
sqlite:
  databasefilename: ${file}
authenticator:
  backend: dev
  enablempp: true
  mpprealm: ${REALM}
${extra}
services:
  - name: cheap
    hostregexp: '.*'
    pathregexp: '^/cheap'
    address: ${backend.address}
    price: 2
    authscheme: mpp
  - name: dear
    hostregexp: '.*'
    pathregexp: '^/dear'
    address: ${backend.address}
    price: 20
    authscheme: mpp
`,
    dir,
  );
  const aperture = await startAperture(config, {
    logger: quiet,
    gcIntervalMs: 0,
    defaultMetrics: false,
    servicesPollMs: 0,
    mppSweepIntervalMs: 0,
    ...options,
  });
  t.after(() => aperture.close());
  return { aperture, secret, file, go };
}

/** A paid charge credential for a challenge the Go aperture issued with `secret`, for `amountSats`. */
async function paidGoCredential(
  aperture: RunningAperture,
  secret: Buffer,
  amountSats: number,
): Promise<{ header: string; paymentHash: string }> {
  const invoicer = aperture.invoicer as DevInvoicer;
  const go = await goChallenge(invoicer, secret, { realm: REALM, amountSats, expiresAt: Date.now() + 15 * 60_000 });
  const { preimage } = await invoicer.pay(go.invoice);
  return { header: paymentHeader(go.challenge, { preimage }), paymentHash: go.paymentHash };
}

test("on the Go aperture's database, a paid Go-issued charge is served once, on a service its amount covers", async (t) => {
  const started = await startOnGoDatabase(t);
  if (started === undefined) return;
  const { aperture, secret } = started;
  const { header: authorization } = await paidGoCredential(aperture, secret, 2);
  const dear = await h1(`${aperture.url}/dear`, { headers: { authorization } });
  assert.equal(dear.status, 402, 'a cheap service challenge cannot pay a dear one');
  const cheap = await h1(`${aperture.url}/cheap`, { headers: { authorization } });
  assert.equal(cheap.status, 200);
  assert.equal(cheap.body, 'served');
  const replay = await h1(`${aperture.url}/cheap`, { headers: { authorization } });
  assert.equal(replay.status, 402, 'consumed once');
});

test("on the Go aperture's database with acceptgochallenges: false, a Go-issued charge gets 402", async (t) => {
  const started = await startOnGoDatabase(t, '  acceptgochallenges: false');
  if (started === undefined) return;
  const { aperture, secret } = started;
  const { header: authorization } = await paidGoCredential(aperture, secret, 2);
  assert.equal((await h1(`${aperture.url}/cheap`, { headers: { authorization } })).status, 402);
});

test("on the Go aperture's database, a Go-issued charge the Go aperture already consumed gets 402", async (t) => {
  const started = await startOnGoDatabase(t);
  if (started === undefined) return;
  const { aperture, secret, file } = started;
  const { header: authorization, paymentHash } = await paidGoCredential(aperture, secret, 2);
  // The Go aperture served it before the switch (its record, Go migration 9).
  const db = new Database(file);
  db.prepare('INSERT INTO mpp_consumed_charges (payment_hash, challenge_id, expires_at, consumed_at) VALUES (?, ?, ?, ?)').run(
    Buffer.from(paymentHash, 'hex'),
    'go-id',
    '2026-01-01 00:15:00',
    '2026-01-01 00:00:00',
  );
  db.close();
  assert.equal((await h1(`${aperture.url}/cheap`, { headers: { authorization } })).status, 402);
});

test("on the Go aperture's database, a session the Go aperture opened is debited here and its balance refunded on close", async (t) => {
  const clientNode = new DevInvoicer({ onWarning: () => undefined });
  t.after(() => clientNode.close());
  const started = await startOnGoDatabase(t, '  enablesessions: true', { refundPayer: new DevPayer(clientNode) });
  if (started === undefined) return;
  const { aperture, secret, file, go } = started;
  const invoicer = aperture.invoicer as DevInvoicer;
  // Opened on the Go aperture before the switch: a deposit of 40 paid, 6 spent.
  const deposit = await invoicer.createInvoice({ amountSats: 40, memo: 'go deposit' });
  const { preimage } = await invoicer.pay(deposit.paymentRequest);
  const returnInvoice = (await clientNode.createInvoice({ amountSats: 0, expirySeconds: 86_400 })).paymentRequest;
  const sessionId = deposit.paymentHash;
  await go.session(file, { id: sessionId, depositSats: 40, returnInvoice, spentSats: 6 });
  // The client still holds a session challenge of the Go aperture.
  const { challenge } = await goChallenge(invoicer, secret, {
    realm: REALM,
    intent: 'session',
    amountSats: 2,
    expiresAt: Date.now() + 600_000,
  });
  const bearer = await h1(`${aperture.url}/cheap`, {
    headers: { authorization: paymentHeader(challenge, { action: 'bearer', sessionId, preimage }) },
  });
  assert.equal(bearer.status, 200, bearer.body);
  assert.equal(bearer.body, 'served');
  const close = await h1(`${aperture.url}/cheap`, {
    headers: { authorization: paymentHeader(challenge, { action: 'close', sessionId, preimage }) },
  });
  assert.equal(close.status, 200, close.body);
  const refunded = await clientNode.lookupInvoice(decodeInvoice(returnInvoice).paymentHash);
  assert.equal(refunded.amountPaidSats, 40 - 6 - 2 - 2, 'the Go balance less the two requests');
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(
      (db.prepare('SELECT status FROM mpp_sessions WHERE session_id = ?').get(sessionId) as { status: string }).status,
      'closed',
    );
  } finally {
    db.close();
  }
});
