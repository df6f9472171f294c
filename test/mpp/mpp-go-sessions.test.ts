// A lossless switch from the Go aperture, for sessions: on its database (golang-migrate
// applying its migrations; the Go tool writing a session as its session store does), a
// session the Go aperture opened is carried over on first use — a bearer debits its
// balance here, a top-up the Go aperture credited is a replay while a new one is credited,
// a close refunds the right balance to its return invoice — and the Go row is closed so a
// Go aperture still running refuses it. A closed Go session stays refused; concurrent first
// uses (two instances) import it once; without the import the session is not found. SQLite
// and PostgreSQL (when it answers; under CI it must). Needs Go; skipped without it, except under CI.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { connectTestPostgres, dropSchemasAndEnd } from '../fixtures/test-postgres.js';
import { MemoryStore, PostgresStore, SqliteStore } from '../../src/store/index.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { MppScheme, type MppAccepted, type MppRefused, type MppVerification } from '../../src/mpp/mpp-scheme.js';
import { goApertureDb, goPostgresDb, type GoApertureDb } from '../fixtures/go-aperture-db.js';
import { goChallenge, invoiceOf, paymentHeader, quiet, requestWith } from './support.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const REALM = 'api.example.test';
const quotes = { service: 'quotes', priceSats: 10 };
const prefix = `aperture_gos_${randomBytes(4).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'aperture-go-sessions-'));
let admin: pg.Client | undefined;
let unreachable: string | undefined;
let n = 0;

before(async () => {
  ({ admin, unreachable } = await connectTestPostgres(URL));
});

after(async () => {
  rmSync(root, { recursive: true, force: true });
  if (admin !== undefined) await dropSchemasAndEnd(admin, prefix);
});

type AnyStore = SqliteStore | PostgresStore;

/** A Go aperture's database, and our stores on it. */
interface Backend {
  /** The Go tool's -db value. */
  db: string;
  open(): Promise<AnyStore>;
  /** The Go aperture's row of a session. */
  goRow(id: string): Promise<{ status: string; deposit_sats: unknown; spent_sats: unknown } | undefined>;
}

async function backend(t: TestContext, kind: 'SQLite' | 'PostgreSQL'): Promise<Backend> {
  const stores: AnyStore[] = [];
  t.after(() => Promise.all(stores.map((s) => s.close())));
  const track = (s: AnyStore): AnyStore => (stores.push(s), s);
  const goRowSql = 'SELECT status, deposit_sats, spent_sats FROM mpp_sessions WHERE session_id = $1';
  if (kind === 'SQLite') {
    const path = join(root, `go-${++n}.db`);
    return {
      db: path,
      open: async () => track(new SqliteStore({ path, revocationPollMs: 0 })),
      goRow: async (id) => {
        const db = new Database(path, { readonly: true });
        try {
          return db.prepare(goRowSql.replace('$1', '?')).get(id) as Awaited<ReturnType<Backend['goRow']>>;
        } finally {
          db.close();
        }
      },
    };
  }
  const schema = `${prefix}_${++n}`;
  await admin!.query(`CREATE SCHEMA "${schema}"`);
  return {
    db: goPostgresDb(URL, schema),
    open: async () => track(await PostgresStore.open({ connectionString: URL, schema, maxconnections: 3 })),
    goRow: async (id) => (await admin!.query(goRowSql.replace('mpp_sessions', `"${schema}".mpp_sessions`), [id])).rows[0],
  };
}

/** Registers `body` for both backends (PostgreSQL skipped visibly when it is down, except under CI). */
function both(title: string, body: (go: GoApertureDb, b: Backend) => Promise<void>): void {
  for (const kind of ['SQLite', 'PostgreSQL'] as const) {
    test(`${kind}: ${title}`, async (t) => {
      if (kind === 'PostgreSQL' && unreachable !== undefined) {
        t.skip(unreachable);
        return;
      }
      const go = goApertureDb(t);
      if (go === undefined) return;
      await body(go, await backend(t, kind));
    });
  }
}

/** A Lightning node for the server and one for the client, and the secret the Go aperture and this program share. */
function nodes() {
  return { server: new DevInvoicer(quiet), client: new DevInvoicer(quiet), secret: randomBytes(32) };
}

/** The program's Payment scheme on `store`, carrying Go sessions over unless `importGo` is false. */
function schemeOn(store: AnyStore, world: ReturnType<typeof nodes>, importGo = true): MppScheme {
  return new MppScheme({
    realm: REALM,
    secret: world.secret,
    invoicer: world.server,
    network: 'regtest',
    charges: store,
    acceptGoChallenges: importGo,
    sessions: {
      store,
      payer: new DevPayer(world.client),
      decodeInvoice,
      ...(importGo
        ? { importGoSession: (id: string) => store.importGoSession(id), goCreditOwner: (hash: string) => store.goCreditOwner(hash) }
        : {}),
    },
  });
}

/**
 * A session the Go aperture opened before the switch: a deposit of 200 paid to the
 * server's node, a top-up of 200 (a Go-issued challenge, paid), 30 spent.
 */
async function goSession(go: GoApertureDb, b: Backend, world: ReturnType<typeof nodes>, options: { closed?: boolean } = {}) {
  const deposit = await world.server.createInvoice({ amountSats: 200, memo: 'go deposit' });
  const { preimage } = await world.server.pay(deposit.paymentRequest);
  const topUp = await goChallenge(world.server, world.secret, {
    realm: REALM,
    intent: 'session',
    amountSats: 10,
    expiresAt: Date.now() + 600_000,
  });
  const topUpPaid = await world.server.pay(topUp.invoice);
  const returnInvoice = (await world.client.createInvoice({ amountSats: 0, expirySeconds: 86_400 })).paymentRequest;
  const { createdAt } = await go.session(b.db, {
    id: deposit.paymentHash,
    depositSats: 200,
    returnInvoice,
    topUps: [[topUp.paymentHash, 200]],
    spentSats: 30,
    closed: options.closed ?? false,
  });
  return { id: deposit.paymentHash, preimage, returnInvoice, createdAt, topUp, topUpPreimage: topUpPaid.preimage };
}

/** A session challenge of this program (as a client gets with a 402). */
async function ourChallenge(scheme: MppScheme) {
  const [offer] = await scheme.offers({ ...quotes, intents: ['session'] });
  return offer!;
}

function accepted(v: MppVerification): MppAccepted {
  assert.equal(v.kind, 'accepted', v.kind === 'refused' ? `${v.code}: ${v.problem.detail}` : v.kind);
  return v as MppAccepted;
}

function refused(v: MppVerification, code: string): MppRefused {
  assert.equal(v.kind, 'refused');
  const r = v as MppRefused;
  assert.equal(r.code, code, r.problem.detail);
  return r;
}

describe("the Go aperture's open sessions, carried over", () => {
  both('a bearer debits the Go balance here; the Go row is closed; the idle clock starts at the import', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world);
    const store = await b.open();
    const scheme = schemeOn(store, world);
    const offer = await ourChallenge(scheme);
    const before = Date.now();
    const ok = accepted(
      await scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'bearer', sessionId: s.id, preimage: s.preimage })), quotes),
    );
    assert.equal(ok.action, 'bearer');
    assert.equal(ok.balanceSats, 400 - 30 - 10);
    const here = await store.getSession(s.id);
    assert.equal(here?.depositSats, 400);
    assert.equal(here?.spentSats, 40);
    assert.equal(here?.returnInvoice, s.returnInvoice);
    assert.equal(here?.paymentHash, s.id);
    assert.ok(Math.abs((here?.createdAt ?? 0) - s.createdAt) < 1000, 'opened when the Go aperture opened it');
    assert.ok((here?.updatedAt ?? 0) >= before);
    const goRow = await b.goRow(s.id);
    assert.equal(goRow?.status, 'closed', 'a Go aperture still running refuses it');
    assert.equal(Number(goRow?.spent_sats), 30, 'the Go row keeps its figures');
    // Imported once: a second import finds nothing to do, the next bearer debits again.
    assert.equal(await store.importGoSession(s.id), false);
    const again = accepted(
      await scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'bearer', sessionId: s.id, preimage: s.preimage })), quotes),
    );
    assert.equal(again.balanceSats, 350);
  });

  both('a top-up the Go aperture credited is a replay; a new one is credited once', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world);
    const store = await b.open();
    const scheme = schemeOn(store, world);
    const replay = accepted(
      await scheme.verify(
        requestWith(paymentHeader(s.topUp.challenge, { action: 'topUp', sessionId: s.id, topUpPreimage: s.topUpPreimage })),
        quotes,
      ),
    );
    assert.equal(replay.balanceSats, 400 - 30 - 10, 'nothing credited twice');
    const offer = await ourChallenge(scheme);
    const { preimage } = await world.server.pay(invoiceOf(offer));
    const topUp = paymentHeader(offer.challenge, { action: 'topUp', sessionId: s.id, topUpPreimage: preimage });
    assert.equal(accepted(await scheme.verify(requestWith(topUp), quotes)).balanceSats, 360 + 200 - 10);
    assert.equal(accepted(await scheme.verify(requestWith(topUp), quotes)).balanceSats, 550 - 10, 'its retry is a replay');
  });

  both('a close refunds the carried-over balance to the return invoice the Go aperture kept', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world);
    const store = await b.open();
    const scheme = schemeOn(store, world);
    const offer = await ourChallenge(scheme);
    const ok = accepted(
      await scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'close', sessionId: s.id, preimage: s.preimage })), quotes),
    );
    assert.equal(ok.action, 'close');
    assert.deepEqual(ok.refund, { sessionId: s.id, sats: 400 - 30 - 10, status: 'succeeded' });
    const paid = await world.client.lookupInvoice(decodeInvoice(s.returnInvoice).paymentHash);
    assert.equal(paid.state, 'settled');
    assert.equal(paid.amountPaidSats, 360);
    assert.equal((await store.getSession(s.id))?.status, 'closed');
    assert.equal((await b.goRow(s.id))?.status, 'closed');
  });

  both('a session the Go aperture closed stays not found, and nothing is imported', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world, { closed: true });
    const store = await b.open();
    const scheme = schemeOn(store, world);
    const offer = await ourChallenge(scheme);
    for (const action of ['bearer', 'close']) {
      refused(
        await scheme.verify(requestWith(paymentHeader(offer.challenge, { action, sessionId: s.id, preimage: s.preimage })), quotes),
        'L402_ERR_MPP_SESSION_NOT_FOUND',
      );
    }
    assert.equal(await store.getSession(s.id), undefined);
    assert.equal(await store.importGoSession(randomBytes(32).toString('hex')), false, 'an id the Go aperture never had');
  });

  both('without the import (acceptgochallenges off) the Go session is not found and stays open there', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world);
    const store = await b.open();
    const scheme = schemeOn(store, world, false);
    const offer = await ourChallenge(scheme);
    refused(
      await scheme.verify(requestWith(paymentHeader(offer.challenge, { action: 'bearer', sessionId: s.id, preimage: s.preimage })), quotes),
      'L402_ERR_MPP_SESSION_NOT_FOUND',
    );
    assert.equal((await b.goRow(s.id))?.status, 'open');
  });

  both('a Go-issued open of a deposit that opened a Go session replays it, not a second balance', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const open = await goChallenge(world.server, world.secret, {
      realm: REALM,
      intent: 'session',
      amountSats: 10,
      expiresAt: Date.now() + 600_000,
    });
    const { preimage } = await world.server.pay(open.invoice);
    const returnInvoice = (await world.client.createInvoice({ amountSats: 0, expirySeconds: 86_400 })).paymentRequest;
    await go.session(b.db, { id: open.paymentHash, depositSats: 200, returnInvoice, spentSats: 150 });
    const store = await b.open();
    const scheme = schemeOn(store, world);
    const ok = accepted(
      await scheme.verify(requestWith(paymentHeader(open.challenge, { action: 'open', preimage, returnInvoice })), quotes),
    );
    assert.equal(ok.balanceSats, 200 - 150 - 10, 'the Go balance, not a fresh deposit');
    assert.equal((await b.goRow(open.paymentHash))?.status, 'closed');
  });

  both(
    'a Go-issued open of a deposit whose Go session was closed, or a top-up the Go aperture credited elsewhere, credits nothing',
    async (go, b) => {
      await go.migrate(b.db);
      const world = nodes();
      const open = await goChallenge(world.server, world.secret, {
        realm: REALM,
        intent: 'session',
        amountSats: 10,
        expiresAt: Date.now() + 600_000,
      });
      const { preimage } = await world.server.pay(open.invoice);
      const returnInvoice = (await world.client.createInvoice({ amountSats: 0, expirySeconds: 86_400 })).paymentRequest;
      // Closed (and refunded) by the Go aperture before the switch, within the challenge's lifetime.
      await go.session(b.db, { id: open.paymentHash, depositSats: 200, returnInvoice, closed: true });
      const store = await b.open();
      assert.equal(await store.goCreditOwner(open.paymentHash), open.paymentHash);
      assert.equal(await store.goCreditOwner(randomBytes(32).toString('hex')), undefined);
      await assert.rejects(store.goCreditOwner('XYZ'), { code: 'L402_ERR_STORE_INVALID_ARGUMENT' });
      const scheme = schemeOn(store, world);
      refused(
        await scheme.verify(requestWith(paymentHeader(open.challenge, { action: 'open', preimage, returnInvoice })), quotes),
        'L402_ERR_MPP_FOREIGN_PAYMENT',
      );
      assert.equal(await store.getSession(open.paymentHash), undefined);
      // A Go session took a top-up; presented to a session of this program, it credits nothing.
      const s = await goSession(go, b, world);
      const offer = await ourChallenge(scheme);
      const ours = await world.server.pay(invoiceOf(offer));
      const opened = accepted(
        await scheme.verify(
          requestWith(paymentHeader(offer.challenge, { action: 'open', preimage: ours.preimage, returnInvoice })),
          quotes,
        ),
      );
      refused(
        await scheme.verify(
          requestWith(paymentHeader(s.topUp.challenge, { action: 'topUp', sessionId: opened.reference, topUpPreimage: s.topUpPreimage })),
          quotes,
        ),
        'L402_ERR_MPP_FOREIGN_PAYMENT',
      );
      assert.equal((await store.getSession(opened.reference))?.balanceSats, opened.balanceSats);
    },
  );

  both('concurrent first uses on two instances import the session once and debit each request', async (go, b) => {
    await go.migrate(b.db);
    const world = nodes();
    const s = await goSession(go, b, world);
    const one = await b.open();
    const two = await b.open();
    const schemes = [schemeOn(one, world), schemeOn(two, world)];
    const offer = await ourChallenge(schemes[0]!);
    const header = paymentHeader(offer.challenge, { action: 'bearer', sessionId: s.id, preimage: s.preimage });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => schemes[i % 2]!.verify(requestWith(header), quotes)));
    for (const r of results) accepted(r);
    const here = await one.getSession(s.id);
    assert.equal(here?.depositSats, 400, 'the deposit carried over once');
    assert.equal(here?.spentSats, 30 + 8 * 10);
    // And concurrent imports alone: at most one reports the import.
    const t = await goSession(go, b, world);
    const imported = await Promise.all([one, two, one, two].map((s) => s.importGoSession(t.id)));
    assert.equal(imported.filter(Boolean).length, 1);
    assert.equal((await two.getSession(t.id))?.depositSats, 400);
  });
});

test('importGoSession does nothing without a Go database: memory store, SQLite not adopted', async (t) => {
  const memory = new MemoryStore();
  assert.equal(await memory.importGoSession('ab'.repeat(32)), false);
  await assert.rejects(memory.importGoSession(''), { code: 'L402_ERR_STORE_INVALID_ARGUMENT' });
  const go = goApertureDb(t);
  if (go === undefined) return;
  const path = join(root, `go-${++n}.db`);
  await go.migrate(path);
  const world = nodes();
  const returnInvoice = (await world.client.createInvoice({ amountSats: 0 })).paymentRequest;
  const id = randomBytes(32).toString('hex');
  await go.session(path, { id, depositSats: 100, returnInvoice });
  const store = new SqliteStore({ path, revocationPollMs: 0, adoptGoAperture: false });
  t.after(() => store.close());
  assert.equal(await store.importGoSession(id), false);
  await assert.rejects(store.importGoSession(''), { code: 'L402_ERR_STORE_INVALID_ARGUMENT' });
});
