/**
 * The one conformance suite every client helper runs (`wrapFetch`, the undici
 * interceptor, the gRPC client interceptor), over real sockets against a server
 * of its transport (test/client/l402-test-server.ts, l402-grpc-test-server.ts):
 * the challenge dialects, token reuse, paying again for a refused token (once,
 * without looping), single flight, the per-request price and fee limits, the
 * budgets, the hooks and the payers' failures, each surfaced with its code.
 *
 * Each transport's test file supplies a {@link ClientTransport}: how to start its
 * server with the switches of `TestServerOptions`, and how to send one request
 * through its helper and report what came back as an {@link Outcome}.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChallengeParseError } from '../../src/client/challenge-parse-error.js';
import { clientErrorContext } from '../../src/client/client-error-context.js';
import { L402Client, type L402ClientOptions } from '../../src/client/l402-client.js';
import { readInvoice } from '../../src/client/read-invoice.js';
import { BudgetExceededError, L402Error, PaymentError } from '../../src/core/errors.js';
import type { PaymentResult } from '../../src/core/types.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import type { CleanupScope } from '../fixtures/cleanup.js';
import { TestClock } from '../fixtures/test-clock.js';
import type { TestServerOptions } from './l402-test-server.js';

/** What one request through a helper came to. */
export type Outcome =
  /** The protected content (`paid content for <token id>`). */
  | { kind: 'ok'; body: string }
  /** An answer handed to the caller unpaid: HTTP status and body, or gRPC status and details. */
  | { kind: 'unpaid'; status: number; body: string }
  /** The helper's error: its code, and the challenge it was about (status, headers; the URL where the transport says it). */
  | {
      kind: 'error';
      code: string;
      message: string;
      status: number | undefined;
      headers: Readonly<Record<string, string>> | undefined;
      url: string | undefined;
      error: unknown;
    };

/** A running server of the transport, with the helper under test bound to it. */
export interface TransportServer {
  invoicer: DevInvoicer;
  /** Invoices settled so far (payments made). */
  payments(): number;
  /** Challenges sent so far. */
  challenges(): number;
  /** Requests that reached the protected handler. */
  served(): number;
  /** `Authorization` values the server saw, per request (undefined for none). */
  authorizations: Array<string | undefined>;
  /** Forget every root key: tokens issued so far are refused (`error="revoked"`). */
  rotate(): void;
  /** The URL a request is made for, as the client errors name it. */
  url: string;
  /**
   * The helper under test for this server: given client options (or a shared
   * client), a function that sends one request (with its own `Authorization`
   * when given) and reports the outcome.
   */
  helper(options: L402ClientOptions | L402Client): (request?: { authorization?: string }) => Promise<Outcome>;
}

/** One client helper under test. */
export interface ClientTransport {
  name: string;
  /** The status a challenge arrives with: 402, or gRPC's 13 (`INTERNAL`). */
  challengeStatus: number;
  /** What a challenge handed over unpaid says: the 402's body, or the gRPC status details. */
  challengeBody: string;
  /** Whether errors reach the caller as the client's typed errors (HTTP) rather than a status with the code (gRPC). */
  typedErrors: boolean;
  /** Whether errors carry the request URL. */
  reportsUrl: boolean;
  /** Starts a server (stopped after the test `t`, with the helpers it made). */
  start(t: CleanupScope, options?: TestServerOptions): Promise<TransportServer>;
}

type Lines = Array<[string, string]>;

function macaroonOf(line: string): string {
  return /(?:macaroon|token)="?([^",\s]+)"?/.exec(line)?.[1] ?? '';
}

function invoiceOf(line: string): string {
  return /invoice="?([^",\s]+)"?/.exec(line)?.[1] ?? '';
}

/** The dialects of PROTOCOL §2 a client must accept, made from the reference form (LSAT line, then L402 line). */
const DIALECTS: Array<[string, (lines: Lines) => Lines, RegExp]> = [
  ['LSAT only (old servers)', (lines) => lines.filter(([, v]) => v.startsWith('LSAT')), /^LSAT /],
  ['one line, LSAT and L402 joined with ", "', (lines) => [['WWW-Authenticate', lines.map(([, v]) => v).join(', ')]], /^L402 /],
  [
    'parameters reversed and unquoted',
    (lines) => lines.map(([n, v]) => [n, `${v.slice(0, 4)} invoice=${invoiceOf(v)}, macaroon=${macaroonOf(v)}`]),
    /^L402 /,
  ],
  [
    'lower-case scheme, spec form with version, after a Payment challenge',
    (lines) => {
      const l402 = lines[1]?.[1] ?? '';
      return [
        ['WWW-Authenticate', 'Payment id="abc", realm="x", method="lightning"'],
        ['WWW-Authenticate', `l402 token="${macaroonOf(l402)}", version="0", invoice="${invoiceOf(l402)}"`],
      ];
    },
    /^L402 /,
  ],
];

/** A payer over the server's dev backend that counts its calls and records the options it was given. */
function countingPayer(invoicer: DevInvoicer): {
  payInvoice: DevPayer['payInvoice'];
  calls: () => number;
  feeLimits: Array<number | undefined>;
} {
  const dev = new DevPayer(invoicer);
  let calls = 0;
  const feeLimits: Array<number | undefined> = [];
  return {
    payInvoice: (invoice, options) => {
      calls++;
      feeLimits.push(options?.maxFeeSats);
      return dev.payInvoice(invoice, options);
    },
    calls: () => calls,
    feeLimits,
  };
}

/** Asserts an error outcome with `code`, about the challenge the server sent. */
function assertError(
  transport: ClientTransport,
  s: TransportServer,
  outcome: Outcome,
  code: string,
  errorClass?: abstract new (...args: never[]) => L402Error,
): Extract<Outcome, { kind: 'error' }> {
  assert.equal(outcome.kind, 'error', `expected ${code}, got ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'error') throw new Error('unreachable');
  assert.equal(outcome.code, code, outcome.message);
  if (transport.reportsUrl) assert.equal(outcome.url, s.url);
  if (transport.typedErrors && errorClass !== undefined)
    assert.ok(outcome.error instanceof errorClass, `${String(outcome.error)} is a ${errorClass.name}`);
  return outcome;
}

/** Asserts that the error came with the challenge's status and headers. */
function assertAboutChallenge(transport: ClientTransport, outcome: Extract<Outcome, { kind: 'error' }>): void {
  assert.equal(outcome.status, transport.challengeStatus);
  assert.match(outcome.headers?.['www-authenticate'] ?? '', /L402|LSAT/);
}

/** Runs the suite against one transport. */
export function runClientConformance(transport: ClientTransport): void {
  describe(`client conformance: ${transport.name}`, () => {
    for (const form of ['reference', 'spec'] as const) {
      test(`${form} form: pays once, then reuses the token`, async (t) => {
        const s = await transport.start(t, { form });
        const send = s.helper({ payer: new DevPayer(s.invoicer) });
        const first = await send();
        assert.equal(first.kind, 'ok', JSON.stringify(first));
        assert.match(first.kind === 'ok' ? first.body : '', /^paid content for [0-9a-f]{64}/);
        assert.equal((await send()).kind, 'ok');
        assert.equal(s.payments(), 1);
        assert.equal(s.challenges(), 1);
        assert.equal(s.authorizations[0], undefined);
        assert.match(s.authorizations[1] ?? '', /^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/);
        assert.equal(s.authorizations[2], s.authorizations[1]);
      });
    }

    for (const [name, rewrite, scheme] of DIALECTS) {
      test(`dialect: ${name}`, async (t) => {
        const s = await transport.start(t, { rewrite });
        const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })();
        assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
        assert.equal(s.payments(), 1);
        assert.match(s.authorizations[1] ?? '', scheme);
      });
    }

    test('dialect: an error= parameter (the refusal reason) among the others is read, and the challenge paid', async (t) => {
      const s = await transport.start(t, {
        rewrite: (lines) => lines.map(([n, v]) => [n, `${v.slice(0, 4)} error="expired", ${v.slice(5)}`]),
      });
      const refusals: Array<string | undefined> = [];
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer), onChallenge: (info) => void refusals.push(info.refusal) })();
      assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
      assert.deepEqual(refusals, ['expired']);
      assert.equal(s.payments(), 1);
    });

    test('a stored token the server refuses is replaced by paying again, once; the refusal reason reaches the hooks', async (t) => {
      const s = await transport.start(t);
      const refusals: Array<string | undefined> = [];
      const send = s.helper({ payer: new DevPayer(s.invoicer), onChallenge: (info) => void refusals.push(info.refusal) });
      assert.equal((await send()).kind, 'ok');
      s.rotate();
      assert.equal((await send()).kind, 'ok');
      assert.equal(s.payments(), 2);
      assert.equal((await send()).kind, 'ok');
      assert.equal(s.payments(), 2);
      assert.deepEqual(refusals, [undefined, 'revoked']);
    });

    test('a server that refuses even a fresh token costs one payment and L402_ERR_CLIENT_TOKEN_REJECTED', async (t) => {
      const s = await transport.start(t, { alwaysChallenge: true });
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })();
      assertAboutChallenge(transport, assertError(transport, s, outcome, 'L402_ERR_CLIENT_TOKEN_REJECTED', PaymentError));
      assert.equal(s.payments(), 1);
    });

    test('a token refused right after it was paid for: one payment, no loop, the error says why', async (t) => {
      const s = await transport.start(t);
      const send = s.helper({ payer: new DevPayer(s.invoicer), afterPay: () => s.rotate() });
      const outcome = assertError(transport, s, await send(), 'L402_ERR_CLIENT_TOKEN_REJECTED', PaymentError);
      assert.match(outcome.message, /the server says: "revoked"/);
      assert.equal(s.payments(), 1);
      assert.equal(s.challenges(), 2);
    });

    test('single flight: 20 concurrent requests meeting one challenge pay exactly once', async (t) => {
      const s = await transport.start(t);
      const payer = countingPayer(s.invoicer);
      const send = s.helper({ payer });
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => send()));
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        Array(20).fill('ok'),
      );
      assert.equal(payer.calls(), 1);
      assert.equal(s.payments(), 1);
      assert.equal(s.served(), 20);
    });

    test('an invoice whose payment hash differs from the macaroon is not paid (L402_ERR_CLIENT_HASH_MISMATCH)', async (t) => {
      const s = await transport.start(t, { mismatchedInvoice: true });
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })();
      assertAboutChallenge(transport, assertError(transport, s, outcome, 'L402_ERR_CLIENT_HASH_MISMATCH', PaymentError));
      assert.equal(s.payments(), 0);
    });

    test('a price above maxPriceSats (1,000 by default) is refused without paying; the fee limit reaches the payer', async (t) => {
      const s = await transport.start(t, { priceSats: 1001 });
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })();
      assertAboutChallenge(transport, assertError(transport, s, outcome, 'L402_ERR_CLIENT_BUDGET_EXCEEDED', BudgetExceededError));
      assert.equal(s.payments(), 0);
      const low = await transport.start(t, { priceSats: 20 });
      assertError(
        transport,
        low,
        await low.helper({ payer: new DevPayer(low.invoicer), maxPriceSats: 19 })(),
        'L402_ERR_CLIENT_BUDGET_EXCEEDED',
      );
      assert.equal(low.payments(), 0);

      const cheap = await transport.start(t, { priceSats: 5 });
      const payer = countingPayer(cheap.invoicer);
      assert.equal((await cheap.helper({ payer, maxFeeSats: 3 })()).kind, 'ok');
      assert.deepEqual(payer.feeLimits, [3]);
    });

    test('budgets: per origin, rolling window and total, each refusing before paying', async (t) => {
      const s = await transport.start(t, { priceSats: 100 });
      const perOrigin = s.helper({ payer: new DevPayer(s.invoicer), budget: { perOriginSats: 150 } });
      assert.equal((await perOrigin()).kind, 'ok');
      s.rotate();
      assertError(transport, s, await perOrigin(), 'L402_ERR_CLIENT_BUDGET_EXCEEDED', BudgetExceededError);
      assert.equal(s.payments(), 1);

      const clock = new TestClock(1_000_000);
      const w = await transport.start(t, { priceSats: 100 });
      const windowed = new L402Client({ payer: new DevPayer(w.invoicer), budget: { window: { sats: 150, windowMs: 60_000 } }, clock });
      const send = w.helper(windowed);
      assert.equal((await send()).kind, 'ok');
      w.rotate();
      assertError(transport, w, await send(), 'L402_ERR_CLIENT_BUDGET_EXCEEDED', BudgetExceededError);
      assert.equal(w.payments(), 1);
      clock.advance(60_001);
      assert.equal((await send()).kind, 'ok');
      assert.equal(w.payments(), 2);
      assert.equal(windowed.spent().totalSats, 200);

      const a = await transport.start(t, { priceSats: 100 });
      const b = await transport.start(t, { priceSats: 100 });
      // One wallet for two servers: whichever dev backend issued the invoice settles it.
      const payBoth = async (invoice: string): Promise<string> => {
        const issuer = (await a.invoicer.lookupInvoice(readInvoice(invoice).paymentHash).catch(() => undefined)) !== undefined ? a : b;
        return (await issuer.invoicer.pay(invoice)).preimage;
      };
      const total = new L402Client({ payer: payBoth, budget: { totalSats: 150 } });
      assert.equal((await a.helper(total)()).kind, 'ok');
      assertError(transport, b, await b.helper(total)(), 'L402_ERR_CLIENT_BUDGET_EXCEEDED', BudgetExceededError);
      assert.equal(a.payments() + b.payments(), 1);
    });

    test('hooks: onChallenge sees every challenge, beforePay can veto (L402_ERR_CLIENT_PAYMENT_VETOED), afterPay sees the result', async (t) => {
      const s = await transport.start(t, { priceSats: 21 });
      const events: string[] = [];
      const vetoing = s.helper({
        payer: new DevPayer(s.invoicer),
        onChallenge: (info) => void events.push(`challenge ${info.priceSats} ${info.tokenId.length}`),
        beforePay: () => false,
      });
      assertError(transport, s, await vetoing(), 'L402_ERR_CLIENT_PAYMENT_VETOED', PaymentError);
      assert.equal(s.payments(), 0);
      const paying = s.helper({
        payer: new DevPayer(s.invoicer),
        beforePay: (info) => void events.push(`before ${info.paymentHash.length}`),
        afterPay: (info, result) => void events.push(`after ${result.amountSats} ${result.preimage.length} ${info.url}`),
      });
      assert.equal((await paying()).kind, 'ok');
      assert.deepEqual(events, ['challenge 21 64', 'before 64', `after 21 64 ${s.url}`]);
    });

    test('a plain pay function (WebLN / NWC style) is accepted', async (t) => {
      const s = await transport.start(t);
      const outcome = await s.helper({ payer: async (invoice: string) => ({ preimage: (await s.invoicer.pay(invoice)).preimage }) })();
      assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
      assert.equal(s.payments(), 1);
    });

    test('without a payer a challenge is L402_ERR_CLIENT_NO_PAYER', async (t) => {
      const s = await transport.start(t);
      assertError(transport, s, await s.helper({})(), 'L402_ERR_CLIENT_NO_PAYER', PaymentError);
    });

    test('payer failures keep their code (a plain error is L402_ERR_CLIENT_PAYMENT_FAILED), nothing is stored, the next request pays', async (t) => {
      const s = await transport.start(t);
      const dev = new DevPayer(s.invoicer);
      let failWith: Error | undefined = new PaymentError('L402_ERR_PAY_NO_ROUTE', 'no route to the destination');
      const send = s.helper({
        payer: {
          payInvoice: async (invoice, options) => {
            if (failWith !== undefined) throw failWith;
            return dev.payInvoice(invoice, options);
          },
        },
      });
      assertError(transport, s, await send(), 'L402_ERR_PAY_NO_ROUTE', PaymentError);
      failWith = new Error('wallet offline');
      const plain = assertError(transport, s, await send(), 'L402_ERR_CLIENT_PAYMENT_FAILED', PaymentError);
      assert.match(plain.message, /wallet offline/);
      assert.equal(s.payments(), 0);
      failWith = undefined;
      assert.equal((await send()).kind, 'ok');
      assert.equal(s.payments(), 1);
      assert.deepEqual(s.authorizations.slice(0, 3), [undefined, undefined, undefined], 'no token was sent before one was paid for');
    });

    test('a payer answering a preimage of another hash: L402_ERR_CLIENT_PREIMAGE_MISMATCH, the token is not used', async (t) => {
      const s = await transport.start(t);
      const outcome = await s.helper({ payer: () => Promise.resolve('00'.repeat(32)) })();
      assertError(transport, s, outcome, 'L402_ERR_CLIENT_PREIMAGE_MISMATCH', PaymentError);
      assert.deepEqual(s.authorizations, [undefined]);
    });

    test('a payment that fails but trackPayment finds settled (e.g. a timeout) is used, not paid again', async (t) => {
      const s = await transport.start(t);
      const dev = new DevPayer(s.invoicer);
      const settled = new Map<string, PaymentResult>();
      let attempts = 0;
      const outcome = await s.helper({
        payer: {
          payInvoice: async (invoice, options) => {
            attempts++;
            const result = await dev.payInvoice(invoice, options);
            settled.set(result.paymentHash, result);
            throw new PaymentError('L402_ERR_PAY_TIMEOUT', 'gave up waiting (the payment went through meanwhile)');
          },
          trackPayment: (hash) => Promise.resolve(settled.get(hash)),
        },
      })();
      assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
      assert.equal(attempts, 1);
      assert.equal(s.payments(), 1);
    });

    test('an answer without an L402 challenge is handed over unpaid; a broken L402 challenge is L402_ERR_CLIENT_CHALLENGE_INVALID', async (t) => {
      const other = await transport.start(t, { rewrite: () => [['WWW-Authenticate', 'Payment id="x", method="lightning"']] });
      const outcome = await other.helper({ payer: new DevPayer(other.invoicer) })();
      assert.deepEqual(outcome, { kind: 'unpaid', status: transport.challengeStatus, body: transport.challengeBody });
      assert.equal(other.payments(), 0);

      for (const bad of ['L402 macaroon="bm90IGEgbWFjYXJvb24=", invoice="lnbcrt1nope"', 'L402 garbage']) {
        const s = await transport.start(t, { rewrite: () => [['WWW-Authenticate', bad]] });
        const refused = assertError(
          transport,
          s,
          await s.helper({ payer: new DevPayer(s.invoicer) })(),
          'L402_ERR_CLIENT_CHALLENGE_INVALID',
          ChallengeParseError,
        );
        assert.equal(refused.status, transport.challengeStatus);
        assert.equal(s.payments(), 0);
      }
    });

    test('a request with its own Authorization is passed through untouched', async (t) => {
      const s = await transport.start(t);
      const outcome = await s.helper({ payer: new DevPayer(s.invoicer) })({ authorization: 'Bearer abc' });
      assert.deepEqual(outcome, { kind: 'unpaid', status: transport.challengeStatus, body: transport.challengeBody });
      assert.equal(s.payments(), 0);
      assert.deepEqual(s.authorizations, ['Bearer abc']);
    });
  });
}

/** The outcome of an error thrown by `wrapFetch` or the undici interceptor: the client's typed error and its context. */
export function httpErrorOutcome(error: unknown): Outcome {
  if (!(error instanceof L402Error)) throw error;
  const context = clientErrorContext(error);
  return {
    kind: 'error',
    code: error.code,
    message: error.message,
    status: context?.responseStatus,
    headers: context?.responseHeaders,
    url: context?.url,
    error,
  };
}
