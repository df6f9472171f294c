/**
 * The Payment scheme (MPP) with the Lightning method: its `charge` intent (one
 * paid invoice buys one request) and its `session` intent (a deposit debited
 * per request, topped up, closed with a refund of the balance).
 *
 * Framework-free and without I/O of its own: invoices come from an
 * {@link Invoicer}, refunds go through a {@link Payer}, single use and balances
 * live in a {@link ChargeStore} and a {@link SessionStore}, time comes from a
 * {@link Clock}. A refused credential is a result (with its problem type), not
 * an exception; exceptions are for bad options and infrastructure faults.
 */
import { createHash, createHmac } from 'node:crypto';
import { systemClock, type Clock, type HeaderList, type Invoicer, type Payer, type RequestView } from '../core/types.js';
import { L402Error } from '../core/errors.js';
import type { ChargeClaim, ChargeStore } from './charge-store.js';
import type { SessionRecord, SessionStore } from './session-store.js';
import { invalidArgument } from './mpp-error.js';
import { canonicalize } from './jcs.js';
import {
  computeChallengeId,
  formatPaymentChallenge,
  unquotableParam,
  verifyChallengeId,
  type PaymentChallenge,
} from './payment-challenge.js';
import { isPaymentAuthorization, parsePaymentCredential, type PaymentCredential } from './payment-credential.js';
import { encodeChargeReceipt, encodeSessionReceipt, PAYMENT_RECEIPT_HEADER, type ReceiptRefundStatus } from './payment-receipt.js';
import { encodeJcsParam, readChargeRequest, readSessionRequest, type ChargeRequest, type SessionRequest } from './payment-request.js';
import {
  paymentRequiredProblem,
  problemBody,
  problemFor,
  PROBLEM_CONTENT_TYPE,
  type MppRefusalCode,
  type ProblemDetails,
} from './problem.js';

/** The intents of the Lightning method. */
export type MppIntent = 'charge' | 'session';

/** The fields of a decoded BOLT11 invoice the session checks need. */
export interface DecodedReturnInvoice {
  /** Network from the prefix (`mainnet`, `testnet`, `signet`, `regtest`, `simnet`). */
  network: string;
  /** Amount in millisatoshis; 0 when the invoice carries none. */
  amountMsat: bigint;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/**
 * Decodes and verifies a BOLT11 invoice, throwing when it is not one
 * (`decodeInvoice` of `aperture-ts/lightning/dev` fits).
 */
export type InvoiceDecoder = (paymentRequest: string) => DecodedReturnInvoice;

/** The session intent's parts and policy. */
export interface MppSessionOptions {
  /** Balances: open, credit once, debit if covered, close and return the balance, refunds. */
  store: Pick<
    SessionStore,
    | 'openSession'
    | 'getSession'
    | 'creditSession'
    | 'debitSession'
    | 'settleSession'
    | 'closeSession'
    | 'listIdleSessions'
    | 'beginRefund'
    | 'finishRefund'
    | 'listRefundsDue'
  >;
  /** Pays refunds to the clients' amountless return invoices (with `amountSats`). */
  payer: Payer;
  /** Decodes return invoices, to check them at `open`. */
  decodeInvoice: InvoiceDecoder;
  /** Deposit = unit price × this; default 20 (the reference's `sessiondepositmultiplier`). */
  depositMultiplier?: number;
  /** Sessions without a balance change for this long are closed and refunded by {@link MppScheme.sweepIdleSessions}; default 300. */
  idleTimeoutSeconds?: number;
  /** Routing fee a refund may cost at most, satoshis (taken from the server's funds); the payer's default when absent. */
  maxRefundFeeSats?: number;
  /** Give up on one refund attempt after this long; default 60 000 ms. */
  refundTimeoutMs?: number;
  /** Attempts after which a failing refund is `abandoned` (final); default 10. */
  maxRefundAttempts?: number;
  /**
   * Wait before retrying a failed refund: this after the first failure, doubling
   * with each further one, at most an hour; default 60 000 ms.
   */
  refundBackoffMs?: number;
  /**
   * Carries over a session the Go aperture opened on the shared database (see
   * `ApertureStore.importGoSession`): asked when a bearer, topUp or close names
   * a session this store does not have, and before a Go-issued `open` (whose
   * deposit may have opened a Go session of the same id), after which the
   * action is applied as usual. Resolves whether it imported the session.
   */
  importGoSession?: (id: string) => Promise<boolean>;
  /**
   * The session the Go aperture credited a payment to (see
   * `ApertureStore.goCreditOwner`), asked before a Go-issued open or topUp: a
   * payment the Go aperture credited to a session that is not (or cannot be)
   * carried over here credits nothing here.
   */
  goCreditOwner?: (paymentHash: string) => Promise<string | undefined>;
}

/** Options of {@link MppScheme}. */
export interface MppSchemeOptions {
  /** Protection space of the challenges (the reference's `mpprealm`, by default its `listenaddr`). */
  realm: string;
  /**
   * HMAC secret binding challenge ids, at least 32 bytes, shared by every instance (kept in the database).
   * Each target's challenges are signed with a key derived from it and the target's service and resource.
   */
  secret: Uint8Array;
  /** Creates the charge and deposit invoices. */
  invoicer: Pick<Invoicer, 'createInvoice'>;
  /** Network the invoices are on, named in charge requests and required of return invoices. */
  network: string;
  /** Consumed charges; the `charge` intent is offered and accepted only with it. */
  charges?: Pick<ChargeStore, 'consumeCharge' | 'releaseCharge' | 'pruneCharges'>;
  /** The `session` intent's parts; offered and accepted only with them. */
  sessions?: MppSessionOptions;
  /** How long a challenge (and its invoice) stays payable, seconds; default 900. */
  challengeTtlSeconds?: number;
  /** Time source. */
  clock?: Clock;
  /**
   * Also accept challenges the Go aperture issued with this secret (their id is
   * HMAC'd with the secret itself, not a per-service key), so that a client who
   * paid one before a switch is served after it. Without the service binding,
   * such a challenge must be unexpired, of this realm, and its request's amount
   * at least this request's price. Default false.
   */
  acceptGoChallenges?: boolean;
  /**
   * Whether the Go aperture already consumed a charge (its own record, on the
   * shared database), asked before a Go-issued charge challenge is accepted, so
   * that one payment does not buy a request from each program.
   */
  goChargeConsumed?: (paymentHash: string) => Promise<boolean>;
}

/** What a request is priced at, and for what. */
export interface MppTarget {
  /** Service name, bound into every challenge. */
  service: string;
  /** The priced resource (path) of a dynamically priced service, bound into every challenge. */
  resource?: string;
  /** Price of this request in satoshis (the unit price of a session), a positive integer. */
  priceSats: number;
  /** Human-readable description put in the challenge (not under the HMAC). */
  description?: string;
  /** Intents this target accepts and offers; default every intent the scheme has. */
  intents?: readonly MppIntent[];
  /**
   * A metered session's price (a dynamic pricer's `QuoteSession`), asked once per
   * challenge (with no session) and once per session request (with its id):
   * its unit price is what a session challenge advertises and what a session
   * request is debited; its deposit, when above 0, replaces price × deposit
   * multiplier. `undefined` (or a unit price of 0) leaves `priceSats`. After the
   * response, {@link MppScheme.settle} corrects the debit to the true cost.
   */
  sessionQuote?: (sessionId: string | undefined) => Promise<MppSessionQuote | undefined>;
}

/** A metered session's price for one request. */
export interface MppSessionQuote {
  /** Satoshis one request is estimated to cost. */
  unitSats: number;
  /** Satoshis to ask as a fresh session's deposit; 0 for price × deposit multiplier. */
  depositSats?: number;
}

/** One Payment challenge made for a target. */
export interface MppOffer {
  /** `charge` or `session`. */
  intent: MppIntent;
  /** Its parameters. */
  challenge: PaymentChallenge;
  /** The `WWW-Authenticate` value. */
  header: string;
  /** Payment hash of its invoice (charge) or deposit invoice (session), hex. */
  paymentHash: string;
  /** Satoshis of that invoice. */
  invoiceSats: number;
  /** When the challenge expires, ms since the epoch. */
  expiresAt: number;
}

/** What a session action was. */
export type MppAction = 'charge' | 'open' | 'bearer' | 'topUp' | 'close';

/** The refund of a session closed by this request or by the sweeper. */
export interface MppRefundReport {
  /** The session. */
  sessionId: string;
  /** Satoshis the refund is (or was) for. */
  sats: number;
  /**
   * `succeeded`, `failed` (not paid yet: retried by {@link MppScheme.retryRefunds}), `skipped` (nothing
   * to refund) or `abandoned` (given up: the return invoice expired, or `maxRefundAttempts` failed).
   */
  status: ReceiptRefundStatus;
  /** Why it failed. */
  error?: string;
}

/** An accepted credential: the request may be served. */
export interface MppAccepted {
  kind: 'accepted';
  /** The intent answered. */
  intent: MppIntent;
  /** What the credential did. */
  action: MppAction;
  /** The challenge answered. */
  challengeId: string;
  /** Charge: the invoice's payment hash. Session: the session id (its deposit payment hash). */
  reference: string;
  /** Satoshis this request was charged (the paid invoice, or the session debit). */
  chargedSats: number;
  /** The session's balance after this request, for session actions. */
  balanceSats?: number;
  /** The refund, for `close`. */
  refund?: MppRefundReport;
  /** The `Payment-Receipt` value. */
  receipt: string;
  /** What {@link MppScheme.release} gives back. @internal */
  readonly undo?: { claim: ChargeClaim } | { sessionId: string; sats: number };
}

/** A refused credential: answer 402 with fresh challenges and this problem. */
export interface MppRefused {
  kind: 'refused';
  /** The stable code (its problem type is `problem.type`). */
  code: MppRefusalCode;
  /** The RFC 9457 problem for the body. */
  problem: ProblemDetails;
  /** Headers to send with the 402 besides the challenges: the receipt of a `close` that ran. */
  headers: HeaderList;
}

/** The outcome of {@link MppScheme.verify}: no Payment credential, accepted, or refused. */
export type MppVerification = { kind: 'none' } | MppAccepted | MppRefused;

/** A 402 carrying Payment challenges. */
export interface MppChallengeResponse {
  /** 402. */
  status: 402;
  /** One `WWW-Authenticate` per offer, then `Content-Type` and `Cache-Control: no-store` (and a refusal's headers). */
  headers: HeaderList;
  /** The problem+json body. */
  body: string;
}

/** What a sweep did. */
export interface MppSweepResult {
  /** Sessions this sweep closed. */
  closed: number;
  /** The refunds of those sessions (and of earlier refunds due, for {@link MppScheme.retryRefunds}). */
  refunds: MppRefundReport[];
}

const DEFAULT_TTL_SECONDS = 900;
const DEFAULT_MULTIPLIER = 20;
const DEFAULT_IDLE_SECONDS = 300;
const DEFAULT_MAX_REFUND_ATTEMPTS = 10;
const DEFAULT_REFUND_BACKOFF_MS = 60_000;
const MAX_REFUND_BACKOFF_MS = 60 * 60 * 1000;
const PREIMAGE = /^[0-9a-f]{64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** Longest BOLT11 invoice a client's `readInvoice` accepts. */
const MAX_INVOICE_LENGTH = 7089;

class Refusal {
  constructor(
    readonly code: MppRefusalCode,
    readonly detail: string,
    readonly headers: HeaderList = [],
  ) {}
}

/**
 * The Payment scheme with the Lightning method, over injected parts.
 *
 * @example
 * ```ts
 * const scheme = new MppScheme({ realm: 'api.example.com', secret, invoicer, network: 'regtest', charges: store });
 * const target = { service: 'quotes', priceSats: 10 };
 * const verdict = await scheme.verify(request, target);
 * if (verdict.kind === 'accepted') serve(scheme.responseHeaders(verdict));
 * else reply(scheme.challengeResponse(await scheme.offers(target), verdict.kind === 'refused' ? verdict : undefined));
 * ```
 */
export class MppScheme {
  /** The realm of every challenge. */
  readonly realm: string;
  /** The network of the invoices. */
  readonly network: string;
  /** The intents this scheme offers and accepts, charge first. */
  readonly intents: readonly MppIntent[];
  readonly #secret: Buffer;
  readonly #invoicer: Pick<Invoicer, 'createInvoice'>;
  readonly #charges: MppSchemeOptions['charges'];
  readonly #sessions: MppSessionOptions | undefined;
  readonly #ttlSeconds: number;
  readonly #multiplier: number;
  readonly #idleSeconds: number;
  readonly #clock: Clock;
  readonly #acceptGo: boolean;
  readonly #goChargeConsumed: MppSchemeOptions['goChargeConsumed'];

  /**
   * @param options - realm, secret, invoicer, network, stores, policy
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` for a secret under 32 bytes, an empty realm or one with
   *   a control character, no intent (neither `charges` nor `sessions`), or a non-positive TTL, multiplier or idle timeout
   */
  constructor(options: MppSchemeOptions) {
    if (typeof options.realm !== 'string' || options.realm === '' || /[\x00-\x08\x0a-\x1f\x7f]/.test(options.realm)) {
      throw invalidArgument('realm must be a non-empty string without control characters');
    }
    if (!(options.secret instanceof Uint8Array) || options.secret.length < 32)
      throw invalidArgument('the HMAC secret must be at least 32 bytes');
    if (typeof options.network !== 'string' || options.network === '') throw invalidArgument('network must be named');
    if (options.charges === undefined && options.sessions === undefined)
      throw invalidArgument('enable at least one intent: charges or sessions');
    this.#ttlSeconds = positive(options.challengeTtlSeconds ?? DEFAULT_TTL_SECONDS, 'challengeTtlSeconds');
    this.#multiplier = positive(options.sessions?.depositMultiplier ?? DEFAULT_MULTIPLIER, 'sessions.depositMultiplier');
    this.#idleSeconds = positive(options.sessions?.idleTimeoutSeconds ?? DEFAULT_IDLE_SECONDS, 'sessions.idleTimeoutSeconds');
    if (options.sessions?.refundTimeoutMs !== undefined) positive(options.sessions.refundTimeoutMs, 'sessions.refundTimeoutMs');
    if (options.sessions?.maxRefundAttempts !== undefined) positive(options.sessions.maxRefundAttempts, 'sessions.maxRefundAttempts');
    if (options.sessions?.refundBackoffMs !== undefined) positive(options.sessions.refundBackoffMs, 'sessions.refundBackoffMs');
    if (
      options.sessions?.maxRefundFeeSats !== undefined &&
      !(Number.isSafeInteger(options.sessions.maxRefundFeeSats) && options.sessions.maxRefundFeeSats >= 0)
    ) {
      throw invalidArgument('sessions.maxRefundFeeSats must be a non-negative whole number');
    }
    this.realm = options.realm;
    this.network = options.network;
    this.#secret = Buffer.from(options.secret);
    this.#invoicer = options.invoicer;
    this.#charges = options.charges;
    this.#sessions = options.sessions;
    this.#clock = options.clock ?? systemClock;
    this.#acceptGo = options.acceptGoChallenges === true;
    this.#goChargeConsumed = options.goChargeConsumed;
    this.intents = [
      ...(options.charges !== undefined ? ['charge' as const] : []),
      ...(options.sessions !== undefined ? ['session' as const] : []),
    ];
  }

  /**
   * Makes one challenge per intent the target accepts (charge, then session),
   * each with a fresh invoice: the charge invoice for the price, the deposit
   * invoice for price × deposit multiplier.
   * @param target - service, resource, price, intents
   * @returns the offers, in the order their lines go out
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` for a bad price or target; the invoicer's errors
   *   (`InvoiceError`) when it cannot create an invoice
   */
  async offers(target: MppTarget): Promise<MppOffer[]> {
    checkTarget(target);
    const now = this.#clock.now();
    const expiresAt = Math.floor(now / 1000) * 1000 + this.#ttlSeconds * 1000;
    const expires = rfc3339(expiresAt);
    const key = this.#keyFor(target);
    const offers: MppOffer[] = [];
    for (const intent of this.#intentsOf(target)) {
      const quote = intent === 'session' && target.sessionQuote !== undefined ? await target.sessionQuote(undefined) : undefined;
      const unitSats = quoted(quote) ?? target.priceSats;
      const deposit = quote?.depositSats;
      const invoiceSats =
        intent === 'charge'
          ? target.priceSats
          : deposit !== undefined && Number.isSafeInteger(deposit) && deposit > 0
            ? Math.max(deposit, unitSats)
            : unitSats * this.#multiplier;
      if (!Number.isSafeInteger(invoiceSats)) throw invalidArgument('the session deposit (price × deposit multiplier) is too large');
      const invoice = await this.#invoicer.createInvoice({
        amountSats: invoiceSats,
        memo: `${target.service} (${intent})`,
        expirySeconds: this.#ttlSeconds,
      });
      const request: ChargeRequest | SessionRequest =
        intent === 'charge'
          ? {
              amount: String(target.priceSats),
              currency: 'sat',
              ...(target.description !== undefined ? { description: target.description } : {}),
              methodDetails: { invoice: invoice.paymentRequest, network: this.network, paymentHash: invoice.paymentHash },
            }
          : {
              amount: String(unitSats),
              currency: 'sat',
              depositAmount: String(invoiceSats),
              depositInvoice: invoice.paymentRequest,
              idleTimeout: String(this.#idleSeconds),
              paymentHash: invoice.paymentHash,
            };
      const unsigned = { realm: this.realm, method: 'lightning', intent, request: encodeJcsParam(request), expires };
      const challenge: PaymentChallenge = { id: computeChallengeId(key, unsigned), ...unsigned };
      if (target.description !== undefined) challenge.description = target.description;
      const bad = unquotableParam(challenge);
      if (bad !== undefined) throw invalidArgument(`challenge parameter ${bad} has a control character a header cannot carry`);
      offers.push({
        intent,
        challenge,
        header: formatPaymentChallenge(challenge),
        paymentHash: invoice.paymentHash,
        invoiceSats,
        expiresAt,
      });
    }
    return offers;
  }

  /**
   * Verifies the request's Payment credential for a target, and when it holds,
   * spends it: a charge is consumed once (across instances on one store); a
   * session action opens, debits, credits or closes atomically.
   * @param request - the request's `authorization` values
   * @param target - service, resource, current price, intents
   * @returns `none` without a Payment credential; `accepted`; or `refused` with the code and problem
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` for a bad target; store errors
   *   (`L402_ERR_STORE_UNAVAILABLE`…) when a store cannot answer
   */
  async verify(request: Pick<RequestView, 'headerValues'>, target: MppTarget): Promise<MppVerification> {
    checkTarget(target);
    const values = [...new Set(request.headerValues('authorization').filter(isPaymentAuthorization))];
    if (values.length === 0) return { kind: 'none' };
    let challengeId: string | undefined;
    try {
      if (values.length > 1) throw new Refusal('L402_ERR_MPP_MALFORMED', 'several different Payment credentials in one request');
      const credential = readCredential(values[0] as string);
      challengeId = credential.challenge.id;
      return await this.#verify(credential, target);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { kind: 'refused', code: error.code, problem: problemFor(error.code, error.detail, challengeId), headers: error.headers };
    }
  }

  /**
   * The headers of a response served for an accepted credential: its
   * `Payment-Receipt` and `Cache-Control: private`.
   * @param accepted - what {@link MppScheme.verify} accepted in this request
   * @returns the headers
   */
  responseHeaders(accepted: MppAccepted): HeaderList {
    return [
      [PAYMENT_RECEIPT_HEADER, accepted.receipt],
      ['Cache-Control', 'private'],
    ];
  }

  /**
   * Gives back what an accepted credential spent, when the request was not
   * served (the backend failed: 5xx, unreachable, timeout): a charge's
   * consumption is released so the same credential buys the retry; a session's
   * debit is credited back. A `close` is final and releases nothing.
   * @param accepted - what {@link MppScheme.verify} accepted in this request
   * @returns `true` when something was given back
   * @throws store errors when the store cannot answer
   */
  async release(accepted: MppAccepted): Promise<boolean> {
    const undo = accepted.undo;
    if (undo === undefined) return false;
    if ('claim' in undo) return this.#charges !== undefined && (await this.#charges.releaseCharge(undo.claim));
    if (this.#sessions === undefined) return false;
    return (await this.#sessions.store.settleSession(undo.sessionId, -undo.sats, this.#clock.now())) !== undefined;
  }

  /**
   * Settles a metered session request once its true cost is known: the session
   * was debited `accepted.chargedSats` (the quote) before the request was
   * served; the difference is charged or given back, in one atomic step,
   * clamped so the spend stays within `[0, deposit]` (an under-estimate the
   * balance cannot cover is the server's loss, bounded by the balance). A
   * `close` is final and settles nothing, as does a closed session.
   * @param accepted - an accepted `open`, `bearer` or `topUp` of this request
   * @param costSats - what the request cost, a non-negative whole number
   * @returns the session after the settlement, or `undefined` when nothing was settled
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` for a bad cost or without sessions; store errors
   */
  async settle(accepted: MppAccepted, costSats: number): Promise<SessionRecord | undefined> {
    const sessions = this.#needSessions();
    if (!Number.isSafeInteger(costSats) || costSats < 0) throw invalidArgument('costSats must be a non-negative whole number');
    const undo = accepted.undo;
    if (accepted.intent !== 'session' || undo === undefined || 'claim' in undo) return undefined;
    const delta = costSats - undo.sats;
    if (delta === 0) return sessions.store.getSession(undo.sessionId);
    return sessions.store.settleSession(undo.sessionId, delta, this.#clock.now());
  }

  /**
   * The 402 for a request: its challenges, `Content-Type: application/problem+json`,
   * `Cache-Control: no-store`, and the problem (`payment-required`, or the refusal's).
   * @param offers - from {@link MppScheme.offers}
   * @param refused - the refusal of the request's credential, when it had one
   * @returns status, headers, body
   */
  challengeResponse(offers: readonly MppOffer[], refused?: MppRefused): MppChallengeResponse {
    const problem = refused?.problem ?? paymentRequiredProblem();
    return {
      status: 402,
      headers: [
        ...offers.map((offer) => ['WWW-Authenticate', offer.header] as const),
        ['Content-Type', PROBLEM_CONTENT_TYPE],
        ['Cache-Control', 'no-store'],
        ...(refused?.headers ?? []),
      ],
      body: problemBody(problem),
    };
  }

  /**
   * Whether an `authorization` value is this scheme's (`Payment …`), so that a
   * proxy strips it before forwarding.
   * @param value - a header value
   * @returns `true` for a Payment credential
   */
  isOwnAuthorization(value: string): boolean {
    return isPaymentAuthorization(value);
  }

  /**
   * Closes the open sessions idle for longer than the idle timeout and refunds
   * their balance: the enforcement the reference only advertises. The program
   * calls it on a timer; several instances may run it at once (a close happens
   * once; a refund is taken by one).
   * @param limit - sessions to close at most in this call, 1–1000; default 100
   * @returns how many it closed and their refunds
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` without sessions; store errors
   */
  async sweepIdleSessions(limit = 100): Promise<MppSweepResult> {
    const sessions = this.#needSessions();
    const now = this.#clock.now();
    const idle = await sessions.store.listIdleSessions(now - this.#idleSeconds * 1000, limit);
    const result: MppSweepResult = { closed: 0, refunds: [] };
    for (const session of idle) {
      const closed = await sessions.store.closeSession(session.id, now);
      if (closed === undefined) continue; // closed meanwhile by its client or another instance
      result.closed++;
      result.refunds.push(await this.#refund(closed));
    }
    return result;
  }

  /**
   * Pays the refunds still due: pending (an instance died between close and
   * refund), failed (retried), or abandoned in flight.
   * @param limit - refunds to attempt at most, 1–1000; default 100
   * @returns the attempts made
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` without sessions; store errors
   */
  async retryRefunds(limit = 100): Promise<MppSweepResult> {
    const sessions = this.#needSessions();
    const now = this.#clock.now();
    const due = await sessions.store.listRefundsDue(limit, { now });
    const result: MppSweepResult = { closed: 0, refunds: [] };
    const base = sessions.refundBackoffMs ?? DEFAULT_REFUND_BACKOFF_MS;
    for (const session of due) {
      const refund = session.refund;
      // A failed refund waits base × 2^(failures - 1), at most an hour, before its next attempt.
      if (
        refund?.status === 'failed' &&
        now < refund.updatedAt + Math.min(MAX_REFUND_BACKOFF_MS, base * 2 ** Math.max(0, refund.attempts - 1))
      )
        continue;
      result.refunds.push(await this.#refund(session));
    }
    return result;
  }

  /**
   * Deletes consumed charges whose challenge expired (a credential of an
   * expired challenge is refused anyway).
   * @param skewMs - clock skew allowed between instances; default 60 000
   * @returns rows deleted
   * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` without charges; store errors
   */
  async pruneCharges(skewMs = 60_000): Promise<number> {
    if (this.#charges === undefined) throw invalidArgument('the charge intent is not enabled');
    return this.#charges.pruneCharges(this.#clock.now() - skewMs);
  }

  /**
   * The HMAC key of a target's challenges: the secret bound to the service and
   * resource, so that a challenge made for one verifies for no other. The binding
   * is in the key rather than in a parameter (`opaque`) because some clients
   * (Alby's fetchWithMpp) echo only id, realm, method, intent, request and expires.
   */
  #keyFor(target: MppTarget): Buffer {
    const binding = target.resource === undefined ? { service: target.service } : { service: target.service, resource: target.resource };
    return createHmac('sha256', this.#secret)
      .update(`aperture-ts mpp binding ${canonicalize(binding)}`, 'utf8')
      .digest();
  }

  #intentsOf(target: MppTarget): MppIntent[] {
    return this.intents.filter((intent) => target.intents === undefined || target.intents.includes(intent));
  }

  #needSessions(): MppSessionOptions {
    if (this.#sessions === undefined) throw invalidArgument('the session intent is not enabled');
    return this.#sessions;
  }

  async #verify(credential: PaymentCredential, target: MppTarget): Promise<MppAccepted> {
    const { challenge } = credential;
    if (challenge.method !== 'lightning')
      throw new Refusal('L402_ERR_MPP_METHOD_UNSUPPORTED', `method ${JSON.stringify(challenge.method)} is not offered`);
    const intent = challenge.intent;
    if ((intent !== 'charge' && intent !== 'session') || !this.#intentsOf(target).includes(intent)) {
      throw new Refusal('L402_ERR_MPP_METHOD_UNSUPPORTED', `intent ${JSON.stringify(intent)} is not offered here`);
    }
    const goIssued = !verifyChallengeId(this.#keyFor(target), challenge) && this.#checkGoChallenge(challenge);
    return intent === 'charge' ? this.#verifyCharge(credential, target, goIssued) : this.#verifySession(credential, target, goIssued);
  }

  /**
   * A challenge that is not ours for this target passes only as one the Go
   * aperture issued with the shared secret (when accepted): the reference's id,
   * this realm, unexpired. The amount is checked by the intent.
   * @returns true (it is Go-issued), or throws the refusal
   */
  #checkGoChallenge(challenge: PaymentChallenge): true {
    if (!this.#acceptGo || !verifyChallengeId(this.#secret, challenge)) {
      throw new Refusal(
        'L402_ERR_MPP_CHALLENGE_UNKNOWN',
        'the challenge was not issued by this server for this service and resource, or was altered',
      );
    }
    if (challenge.realm !== this.realm) {
      throw new Refusal('L402_ERR_MPP_CHALLENGE_UNKNOWN', `the challenge is for realm ${JSON.stringify(challenge.realm)}, not this one`);
    }
    this.#checkExpiry(challenge);
    return true;
  }

  /** Requires `expires`, and that it has not passed; returns it in ms. */
  #checkExpiry(challenge: PaymentChallenge): number {
    const expires = challenge.expires;
    const expiresAt = expires !== undefined && RFC3339.test(expires) ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(expiresAt)) throw new Refusal('L402_ERR_MPP_CHALLENGE_INVALID', 'the challenge has no valid expires');
    if (this.#clock.now() >= expiresAt) throw new Refusal('L402_ERR_MPP_CHALLENGE_EXPIRED', 'the challenge has expired');
    return expiresAt;
  }

  async #verifyCharge(credential: PaymentCredential, target: MppTarget, goIssued: boolean): Promise<MppAccepted> {
    const charges = this.#charges;
    if (charges === undefined) throw new Refusal('L402_ERR_MPP_METHOD_UNSUPPORTED', 'the charge intent is not offered');
    const { challenge } = credential;
    const expiresAt = this.#checkExpiry(challenge);
    const request = decode(() => readChargeRequest(challenge.request));
    if (request.amountSats < target.priceSats) {
      throw new Refusal('L402_ERR_MPP_WRONG_AMOUNT', `the charge paid ${request.amountSats} sat, the price is ${target.priceSats} sat`);
    }
    checkPreimage(credential.payload['preimage'], request.paymentHash);
    if (goIssued && this.#goChargeConsumed !== undefined && (await this.#goChargeConsumed(request.paymentHash))) {
      throw new Refusal('L402_ERR_MPP_REPLAYED', 'this payment already bought a request from the Go aperture');
    }
    const claim = await charges.consumeCharge(request.paymentHash, { challengeId: challenge.id, expiresAt, consumedAt: this.#clock.now() });
    if (claim === undefined) throw new Refusal('L402_ERR_MPP_REPLAYED', 'this payment already bought a request');
    return {
      kind: 'accepted',
      intent: 'charge',
      action: 'charge',
      challengeId: challenge.id,
      reference: request.paymentHash,
      chargedSats: request.amountSats,
      receipt: encodeChargeReceipt({
        status: 'success',
        method: 'lightning',
        timestamp: rfc3339(this.#clock.now()),
        reference: request.paymentHash,
        challengeId: challenge.id,
      }),
      undo: { claim },
    };
  }

  async #verifySession(credential: PaymentCredential, target: MppTarget, goIssued: boolean): Promise<MppAccepted> {
    const sessions = this.#sessions;
    if (sessions === undefined) throw new Refusal('L402_ERR_MPP_METHOD_UNSUPPORTED', 'the session intent is not offered');
    const { challenge, payload } = credential;
    const request = decode(() => readSessionRequest(challenge.request));
    if (goIssued) {
      // Not bound to this service: its unit price must be at least this request's.
      const given = payload['sessionId'];
      const price = await this.#sessionPrice(target, typeof given === 'string' && PREIMAGE.test(given) ? given : request.paymentHash);
      if (request.amountSats < price) {
        throw new Refusal(
          'L402_ERR_MPP_WRONG_AMOUNT',
          `the challenge's unit price is ${request.amountSats} sat, this request's is ${price} sat`,
        );
      }
    }
    const action = payload['action'];
    switch (action) {
      case 'open': {
        this.#checkExpiry(challenge);
        checkPreimage(payload['preimage'], request.paymentHash);
        const returnInvoice = this.#checkReturnInvoice(payload['returnInvoice'], sessions);
        const id = request.paymentHash;
        const price = await this.#sessionPrice(target, id);
        // A deposit paid to the Go aperture may have opened a session there: carried over, this open is its replay.
        if (goIssued) await this.#checkGoCredit(sessions, id, request.paymentHash);
        const outcome = await sessions.store.openSession({
          id,
          paymentHash: request.paymentHash,
          depositSats: request.depositSats,
          returnInvoice,
          now: this.#clock.now(),
        });
        if (outcome === 'foreign')
          throw new Refusal('L402_ERR_MPP_FOREIGN_PAYMENT', 'this deposit was already credited to another session');
        return this.#debit(sessions, id, price, 'open', challenge.id);
      }
      case 'bearer': {
        const id = sessionIdOf(payload['sessionId']);
        checkPreimage(payload['preimage'], id);
        return this.#debit(sessions, id, await this.#sessionPrice(target, id), 'bearer', challenge.id);
      }
      case 'topUp': {
        this.#checkExpiry(challenge);
        const id = sessionIdOf(payload['sessionId']);
        checkPreimage(payload['topUpPreimage'], request.paymentHash);
        if (goIssued) await this.#checkGoCredit(sessions, id, request.paymentHash);
        const credit = () => sessions.store.creditSession(id, request.paymentHash, request.depositSats, this.#clock.now());
        let outcome = await credit();
        if (outcome === 'not-open' && (await this.#importedFromGo(sessions, id))) outcome = await credit();
        if (outcome === 'foreign') throw new Refusal('L402_ERR_MPP_FOREIGN_PAYMENT', 'this top-up was already credited to another session');
        if (outcome === 'not-open') throw await this.#notOpen(sessions, id);
        return this.#debit(sessions, id, await this.#sessionPrice(target, id), 'topUp', challenge.id);
      }
      case 'close': {
        const id = sessionIdOf(payload['sessionId']);
        checkPreimage(payload['preimage'], id);
        const price = await this.#sessionPrice(target, id);
        const now = this.#clock.now();
        let debited = await sessions.store.debitSession(id, price, now);
        if (debited === undefined && (await this.#importedFromGo(sessions, id)))
          debited = await sessions.store.debitSession(id, price, now);
        const closed = await sessions.store.closeSession(id, now);
        if (closed === undefined) throw await this.#notOpen(sessions, id);
        const refund = await this.#refund(closed);
        const receipt = encodeSessionReceipt({
          method: 'lightning',
          reference: id,
          status: 'success',
          timestamp: rfc3339(this.#clock.now()),
          refundSats: refund.sats,
          refundStatus: refund.status,
        });
        if (debited === undefined) {
          // Closed and refunded in full, but the balance could not pay for this request.
          throw new Refusal(
            'L402_ERR_MPP_INSUFFICIENT_BALANCE',
            `the session was closed; its balance of ${closed.balanceSats} sat does not cover ${price} sat`,
            [[PAYMENT_RECEIPT_HEADER, receipt]],
          );
        }
        return {
          kind: 'accepted',
          intent: 'session',
          action: 'close',
          challengeId: challenge.id,
          reference: id,
          chargedSats: price,
          balanceSats: 0,
          refund,
          receipt,
        };
      }
      default:
        throw new Refusal('L402_ERR_MPP_MALFORMED', 'session payload action is not open, bearer, topUp or close');
    }
  }

  /** What a session request is debited: the metered quote when the target has one, else its price. */
  async #sessionPrice(target: MppTarget, id: string): Promise<number> {
    if (target.sessionQuote === undefined) return target.priceSats;
    return quoted(await target.sessionQuote(id)) ?? target.priceSats;
  }

  #checkReturnInvoice(value: unknown, sessions: MppSessionOptions): string {
    if (typeof value !== 'string' || value === '' || value.length > MAX_INVOICE_LENGTH) {
      throw new Refusal('L402_ERR_MPP_RETURN_INVOICE_INVALID', 'returnInvoice is missing or not a BOLT11 invoice');
    }
    let decoded: DecodedReturnInvoice;
    try {
      decoded = sessions.decodeInvoice(value);
    } catch {
      throw new Refusal('L402_ERR_MPP_RETURN_INVOICE_INVALID', 'returnInvoice does not decode as a BOLT11 invoice');
    }
    if (decoded.network !== this.network) {
      throw new Refusal('L402_ERR_MPP_RETURN_INVOICE_INVALID', `returnInvoice is for ${decoded.network}, not ${this.network}`);
    }
    if (decoded.amountMsat !== 0n)
      throw new Refusal('L402_ERR_MPP_RETURN_INVOICE_INVALID', 'returnInvoice carries an amount; it must have none');
    if (decoded.expiresAt <= this.#clock.now()) throw new Refusal('L402_ERR_MPP_RETURN_INVOICE_INVALID', 'returnInvoice has expired');
    return value;
  }

  async #debit(sessions: MppSessionOptions, id: string, price: number, action: MppAction, challengeId: string): Promise<MppAccepted> {
    let session = await sessions.store.debitSession(id, price, this.#clock.now());
    if (session === undefined && (await this.#importedFromGo(sessions, id)))
      session = await sessions.store.debitSession(id, price, this.#clock.now());
    if (session === undefined) throw await this.#notOpen(sessions, id, price);
    return {
      kind: 'accepted',
      intent: 'session',
      action,
      challengeId,
      reference: id,
      chargedSats: price,
      balanceSats: session.balanceSats,
      receipt: encodeSessionReceipt({ method: 'lightning', reference: id, status: 'success', timestamp: rfc3339(this.#clock.now()) }),
      undo: { sessionId: id, sats: price },
    };
  }

  /**
   * After an action found no usable session: whether to try it once more,
   * because the session may have just been carried over from the Go aperture,
   * by this call or by a concurrent request (which may have imported it after
   * this action's attempt). False when nothing is to be carried over, or the
   * session here is closed (the action's failure stands).
   */
  async #importedFromGo(sessions: MppSessionOptions, id: string): Promise<boolean> {
    if (sessions.importGoSession === undefined) return false;
    let session = await sessions.store.getSession(id);
    if (session === undefined) {
      await sessions.importGoSession(id);
      session = await sessions.store.getSession(id);
    }
    return session?.status === 'open';
  }

  /**
   * Before a Go-issued open or topUp: carries session `id` over when the Go
   * aperture has it open, and refuses a payment the Go aperture credited unless
   * it was to that session and the session is here now (closed there before
   * the switch, or credited to another session, it must not credit again).
   */
  async #checkGoCredit(sessions: MppSessionOptions, id: string, paymentHash: string): Promise<void> {
    if ((await sessions.store.getSession(id)) === undefined) await sessions.importGoSession?.(id);
    const owner = await sessions.goCreditOwner?.(paymentHash);
    if (owner === undefined) return;
    if (owner !== id) throw new Refusal('L402_ERR_MPP_FOREIGN_PAYMENT', 'the Go aperture credited this payment to another session');
    if ((await sessions.store.getSession(id)) === undefined) {
      throw new Refusal('L402_ERR_MPP_FOREIGN_PAYMENT', 'the Go aperture credited this payment to a session it closed');
    }
  }

  /** Why a session could not be used: missing, closed, or (with a price) short. */
  async #notOpen(sessions: MppSessionOptions, id: string, price?: number): Promise<Refusal> {
    const session = await sessions.store.getSession(id);
    if (session === undefined) return new Refusal('L402_ERR_MPP_SESSION_NOT_FOUND', 'no such session');
    if (session.status === 'closed') return new Refusal('L402_ERR_MPP_SESSION_CLOSED', 'the session is closed');
    return new Refusal(
      'L402_ERR_MPP_INSUFFICIENT_BALANCE',
      `the session's balance of ${session.balanceSats} sat does not cover ${price ?? 0} sat`,
    );
  }

  /** Why a return invoice can no longer be paid (expired, or no longer decodes), or `undefined`. */
  #returnInvoiceExpiry(returnInvoice: string, sessions: MppSessionOptions): string | undefined {
    let expiresAt: number;
    try {
      expiresAt = sessions.decodeInvoice(returnInvoice).expiresAt;
    } catch {
      return 'the return invoice does not decode';
    }
    return expiresAt <= this.#clock.now() ? `the return invoice expired at ${new Date(expiresAt).toISOString()}` : undefined;
  }

  /** Takes a closed session's refund, pays it, and records the outcome. */
  async #refund(closed: SessionRecord): Promise<MppRefundReport> {
    const sessions = this.#needSessions();
    const id = closed.id;
    const taken = await sessions.store.beginRefund(id, { now: this.#clock.now() });
    if (taken === undefined) {
      // Another refunder holds it (or it is already final): report where it stands.
      const current = await sessions.store.getSession(id);
      const status = current?.refund?.status;
      return {
        sessionId: id,
        sats: closed.balanceSats,
        status: status === 'succeeded' || status === 'skipped' || status === 'abandoned' ? status : 'failed',
      };
    }
    if (taken.balanceSats === 0) {
      await sessions.store.finishRefund(id, { status: 'skipped' }, this.#clock.now());
      return { sessionId: id, sats: 0, status: 'skipped' };
    }
    // A return invoice that expired can never be paid: give up rather than retry forever.
    const expired = this.#returnInvoiceExpiry(taken.returnInvoice, sessions);
    if (expired !== undefined) {
      await sessions.store.finishRefund(id, { status: 'abandoned', error: expired }, this.#clock.now());
      return { sessionId: id, sats: taken.balanceSats, status: 'abandoned', error: expired };
    }
    try {
      await sessions.payer.payInvoice(taken.returnInvoice, {
        amountSats: taken.balanceSats,
        timeoutMs: sessions.refundTimeoutMs ?? 60_000,
        ...(sessions.maxRefundFeeSats !== undefined ? { maxFeeSats: sessions.maxRefundFeeSats } : {}),
      });
    } catch (error) {
      if (error instanceof L402Error && (error.code === 'L402_ERR_PAY_ALREADY_PAID' || error.code === 'L402_ERR_DEV_ALREADY_PAID')) {
        // An earlier attempt paid it (its outcome was lost): the refund is done.
        await sessions.store.finishRefund(id, { status: 'succeeded' }, this.#clock.now());
        return { sessionId: id, sats: taken.balanceSats, status: 'succeeded' };
      }
      const message = error instanceof Error ? `${error instanceof L402Error ? `${error.code}: ` : ''}${error.message}` : String(error);
      const attempts = taken.refund?.attempts ?? 1;
      if (attempts >= (sessions.maxRefundAttempts ?? DEFAULT_MAX_REFUND_ATTEMPTS)) {
        const reason = `gave up after ${attempts} attempts; the last: ${message}`;
        await sessions.store.finishRefund(id, { status: 'abandoned', error: reason }, this.#clock.now());
        return { sessionId: id, sats: taken.balanceSats, status: 'abandoned', error: reason };
      }
      await sessions.store.finishRefund(id, { status: 'failed', error: message }, this.#clock.now());
      return { sessionId: id, sats: taken.balanceSats, status: 'failed', error: message };
    }
    await sessions.store.finishRefund(id, { status: 'succeeded' }, this.#clock.now());
    return { sessionId: id, sats: taken.balanceSats, status: 'succeeded' };
  }
}

/** A quote's unit price when it is a positive whole number. */
function quoted(quote: MppSessionQuote | undefined): number | undefined {
  const unit = quote?.unitSats;
  return unit !== undefined && Number.isSafeInteger(unit) && unit > 0 ? unit : undefined;
}

function readCredential(value: string): PaymentCredential {
  return decode(() => parsePaymentCredential(value), 'L402_ERR_MPP_MALFORMED');
}

/** Runs a parser of echoed data, turning its malformed-input error into a refusal. */
function decode<T>(parse: () => T, code: MppRefusalCode = 'L402_ERR_MPP_CHALLENGE_INVALID'): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof L402Error && error.code === 'L402_ERR_MPP_MALFORMED') throw new Refusal(code, error.message.replace(/^mpp: /, ''));
    throw error;
  }
}

function checkPreimage(value: unknown, paymentHash: string): void {
  if (typeof value !== 'string' || !PREIMAGE.test(value))
    throw new Refusal('L402_ERR_MPP_BAD_PREIMAGE', 'the preimage is not 64 lower-case hex characters');
  if (createHash('sha256').update(Buffer.from(value, 'hex')).digest('hex') !== paymentHash) {
    throw new Refusal('L402_ERR_MPP_BAD_PREIMAGE', 'sha256(preimage) is not the payment hash');
  }
}

function sessionIdOf(value: unknown): string {
  if (typeof value !== 'string' || !PREIMAGE.test(value))
    throw new Refusal('L402_ERR_MPP_MALFORMED', 'sessionId is not 64 lower-case hex characters');
  return value;
}

function checkTarget(target: MppTarget): void {
  if (typeof target.service !== 'string') throw invalidArgument('target.service must be a string');
  if (!Number.isSafeInteger(target.priceSats) || target.priceSats <= 0)
    throw invalidArgument('target.priceSats must be a positive whole number of satoshis');
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw invalidArgument(`${name} must be a positive whole number`);
  return value;
}

/** RFC 3339 in UTC, whole seconds. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
