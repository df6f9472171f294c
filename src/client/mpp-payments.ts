/**
 * The Payment (MPP) half of the client engine: the `charge` intent (pay the
 * invoice of the challenge, answer with its preimage, once) and, when asked
 * for, the `session` intent (open with a deposit and a return invoice, send
 * the bearer, top up when told `insufficient-balance`, close and collect the
 * refund). {@link L402Client} decides which scheme a 402 is answered with and
 * calls in here; every transport goes through it.
 */
import { BudgetExceededError, L402Error, PaymentError } from '../core/errors.js';
import type { Invoicer, Payer, PaymentResult } from '../core/types.js';
import type { Budget } from './budget.js';
import { ChallengeParseError } from './challenge-parse-error.js';
import { withClientContext, type ClientErrorContext } from './client-error-context.js';
import { bytesOfHex, hexOf } from './encoding.js';
import { paymentAuthorization, readJsonParam, readPaymentChallenges, type ClientPaymentChallenge } from './payment-wire.js';
import { readInvoice } from './read-invoice.js';
import { sha256 } from './sha256.js';

/** A Payment challenge the client is about to pay, as the `mpp.beforePay` hook sees it. */
export interface MppPaymentInfo {
  /** URL of the request that was challenged. */
  url: string;
  /** Token key (origin, and service when known) the payment is counted under. */
  key: string;
  /** `charge` (one request), `open` (a session's deposit) or `topUp` (more deposit for an open session). */
  action: 'charge' | 'open' | 'topUp';
  /** The challenge id. */
  challengeId: string;
  /** The BOLT11 invoice to pay. */
  invoice: string;
  /** Its payment hash, lower-case hex. */
  paymentHash: string;
  /** What the invoice costs, satoshis. */
  invoiceSats: number;
  /** Price of one request, satoshis (equal to `invoiceSats` for a charge). */
  unitSats: number;
}

/** Options of the Payment scheme in the client (`mpp` of {@link L402ClientOptions}). */
export interface MppClientOptions {
  /**
   * Open sessions instead of paying per request when a 402 offers the
   * `session` intent and the Payment scheme is chosen. The invoicer issues the
   * amountless return invoice the server refunds the balance to (any
   * `Invoicer`, e.g. `LndInvoicer` on the client's node or `DevInvoicer`).
   * Without this option, session challenges are never answered.
   */
  sessions?: {
    /** Creates the return invoice (`createInvoice({ amountSats: 0 })`). */
    invoicer: Pick<Invoicer, 'createInvoice'>;
    /** Most one deposit (open or top-up) may cost, satoshis; 20 × `maxPriceSats` by default. */
    maxDepositSats?: number;
  };
  /** Called after the checks, just before paying a Payment invoice; return `false` to refuse (`L402_ERR_CLIENT_PAYMENT_VETOED`). */
  beforePay?: (info: MppPaymentInfo) => boolean | void | Promise<boolean | void>;
  /** Called after a Payment invoice was paid (before the credential is sent). An error thrown here reaches the caller. */
  afterPay?: (info: MppPaymentInfo, result: PaymentResult) => void | Promise<void>;
  /** Called with every `Payment-Receipt` the transports see on a response to a Payment credential, decoded. */
  onReceipt?: (receipt: Readonly<Record<string, unknown>>, url: string) => void;
}

/** The outcome of {@link L402Client.closeSession}. */
export interface SessionCloseResult {
  /** The session id (payment hash of its deposit). */
  sessionId: string;
  /** HTTP status of the close request. */
  status: number;
  /** Satoshis the server refunded (0 when there was nothing to refund or it did not say). */
  refundSats: number;
  /** `succeeded`, `failed` (the server keeps it and retries), `skipped`, or `unknown` without a receipt. */
  refundStatus: 'succeeded' | 'failed' | 'skipped' | 'abandoned' | 'unknown';
}

/** What the engine's limits are, shared with the L402 half. @internal */
export interface MppLimits {
  payer: Payer | undefined;
  budget: Budget;
  maxPriceSats: number;
  maxFeeSats: number;
  timeoutMs: number;
}

/** A session this client holds. */
interface HeldSession {
  id: string;
  preimage: string;
  /** The challenge the bearer and close credentials echo. */
  challenge: ClientPaymentChallenge;
  unitSats: number;
  /** Deposit and top-ups minus what the accepted requests were charged, as far as this client knows. */
  balanceSats: number;
  /** Bumped by each top-up, so that concurrent calls refused for balance top up once. */
  generation: number;
  /** Settles once the server answered the request that carried the open credential. */
  opened: Promise<boolean>;
  confirm: (ok: boolean) => void;
  state: 'opening' | 'open';
}

/** What one call sent with the Payment scheme, kept on the call. @internal */
export interface MppSent {
  kind: 'charge' | 'open' | 'bearer' | 'topUp' | 'close';
  session?: HeldSession;
  generation?: number;
}

/** Problem type names (last path segment of the RFC 9457 `type`) the client acts on. */
const BALANCE = 'insufficient-balance';
const GONE = new Set(['session-not-found', 'session-closed']);

/** Payment hashes paid by this client (charges), so that a challenge seen twice is not paid twice. */
const REMEMBERED_CHARGES = 4096;

/**
 * The Payment challenges of a 402 with the Lightning method and an intent this client answers.
 * @param values - the `WWW-Authenticate` values
 * @returns the challenges, in order
 * @internal
 */
export function lightningOffers(values: readonly string[]): ClientPaymentChallenge[] {
  return readPaymentChallenges(values).filter(
    (c) => c.method.toLowerCase() === 'lightning' && (c.intent === 'charge' || c.intent === 'session'),
  );
}

/**
 * The last path segment of a problem type URI (`insufficient-balance`, `session-closed`, …).
 * @param type - the problem's `type`
 * @returns its name
 * @internal
 */
export function problemName(type: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  const slash = type.lastIndexOf('/');
  return slash === -1 ? type : type.slice(slash + 1);
}

/** @internal The Payment scheme's payments and sessions for one {@link L402Client}. */
export class MppPayments {
  readonly #limits: MppLimits;
  readonly #options: MppClientOptions;
  readonly #maxDepositSats: number;
  readonly #sessions = new Map<string, HeldSession>();
  /** Flights per charge payment hash and per session key. */
  readonly #flights = new Map<string, Promise<unknown>>();
  readonly #paidCharges = new Map<string, string>();

  constructor(limits: MppLimits, options: MppClientOptions) {
    this.#limits = limits;
    this.#options = options;
    this.#maxDepositSats = options.sessions?.maxDepositSats ?? limits.maxPriceSats * 20;
  }

  /** Whether session challenges are answered. */
  get sessionsEnabled(): boolean {
    return this.#options.sessions !== undefined;
  }

  /** The bearer to send for a key, when an open session is held. */
  bearerFor(key: string): { authorization: string; sent: MppSent } | undefined {
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    return { authorization: this.#bearer(session), sent: { kind: 'bearer', session, generation: session.generation } };
  }

  /** Waits until an opening session of `key` is confirmed or dropped. */
  async settled(key: string): Promise<void> {
    const session = this.#sessions.get(key);
    if (session?.state === 'opening') await session.opened;
  }

  /** The id of the session held for a key. */
  sessionOf(key: string): string | undefined {
    return this.#sessions.get(key)?.id;
  }

  #bearer(session: HeldSession): string {
    return paymentAuthorization(session.challenge, { action: 'bearer', sessionId: session.id, preimage: session.preimage });
  }

  /**
   * The transport saw the final response to a request that carried `sent`:
   * confirms an open, reads the receipt, keeps the balance estimate.
   */
  responded(key: string, url: string, sent: MppSent | undefined, status: number | undefined, receipt: string | undefined): void {
    if (sent === undefined) return;
    const ok = status !== undefined && status < 400;
    const session = sent.session;
    if (session !== undefined && sent.kind !== 'close') {
      if (sent.kind === 'open' && session.state === 'opening') {
        if (ok || receipt !== undefined) session.state = 'open';
        else if (this.#sessions.get(key) === session) this.#sessions.delete(key);
        session.confirm(session.state === 'open');
      }
      if (ok || receipt !== undefined) session.balanceSats -= session.unitSats;
    }
    if (receipt !== undefined) {
      const decoded = readJsonParam(receipt);
      if (decoded !== undefined) this.#options.onReceipt?.(decoded, url);
    }
  }

  /**
   * Answers a 402 for a call that sent a session credential: tops up when the
   * server says the balance is short, forgets the session when it is gone.
   * @returns the authorization to retry with, or `undefined` to choose afresh
   */
  async afterSessionRefusal(
    url: string,
    key: string,
    sent: MppSent,
    problem: string | undefined,
    offers: readonly ClientPaymentChallenge[],
    context: ClientErrorContext,
  ): Promise<{ authorization: string; sent: MppSent } | undefined> {
    const session = sent.session;
    if (session === undefined) return undefined;
    const name = problemName(problem);
    if (sent.kind === 'open' || sent.kind === 'topUp') return undefined;
    if (this.#sessions.get(key) !== session) {
      const current = this.bearerFor(key);
      return current; // replaced meanwhile by another call
    }
    if (name !== undefined && GONE.has(name)) {
      if (session.state === 'opening') {
        // Our own open may still be on its way: wait for its answer.
        if (await session.opened) return this.bearerFor(key);
      }
      this.#sessions.delete(key);
      return undefined;
    }
    const short = name === BALANCE || (name === undefined && session.balanceSats < session.unitSats);
    const offer = offers.find((c) => c.intent === 'session');
    if (!short || offer === undefined) return undefined;
    const flight = `s:${key}`;
    const running = this.#flights.get(flight) as Promise<unknown> | undefined;
    if (running !== undefined) await running.catch(() => undefined);
    if (this.#sessions.get(key) !== session) return this.bearerFor(key);
    if (session.generation !== sent.generation) return this.bearerFor(key); // topped up by another call
    const work = this.#topUp(url, key, session, offer, context);
    this.#flights.set(flight, work);
    try {
      return await work;
    } finally {
      if (this.#flights.get(flight) === work) this.#flights.delete(flight);
    }
  }

  async #topUp(
    url: string,
    key: string,
    session: HeldSession,
    offer: ClientPaymentChallenge,
    context: ClientErrorContext,
  ): Promise<{ authorization: string; sent: MppSent }> {
    const request = this.#sessionRequest(offer, context);
    const result = await this.#pay(
      url,
      key,
      offer,
      'topUp',
      request.depositInvoice,
      request.paymentHash,
      request.depositSats,
      request.unitSats,
      this.#maxDepositSats,
      context,
    );
    session.generation++;
    session.balanceSats += request.depositSats;
    return {
      authorization: paymentAuthorization(offer, { action: 'topUp', sessionId: session.id, topUpPreimage: result.preimage }),
      sent: { kind: 'topUp', session, generation: session.generation },
    };
  }

  /**
   * Pays a charge challenge (once per payment hash) and returns the credential.
   */
  async charge(
    url: string,
    key: string,
    offer: ClientPaymentChallenge,
    context: ClientErrorContext,
  ): Promise<{ authorization: string; sent: MppSent }> {
    const request = readJsonParam(offer.request);
    const details = request?.['methodDetails'];
    const invoice = isRecord(details) ? details['invoice'] : undefined;
    const hash = isRecord(details) ? details['paymentHash'] : undefined;
    const amount = satsOf(request?.['amount']);
    if (
      request === undefined ||
      request['currency'] !== 'sat' ||
      typeof invoice !== 'string' ||
      typeof hash !== 'string' ||
      amount === undefined
    ) {
      throw new ChallengeParseError(
        'the Payment charge challenge has no readable request (amount, currency "sat", methodDetails.invoice and paymentHash)',
        context,
      );
    }
    const flight = `c:${hash}`;
    let work = this.#flights.get(flight) as Promise<string> | undefined;
    if (work === undefined) {
      const known = this.#paidCharges.get(hash);
      work =
        known !== undefined
          ? Promise.resolve(known)
          : this.#pay(url, key, offer, 'charge', invoice, hash, amount, amount, this.#limits.maxPriceSats, context).then((r) => r.preimage);
      this.#flights.set(flight, work);
      work
        .then((preimage) => {
          this.#paidCharges.set(hash, preimage);
          if (this.#paidCharges.size > REMEMBERED_CHARGES) this.#paidCharges.delete(this.#paidCharges.keys().next().value as string);
        })
        .catch(() => undefined)
        .finally(() => {
          if (this.#flights.get(flight) === work) this.#flights.delete(flight);
        });
    }
    const preimage = await work;
    return { authorization: paymentAuthorization(offer, { preimage }), sent: { kind: 'charge' } };
  }

  /**
   * Opens a session on a session challenge, or, when another call of this
   * client opened one meanwhile, returns its bearer.
   */
  async open(
    url: string,
    key: string,
    offer: ClientPaymentChallenge,
    context: ClientErrorContext,
  ): Promise<{ authorization: string; sent: MppSent }> {
    const sessions = this.#options.sessions;
    if (sessions === undefined) throw new L402Error('L402_ERR_CLIENT_PAYMENT_VETOED', 'sessions are not enabled');
    const flight = `s:${key}`;
    for (;;) {
      const running = this.#flights.get(flight);
      if (running === undefined) break;
      await running.catch(() => undefined);
    }
    const held = this.#sessions.get(key);
    if (held !== undefined) {
      if (held.state === 'opening' && !(await held.opened)) return this.open(url, key, offer, context);
      return { authorization: this.#bearer(held), sent: { kind: 'bearer', session: held, generation: held.generation } };
    }
    const work = (async (): Promise<{ authorization: string; sent: MppSent }> => {
      const request = this.#sessionRequest(offer, context);
      let returnInvoice: string;
      try {
        returnInvoice = (await sessions.invoicer.createInvoice({ amountSats: 0, memo: `refund of a session with ${key}` })).paymentRequest;
      } catch (cause) {
        throw withClientContext(
          cause instanceof L402Error
            ? cause
            : new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', `could not create the return invoice: ${String(cause)}`, { cause }),
          context,
        );
      }
      const result = await this.#pay(
        url,
        key,
        offer,
        'open',
        request.depositInvoice,
        request.paymentHash,
        request.depositSats,
        request.unitSats,
        this.#maxDepositSats,
        context,
      );
      let confirm: (ok: boolean) => void = () => undefined;
      const opened = new Promise<boolean>((resolve) => {
        confirm = resolve;
      });
      const session: HeldSession = {
        id: request.paymentHash,
        preimage: result.preimage,
        challenge: offer,
        unitSats: request.unitSats,
        balanceSats: request.depositSats,
        generation: 0,
        opened,
        confirm,
        state: 'opening',
      };
      this.#sessions.set(key, session);
      return {
        authorization: paymentAuthorization(offer, { action: 'open', preimage: result.preimage, returnInvoice }),
        sent: { kind: 'open', session, generation: 0 },
      };
    })();
    this.#flights.set(flight, work);
    try {
      return await work;
    } finally {
      if (this.#flights.get(flight) === work) this.#flights.delete(flight);
    }
  }

  /**
   * The close credential of the session held for `key`, and forgets it.
   * @internal
   */
  async takeForClose(key: string): Promise<{ authorization: string; session: HeldSession } | undefined> {
    const flight = `s:${key}`;
    for (;;) {
      const running = this.#flights.get(flight);
      if (running === undefined) break;
      await running.catch(() => undefined);
    }
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (session.state === 'opening' && !(await session.opened)) return undefined;
    this.#sessions.delete(key);
    return {
      authorization: paymentAuthorization(session.challenge, { action: 'close', sessionId: session.id, preimage: session.preimage }),
      session,
    };
  }

  #sessionRequest(
    offer: ClientPaymentChallenge,
    context: ClientErrorContext,
  ): { unitSats: number; depositSats: number; depositInvoice: string; paymentHash: string } {
    const request = readJsonParam(offer.request);
    const unitSats = satsOf(request?.['amount']);
    const depositSats = satsOf(request?.['depositAmount']);
    const depositInvoice = request?.['depositInvoice'];
    const paymentHash = request?.['paymentHash'];
    if (
      request?.['currency'] !== 'sat' ||
      unitSats === undefined ||
      depositSats === undefined ||
      typeof depositInvoice !== 'string' ||
      typeof paymentHash !== 'string'
    ) {
      throw new ChallengeParseError(
        'the Payment session challenge has no readable request (amount, depositAmount, depositInvoice, paymentHash, currency "sat")',
        context,
      );
    }
    if (unitSats > this.#limits.maxPriceSats) {
      throw withClientContext(
        new BudgetExceededError(
          `the session for ${context.url} costs ${unitSats} sat a request, more than maxPriceSats ${this.#limits.maxPriceSats}`,
        ),
        context,
      );
    }
    return { unitSats, depositSats, depositInvoice, paymentHash };
  }

  /** Checks the invoice against the request and the limits, then pays it within the budget. */
  async #pay(
    url: string,
    key: string,
    offer: ClientPaymentChallenge,
    action: MppPaymentInfo['action'],
    invoice: string,
    paymentHash: string,
    sats: number,
    unitSats: number,
    cap: number,
    context: ClientErrorContext,
  ): Promise<PaymentResult> {
    let details;
    try {
      details = readInvoice(invoice);
    } catch (cause) {
      throw new ChallengeParseError(`the Payment challenge's invoice is not a valid BOLT11 invoice: ${(cause as Error).message}`, context, {
        cause,
      });
    }
    if (details.paymentHash !== paymentHash.toLowerCase()) {
      throw withClientContext(
        new PaymentError(
          'L402_ERR_CLIENT_HASH_MISMATCH',
          `the invoice pays hash ${details.paymentHash} but the challenge names ${paymentHash}: paying would not yield a usable credential`,
        ),
        context,
      );
    }
    if (details.amountMsat === 0n) {
      throw withClientContext(
        new PaymentError('L402_ERR_CLIENT_INVOICE_NO_AMOUNT', `the invoice for ${url} has no amount; refusing to choose one`),
        context,
      );
    }
    if (details.amountMsat !== BigInt(sats) * 1000n) {
      throw new ChallengeParseError(`the Payment challenge asks ${sats} sat but its invoice is for ${details.amountMsat} msat`, context);
    }
    if (sats > cap) {
      const what = action === 'charge' ? 'maxPriceSats' : 'sessions.maxDepositSats';
      throw withClientContext(new BudgetExceededError(`the invoice for ${url} asks ${sats} sat, more than ${what} ${cap}`), context);
    }
    const { budget, maxFeeSats, timeoutMs } = this.#limits;
    let reservation;
    try {
      reservation = budget.reserve(key, sats + maxFeeSats);
    } catch (error) {
      throw error instanceof L402Error ? withClientContext(error, context) : error;
    }
    try {
      const info: MppPaymentInfo = {
        url,
        key,
        action,
        challengeId: offer.id,
        invoice,
        paymentHash: details.paymentHash,
        invoiceSats: sats,
        unitSats,
      };
      if ((await this.#options.beforePay?.(info)) === false) {
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_PAYMENT_VETOED', `mpp.beforePay refused to pay ${sats} sat for ${url}`),
          context,
        );
      }
      const payer = this.#limits.payer;
      if (payer === undefined)
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_NO_PAYER', `${url} asks ${sats} sat and no payer is configured`),
          context,
        );
      let result: PaymentResult | undefined;
      let failure: unknown;
      try {
        result = await payer.payInvoice(invoice, { maxFeeSats, timeoutMs });
      } catch (error) {
        failure = error;
        result = await payer.trackPayment?.(details.paymentHash).catch(() => undefined);
      }
      if (result === undefined) {
        const error =
          failure instanceof L402Error
            ? failure
            : new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', `payment failed: ${String(failure)}`, { cause: failure });
        throw withClientContext(error, context);
      }
      const preimage = bytesOfHex(result.preimage);
      if (preimage === undefined || preimage.length !== 32 || hexOf(sha256(preimage)) !== details.paymentHash) {
        reservation.commit(sats);
        throw withClientContext(
          new PaymentError(
            'L402_ERR_CLIENT_PREIMAGE_MISMATCH',
            `the payer returned a preimage that does not hash to ${details.paymentHash}`,
          ),
          context,
        );
      }
      reservation.commit(result.amountSats + result.feeSats);
      await this.#options.afterPay?.(info, result);
      return { ...result, preimage: result.preimage.toLowerCase() };
    } finally {
      reservation.release();
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function satsOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}
