// Independent clients against MppScheme over a real HTTP socket: mppx (the MPP
// reference SDK, 0.11), whose fetch parses our challenge lines (a charge and a
// session offered together), pays the charge with a small `lightning` method on
// the dev backend and opens a session with a `lightning` session method; and Alby's
// fetchWithMpp (@getalby/lightning-tools), which reads one Payment challenge. Our
// scheme verifies each one's credential once.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Challenge, Credential, Method, Receipt, z } from 'mppx';
import { Mppx } from 'mppx/client';
import { fetchWithMpp } from '@getalby/lightning-tools';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MppScheme, type MppTarget } from '../../src/mpp/mpp-scheme.js';
import { quiet } from './support.js';

const server = new DevInvoicer(quiet);
const store = new MemoryStore();
const scheme = new MppScheme({
  realm: '127.0.0.1',
  secret: Buffer.alloc(32, 9),
  invoicer: server,
  network: 'regtest',
  charges: store,
  sessions: { store, payer: new DevPayer(new DevInvoicer(quiet)), decodeInvoice },
});
const target: MppTarget = { service: 'quotes', priceSats: 21, description: 'Q&A quotes' };
/** An mpp-only service offering the charge intent alone (Alby's client reads one Payment challenge). */
const chargeOnly: MppTarget = { service: 'news', priceSats: 5, intents: ['charge'] };
const seen: string[] = [];
let lastAuthorization: string | undefined;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const authorization = req.headers.authorization;
  const values = authorization === undefined ? [] : [authorization];
  lastAuthorization = authorization;
  const route = req.url === '/news' ? chargeOnly : target;
  const verdict = await scheme.verify({ headerValues: (name) => (name === 'authorization' ? values : []) }, route);
  seen.push(verdict.kind === 'refused' ? verdict.code : verdict.kind);
  if (verdict.kind === 'accepted') {
    for (const [name, value] of scheme.responseHeaders(verdict)) res.setHeader(name, value);
    res.end(route === target ? 'quote of the day' : 'news of the day');
    return;
  }
  const reply = scheme.challengeResponse(await scheme.offers(route), verdict.kind === 'refused' ? verdict : undefined);
  res.statusCode = reply.status;
  const lines = new Map<string, string[]>();
  for (const [name, value] of reply.headers) lines.set(name, [...(lines.get(name) ?? []), value]);
  for (const [name, value] of lines) res.setHeader(name, value);
  res.end(reply.body);
}

const http = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    res.statusCode = 500;
    res.end(String(error));
  });
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
const url = `${origin}/quote`;
after(() => new Promise<void>((resolve) => http.close(() => resolve())));

const lightningCharge = Method.from({
  name: 'lightning',
  intent: 'charge',
  schema: {
    credential: { payload: z.object({ preimage: z.string() }) },
    request: z.object({
      amount: z.string(),
      currency: z.string(),
      description: z.optional(z.string()),
      methodDetails: z.object({ invoice: z.string(), network: z.string(), paymentHash: z.string() }),
    }),
  },
});

test('mppx parses our challenges, pays the charge, and its credential verifies once', async () => {
  const payer = new DevPayer(server);
  const paid: string[] = [];
  const client = Method.toClient(lightningCharge, {
    async createCredential({ challenge }) {
      assert.equal(challenge.request.amount, '21');
      const { preimage } = await payer.payInvoice(challenge.request.methodDetails.invoice);
      paid.push(challenge.request.methodDetails.paymentHash);
      return Credential.serialize(Credential.from({ challenge, payload: { preimage } }));
    },
  });
  const mppx = Mppx.create({ methods: [client], polyfill: false });
  const response = await mppx.fetch(url);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(await response.text(), 'quote of the day');
  assert.equal(paid.length, 1);
  assert.deepEqual(seen.slice(-2), ['none', 'accepted']);
  assert.equal(response.headers.get('cache-control'), 'private');
  const receipt = Receipt.fromResponse(response);
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.method, 'lightning');
  assert.equal(receipt.reference, paid[0]);
  // The credential mppx sent is single use: replayed, it gets a 402 with fresh challenges
  // and the verification-failed problem, which mppx's own parser reads.
  assert.match(lastAuthorization ?? '', /^Payment /);
  const replay = await fetch(url, { headers: { authorization: lastAuthorization as string } });
  assert.equal(replay.status, 402);
  assert.equal(replay.headers.get('content-type'), 'application/problem+json');
  assert.equal(replay.headers.get('cache-control'), 'no-store');
  assert.equal(((await replay.json()) as { type: string }).type, 'https://paymentauth.org/problems/verification-failed');
  assert.deepEqual(seen.slice(-1), ['L402_ERR_MPP_REPLAYED']);
  const offered = Challenge.fromResponseList(replay);
  assert.deepEqual(
    offered.map((c) => c.intent),
    ['charge', 'session'],
  );
});

test("Alby's fetchWithMpp pays an mpp-only charge, and its credential (echoing fewer parameters) verifies", async () => {
  const payer = new DevPayer(server);
  const invoices: string[] = [];
  const wallet = {
    async payInvoice({ invoice }: { invoice: string }) {
      invoices.push(invoice);
      return { preimage: (await payer.payInvoice(invoice)).preimage };
    },
  };
  const response = await fetchWithMpp(`${origin}/news`, {}, { wallet });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(await response.text(), 'news of the day');
  assert.equal(invoices.length, 1);
  assert.equal(decodeInvoice(invoices[0] as string).amountMsat, 5_000n);
  assert.deepEqual(seen.slice(-2), ['none', 'accepted']);
  assert.ok(response.headers.get('payment-receipt'));
});

test('mppx opens a session on our session line with a lightning session method; the bearer then debits it', async () => {
  const payer = new DevPayer(server);
  const wallet = new DevInvoicer(quiet); // the client's node, issuing its return invoice
  const lightningSession = Method.from({
    name: 'lightning',
    intent: 'session',
    schema: {
      credential: { payload: z.object({ action: z.string(), preimage: z.string(), returnInvoice: z.string() }) },
      request: z.object({
        amount: z.string(),
        currency: z.string(),
        depositAmount: z.string(),
        depositInvoice: z.string(),
        idleTimeout: z.string(),
        paymentHash: z.string(),
      }),
    },
  });
  let opened: { challenge: unknown; sessionId: string; preimage: string } | undefined;
  const client = Method.toClient(lightningSession, {
    async createCredential({ challenge }) {
      assert.equal(challenge.request.depositAmount, String(21 * 20));
      const { preimage } = await payer.payInvoice(challenge.request.depositInvoice);
      const returnInvoice = (await wallet.createInvoice({ amountSats: 0 })).paymentRequest;
      opened = { challenge, sessionId: challenge.request.paymentHash, preimage };
      return Credential.serialize(Credential.from({ challenge, payload: { action: 'open', preimage, returnInvoice } }));
    },
  });
  const mppx = Mppx.create({ methods: [client], polyfill: false });
  const response = await mppx.fetch(url);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(await response.text(), 'quote of the day');
  assert.deepEqual(seen.slice(-2), ['none', 'accepted']);
  assert.ok(opened);
  assert.equal((await store.getSession(opened.sessionId))?.balanceSats, 420 - 21);
  // The bearer built with mppx's own serializer from the same challenge.
  const bearer = Credential.serialize(
    Credential.from({
      challenge: opened.challenge as Parameters<typeof Credential.from>[0]['challenge'],
      payload: { action: 'bearer', sessionId: opened.sessionId, preimage: opened.preimage },
    }),
  );
  const again = await fetch(url, { headers: { authorization: bearer } });
  assert.equal(again.status, 200);
  await again.text();
  assert.equal((await store.getSession(opened.sessionId))?.balanceSats, 420 - 42);
});
