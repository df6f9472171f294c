// Shared parts of the MPP scheme tests: a dev Lightning backend for the server and
// one for the client (whose amountless return invoices the server refunds to), the
// memory store, a test clock, and helpers that pay an offer and build credentials.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { RequestView } from '../../src/core/types.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MppScheme, type MppOffer, type MppSchemeOptions, type MppSessionOptions } from '../../src/mpp/mpp-scheme.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { computeChallengeId, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { encodeJcsParam } from '../../src/mpp/payment-request.js';
import type { SessionStore } from '../../src/mpp/session-store.js';
import { TestClock } from '../fixtures/test-clock.js';

export const quiet = { onWarning: (): void => {} };

/** A request view carrying these `authorization` values. */
export function requestWith(...authorization: string[]): Pick<RequestView, 'headerValues'> {
  return { headerValues: (name: string) => (name === 'authorization' ? authorization : []) };
}

/** `Payment <token>` of a credential answering `challenge`. */
export function paymentHeader(challenge: PaymentChallenge, payload: Record<string, unknown>): string {
  return `Payment ${encodePaymentCredential({ challenge, payload })}`;
}

/** The sha256 of a hex preimage, hex. */
export function hashOf(preimageHex: string): string {
  return createHash('sha256').update(Buffer.from(preimageHex, 'hex')).digest('hex');
}

/** A random 32-byte preimage, hex. */
export const randomPreimage = (): string => randomBytes(32).toString('hex');

/** Everything one scheme test needs. */
export interface World {
  clock: TestClock;
  server: DevInvoicer;
  client: DevInvoicer;
  store: MemoryStore;
  scheme: MppScheme;
  secret: Buffer;
  /** Settles an offer's invoice (as the client paying it) and returns the preimage. */
  pay(offer: MppOffer): Promise<string>;
  /** A fresh amountless return invoice of the client's node. */
  returnInvoice(expirySeconds?: number): Promise<string>;
}

/**
 * Builds a scheme over dev backends and the memory store.
 * @param overrides - options to change
 * @param sessionOverrides - session options to change
 */
export function world(overrides: Partial<MppSchemeOptions> = {}, sessionOverrides: Partial<MppSessionOptions> = {}): World {
  const clock = new TestClock();
  const server = new DevInvoicer({ ...quiet, clock });
  const client = new DevInvoicer({ ...quiet, clock });
  const store = new MemoryStore({ clock });
  const secret = randomBytes(32);
  const scheme = new MppScheme({
    realm: 'api.example.test',
    secret,
    invoicer: server,
    network: 'regtest',
    charges: store,
    sessions: { store, payer: new DevPayer(client), decodeInvoice, ...sessionOverrides },
    clock,
    ...overrides,
  });
  return {
    clock,
    server,
    client,
    store,
    scheme,
    secret,
    async pay(offer) {
      return (await server.pay(invoiceOf(offer))).preimage;
    },
    async returnInvoice(expirySeconds = 86_400) {
      return (await client.createInvoice({ amountSats: 0, expirySeconds })).paymentRequest;
    },
  };
}

/** The invoice of an offer (charge invoice or deposit invoice). */
export function invoiceOf(offer: MppOffer): string {
  const request = JSON.parse(Buffer.from(offer.challenge.request, 'base64url').toString('utf8')) as {
    methodDetails?: { invoice: string };
    depositInvoice?: string;
  };
  return request.methodDetails?.invoice ?? (request.depositInvoice as string);
}

/**
 * The key a scheme signs a target's challenges with: the secret bound to the
 * service and resource (pinned here so that a change of derivation is seen).
 */
export function bindingKey(secret: Uint8Array, service: string, resource?: string): Buffer {
  const binding =
    resource === undefined
      ? `{"service":${JSON.stringify(service)}}`
      : `{"resource":${JSON.stringify(resource)},"service":${JSON.stringify(service)}}`;
  return createHmac('sha256', secret).update(`aperture-ts mpp binding ${binding}`).digest();
}

/**
 * Metered session requests debited and settled concurrently through two
 * instances sharing a store: the spend ends exactly at the sum of the costs,
 * and an under-estimate race ends clamped at the deposit, never below zero.
 * @param one - the first instance's scheme
 * @param two - the second instance's scheme, on the same database
 * @param server - the node both invoice on
 * @param client - the client's node (its return invoice)
 * @param store - the database, to read the session
 */
export async function meteredSessionRace(
  one: MppScheme,
  two: MppScheme,
  server: DevInvoicer,
  client: DevInvoicer,
  store: Pick<SessionStore, 'getSession'>,
): Promise<void> {
  const target = { service: 'chat', priceSats: 50, sessionQuote: async () => ({ unitSats: 5, depositSats: 200 }) };
  const [offer] = await one.offers({ ...target, intents: ['session'] });
  assert.equal(offer?.invoiceSats, 200);
  const { preimage } = await server.pay(invoiceOf(offer!));
  const returnInvoice = (await client.createInvoice({ amountSats: 0 })).paymentRequest;
  const open = await two.verify(requestWith(paymentHeader(offer!.challenge, { action: 'open', preimage, returnInvoice })), target);
  assert.ok(open.kind === 'accepted');
  await one.settle(open, 2);
  const bearer = paymentHeader(offer!.challenge, { action: 'bearer', sessionId: offer!.paymentHash, preimage });
  // 30 requests, each debited 5 then settled at i % 7, interleaved across both instances.
  const costs = Array.from({ length: 30 }, (_, i) => i % 7);
  await Promise.all(
    costs.map(async (cost, i) => {
      const scheme = i % 2 === 0 ? one : two;
      const verdict = await scheme.verify(requestWith(bearer), target);
      assert.ok(verdict.kind === 'accepted', JSON.stringify(verdict));
      await (i % 3 === 0 ? two : one).settle(verdict, cost);
    }),
  );
  const spent = 2 + costs.reduce((a, b) => a + b, 0);
  assert.equal((await store.getSession(offer!.paymentHash))?.spentSats, spent);
  // Under-estimates beyond the balance: every delta is a charge, so the spend ends clamped at the deposit.
  const results = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const verdict = await (i % 2 === 0 ? two : one).verify(requestWith(bearer), target);
      if (verdict.kind === 'accepted') await (i % 2 === 0 ? one : two).settle(verdict, 50);
      return verdict.kind;
    }),
  );
  assert.ok(results.includes('accepted'));
  const session = await store.getSession(offer!.paymentHash);
  assert.deepEqual([session?.spentSats, session?.balanceSats], [200, 0]);
}

/** What {@link goChallenge} made. */
export interface GoChallenge {
  challenge: PaymentChallenge;
  /** The charge or deposit invoice. */
  invoice: string;
  paymentHash: string;
}

/**
 * A Payment challenge made the Go aperture's way (as the vectors pin it): the id is
 * HMAC-SHA256 of `realm|method|intent|request|expires|digest|opaque` keyed with the
 * secret itself, bound to no service.
 * @param invoicer - the node whose invoice the challenge carries
 * @param secret - the shared HMAC secret
 * @param options - realm, intent, amount (the unit price of a session), expiry (ms since the epoch)
 */
export async function goChallenge(
  invoicer: Pick<DevInvoicer, 'createInvoice'>,
  secret: Uint8Array,
  options: { realm: string; intent?: 'charge' | 'session'; amountSats: number; expiresAt: number; network?: string },
): Promise<GoChallenge> {
  const intent = options.intent ?? 'charge';
  const invoiceSats = intent === 'charge' ? options.amountSats : options.amountSats * 20;
  const invoice = await invoicer.createInvoice({ amountSats: invoiceSats, memo: 'go aperture' });
  const request =
    intent === 'charge'
      ? {
          amount: String(options.amountSats),
          currency: 'sat',
          methodDetails: { invoice: invoice.paymentRequest, network: options.network ?? 'regtest', paymentHash: invoice.paymentHash },
        }
      : {
          amount: String(options.amountSats),
          currency: 'sat',
          depositAmount: String(invoiceSats),
          depositInvoice: invoice.paymentRequest,
          idleTimeout: '300',
          paymentHash: invoice.paymentHash,
        };
  const unsigned = {
    realm: options.realm,
    method: 'lightning',
    intent,
    request: encodeJcsParam(request),
    expires: new Date(Math.floor(options.expiresAt / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
  };
  return {
    challenge: { id: computeChallengeId(secret, unsigned), ...unsigned },
    invoice: invoice.paymentRequest,
    paymentHash: invoice.paymentHash,
  };
}
