/**
 * {@link MppScheme} as one of the {@link Gate}'s payment schemes, beside L402:
 * `new Gate({ schemes: [l402, new MppPaymentScheme({ scheme, priceSats })] })`
 * offers both and accepts either. Only core types: every adapter and the
 * `aperture` proxy drive it through the Gate.
 */
import { isPromise } from '../core/is-promise.js';
import type {
  AcceptedCredential,
  Offer,
  OfferRequest,
  PaymentScheme,
  ResponseOutcome,
  SchemeVerification,
} from '../core/payment-scheme.js';
import type { HeaderList, MaybePromise, RequestView } from '../core/types.js';
import type { VerifyTarget } from '../core/verifier.js';
import type { MppAccepted, MppIntent, MppOffer, MppRefused, MppScheme, MppSessionQuote, MppTarget } from './mpp-scheme.js';
import { isPaymentAuthorization } from './payment-credential.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/** Options of {@link MppPaymentScheme}. */
export interface MppPaymentSchemeOptions {
  /** The Payment scheme (its realm, secret, invoicer, stores). */
  scheme: MppScheme;
  /**
   * The price of a request, satoshis, as the route prices it: a Payment
   * credential is verified against it before the Gate prices the request (a
   * charge must have paid at least this much; a session is debited this much).
   * 0 lets the Gate decide (a free route: no credential is spent).
   * A throw or rejection answers 503, as a verification fault.
   */
  priceSats: (request: RequestView, target: VerifyTarget) => MaybePromise<number>;
  /** Intents offered and accepted (default: every intent `scheme` has). */
  intents?: readonly MppIntent[];
  /** Description put in the challenges. */
  description?: string;
  /** Told when giving back a charge or debit after a failed response fails (the store could not answer). */
  onReleaseError?: (error: unknown, accepted: MppAccepted) => void;
  /**
   * Metered sessions: the estimated cost of one request against a session (a
   * dynamic pricer's `QuoteSession`; `sessionId` is `undefined` for a fresh
   * challenge). Its unit price is what the session challenge advertises and
   * what a session request is debited. `undefined` (or a throw, which the hook
   * should log) leaves `priceSats`.
   */
  sessionQuote?: (request: RequestView, target: VerifyTarget, sessionId: string | undefined) => MaybePromise<MppSessionQuote | undefined>;
  /**
   * Metered sessions: what a session request actually cost, once its response
   * ended (a dynamic pricer's `SettleSession`, reading `outcome.tail`). Asked
   * for `open`, `bearer` and `topUp` requests the backend answered (below 500,
   * complete, cut or left by the client); the debit is then corrected to it ({@link MppScheme.settle}).
   * `undefined` or a rejection (told to `onSettleError`) leaves the estimate when
   * the response was served, and gives the debit back when it was not.
   */
  settleSession?: (accepted: MppAccepted, request: RequestView, outcome: ResponseOutcome) => MaybePromise<number | undefined>;
  /** Told when settling a metered session request fails (the pricer or the store could not answer). */
  onSettleError?: (error: unknown, accepted: MppAccepted, request: RequestView) => void;
}

/** gRPC statuses that mean the backend did not serve the call: UNKNOWN is the handler's own, so it counts. */
const GRPC_NOT_SERVED: ReadonlySet<number> = new Set([4 /* DEADLINE_EXCEEDED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);

/**
 * Whether a response counts as served: a payment is spent only when it does.
 * Not served: a status of 500 or more (the backend failed, or the proxy
 * answered 502/503/504 for it), a response the backend (or the handler, or
 * the front end for it) cut mid-way, a gRPC call ending in
 * `DEADLINE_EXCEEDED` (unless under the client's own deadline after the
 * backend began answering: `clientDeadline`), `INTERNAL` or `UNAVAILABLE`. A response the client
 * left before its end (`clientAborted`) counts when the backend answered it
 * (or had not answered yet): the request was forwarded, and a client must not
 * get its payment back by resetting the connection before the last byte.
 * @param outcome - what the front end reported
 * @returns `true` when the request was served
 */
export function responseServed(outcome: ResponseOutcome): boolean {
  return (outcome.completed || outcome.clientAborted === true || outcome.clientDeadline === true) && backendAnswered(outcome);
}

/** Whether the backend answered (below 500, no failing gRPC status), complete or not: what a metering pricer may cost. */
function backendAnswered(outcome: ResponseOutcome): boolean {
  if (outcome.status >= 500) return false;
  if (outcome.grpcStatus === undefined) return true;
  // The client's own deadline, passed while the backend was answering, is the client's choice.
  if (outcome.grpcStatus === 4 && outcome.clientDeadline === true) return true;
  return !GRPC_NOT_SERVED.has(outcome.grpcStatus);
}

/**
 * The Payment scheme (MPP) as a {@link PaymentScheme}. Verification reads the
 * `Authorization: Payment …` credential (HTTP, or gRPC `authorization`
 * metadata), checks it against the request's service, resource and current
 * price and spends it (a charge once, a session debit); its offer is one
 * `WWW-Authenticate: Payment …` line per intent (charge, then session), each
 * with a fresh invoice, and the RFC 9457 problem+json body (`payment-required`,
 * or the specific problem of the request's refused Payment credential).
 *
 * An accepted credential gets `Payment-Receipt` and `Cache-Control: private`
 * in its response (from this scheme only, for the credential this request
 * verified). When the response is not served (see {@link responseServed}: the
 * backend failed; a client that went away is served), the payment is given back: a
 * charge's consumption is released, so that the same credential pays for the
 * retry while its challenge has not expired; a session's debit is credited
 * back. A `close` is final.
 *
 * A backend behind a proxy receives the verified `Payment` line as sent.
 *
 * @example
 * ```ts
 * const mpp = new MppPaymentScheme({ scheme, priceSats: () => 10 });
 * const gate = new Gate({ schemes: [new L402Scheme({ minter, verifier }), mpp] });
 * ```
 */
export class MppPaymentScheme implements PaymentScheme {
  readonly name = 'Payment';
  readonly missingCode = 'L402_ERR_TOKEN_MISSING' as const;
  /** A Payment credential is only ever in `Authorization`. */
  readonly credentialHeaders: readonly string[] = Object.freeze([]);
  /** The wrapped scheme. */
  readonly scheme: MppScheme;
  readonly #o: MppPaymentSchemeOptions;
  /** The refusal of each request's Payment credential, for its 402's problem and headers. */
  readonly #refused = new WeakMap<RequestView, MppRefused>();
  /** The challenges offered to each request, for a ledger that records every invoice. */
  readonly #offered = new WeakMap<RequestView, readonly MppOffer[]>();

  /** @param options - the scheme, the price of a request, intents, hooks */
  constructor(options: MppPaymentSchemeOptions) {
    this.scheme = options.scheme;
    this.#o = options;
  }

  /**
   * Verifies and spends the request's Payment credential for the target at the current price.
   * @param request - the request view
   * @param target - service and resource
   * @returns accepted (the token's `tokenId` and `paymentHash` are the charge's payment hash or the session id),
   *   refused with an `L402_ERR_MPP_…` code, or `L402_ERR_TOKEN_MISSING` without a Payment credential
   * @throws store errors (`L402_ERR_STORE_UNAVAILABLE`) and the price function's
   */
  verify(request: RequestView, target: VerifyTarget): MaybePromise<SchemeVerification> {
    const values = request.headerValues('authorization');
    if (!values.some(isPaymentAuthorization)) return { ok: false, code: this.missingCode, reason: 'no Payment credential' };
    const price = this.#o.priceSats(request, target);
    return isPromise(price) ? price.then((p) => this.#verify(request, target, p)) : this.#verify(request, target, price);
  }

  async #verify(request: RequestView, target: VerifyTarget, priceSats: number): Promise<SchemeVerification> {
    // A free request spends nothing: the Gate lets it through.
    if (priceSats === 0) return { ok: false, code: this.missingCode, reason: 'the request is free' };
    const verdict = await this.scheme.verify(request, this.#target(target, priceSats, request));
    if (verdict.kind === 'none') return { ok: false, code: this.missingCode, reason: 'no Payment credential' };
    if (verdict.kind === 'refused') {
      this.#refused.set(request, verdict);
      return { ok: false, code: verdict.code, reason: verdict.problem.detail ?? verdict.problem.title };
    }
    const services = [{ name: target.resource ?? target.service, tier: 0 }];
    return { ok: true, token: { tokenId: verdict.reference, paymentHash: verdict.reference, caveats: [], services }, credential: verdict };
  }

  /**
   * One challenge per intent, the problem+json body, and the refusal's headers (the receipt of a `close` that ran).
   * @param o - request, route, target, price
   * @returns the Payment offer
   * @throws the invoicer's errors (the Gate answers 503)
   */
  async offer(o: OfferRequest): Promise<Offer> {
    const offers = await this.scheme.offers(this.#target(o.target, o.priceSats, o.request));
    this.#offered.set(o.request, offers);
    const refused = this.#refused.get(o.request);
    const response = this.scheme.challengeResponse(offers, refused);
    const headers: Array<readonly [string, string]> = offers.map((offer) => ['WWW-Authenticate', offer.header] as const);
    if (refused !== undefined) headers.push(...refused.headers);
    const first = offers[0] as (typeof offers)[number];
    return {
      scheme: this.name,
      headers,
      priceSats: o.priceSats,
      paymentHash: first.paymentHash,
      tokenId: first.paymentHash,
      expiresAt: first.expiresAt,
      authType: 'mpp',
      body: { contentType: PROBLEM_CONTENT_TYPE, text: response.body },
    };
  }

  /**
   * The challenges this scheme offered to a request (charge, then session),
   * each with its invoice: what a ledger records, one row per invoice.
   * @param request - the request view the offer was made for
   * @returns the offers, or `undefined` when none was made for it
   * @internal
   */
  offered(request: RequestView): readonly MppOffer[] | undefined {
    return this.#offered.get(request);
  }

  /**
   * `Payment-Receipt` and `Cache-Control: private` for the credential this scheme accepted in this request.
   * @param accepted - the accepted verification
   * @returns the headers
   */
  responseHeaders(accepted: AcceptedCredential): HeaderList | undefined {
    const credential = accepted.credential as MppAccepted | undefined;
    return credential?.kind === 'accepted' ? this.scheme.responseHeaders(credential) : undefined;
  }

  /**
   * Gives the payment back when the response was not served (see {@link responseServed}).
   * @param accepted - the accepted verification
   * @param request - the request
   * @param outcome - what the front end reported
   */
  afterResponse(accepted: AcceptedCredential, request: RequestView, outcome: ResponseOutcome): void {
    const credential = accepted.credential as MppAccepted | undefined;
    if (credential?.kind !== 'accepted') return;
    const settle = this.#o.settleSession;
    if (settle !== undefined && credential.intent === 'session' && credential.action !== 'close' && backendAnswered(outcome)) {
      void this.#settle(settle, credential, request, outcome);
      return;
    }
    if (!responseServed(outcome)) this.#release(credential);
  }

  /** Costs a metered session request and corrects its debit; without a cost, the unmetered rule. */
  async #settle(
    settle: NonNullable<MppPaymentSchemeOptions['settleSession']>,
    credential: MppAccepted,
    request: RequestView,
    outcome: ResponseOutcome,
  ): Promise<void> {
    let cost: number | undefined;
    try {
      cost = await settle(credential, request, outcome);
      if (cost !== undefined) await this.scheme.settle(credential, cost);
    } catch (error) {
      try {
        this.#o.onSettleError?.(error, credential, request);
      } catch {
        // A logging hook must not break the response path.
      }
      cost = undefined;
    }
    if (cost === undefined && !responseServed(outcome)) this.#release(credential);
  }

  #release(credential: MppAccepted): void {
    this.scheme.release(credential).catch((error: unknown) => tell(this.#o.onReleaseError, error, credential));
  }

  /**
   * An `Authorization` value without a Payment credential.
   * @param value - one `Authorization` field value
   * @returns `undefined` for a Payment credential, else `value`
   */
  withoutCredentials(value: string): string | undefined {
    return isPaymentAuthorization(value) ? undefined : value;
  }

  /**
   * The verified Payment line, as the client sent it.
   * @param request - the request view
   * @returns the request's Payment `Authorization` values, or `undefined` for none
   */
  forwardedAuthorization(request: RequestView): readonly string[] | undefined {
    const lines = request.headerValues('authorization').filter(isPaymentAuthorization);
    return lines.length === 0 ? undefined : lines;
  }

  #target(target: VerifyTarget, priceSats: number, request: RequestView): MppTarget {
    const t: MppTarget = { service: target.service, priceSats };
    const quote = this.#o.sessionQuote;
    if (quote !== undefined) t.sessionQuote = async (sessionId) => quote(request, target, sessionId);
    if (target.resource !== undefined) t.resource = target.resource;
    if (this.#o.description !== undefined) t.description = this.#o.description;
    if (this.#o.intents !== undefined) t.intents = this.#o.intents;
    return t;
  }
}

/** Tells a logging hook, which must not break the response path. */
function tell(hook: ((error: unknown, accepted: MppAccepted) => void) | undefined, error: unknown, accepted: MppAccepted): void {
  try {
    hook?.(error, accepted);
  } catch {
    // Ignored, as documented.
  }
}
