/**
 * The whole per-request payment decision, shared by every adapter and the
 * `aperture` proxy: verify the credential with each payment scheme, or price
 * the route, ask every scheme for its offer and answer with one challenge.
 */
import { ConfigError, L402Error } from './errors.js';
import type { ConfigIssue } from './errors.js';
import type { L402ErrorCode } from './error-codes.js';
import { isPromise } from './is-promise.js';
import { resourceName } from './caveats.js';
import type { ChallengeForm } from './challenge.js';
import { offersDecision, unauthorizedDecision } from './challenge-decision.js';
import { L402Scheme } from './l402-scheme.js';
import type { Minter } from './minter.js';
import type { AcceptedCredential, Offer, PaymentScheme, ResponseOutcome, SchemeVerification } from './payment-scheme.js';
import { refusalOf, type Refusal } from './refusal.js';
import { unavailableDecision } from './reject-decision.js';
import type { Verifier, VerifyTarget } from './verifier.js';
import { systemClock } from './types.js';
import type { AllowDecision, ChallengeDecision, Clock, Decision, MaybePromise, RequestView } from './types.js';

/**
 * How one route is protected.
 * @typeParam C - what the caller passes to {@link Gate.decide} besides the request (the proxy's
 *   request context); price functions and hooks receive it
 */
export interface RouteOptions<C = undefined> {
  /** Service name, used in the `services` caveat and checked on verification. */
  service: string;
  /**
   * Price in satoshis, or a function of the request (and of the context given
   * to `decide`); 0 lets the request through as `free`. A function that throws
   * or returns anything but a non-negative safe integer answers 503 (the
   * error's code, else `L402_ERR_GATE_PRICE_UNAVAILABLE`).
   */
  priceSats: number | ((request: RequestView, context: C) => MaybePromise<number>);
  /**
   * What a minted token opens. `service`: every request of the service.
   * `path`: only the request path it was priced for (without the query), as
   * the reference scopes dynamically priced tokens: its `services` caveat names
   * `resourceName(service, path)`, e.g. `api/v1/quote`, and verification asks
   * for that name. Default: `path` when `priceSats` is a function (a price
   * that may differ by request must not buy what costs more), `service` when
   * it is a number. Routes that give one service different fixed prices by
   * path (through an adapter's `route`) should set `path` too.
   */
  scope?: 'service' | 'path';
  /** Tier in the `services` caveat, default 0. */
  tier?: number;
  /** Capabilities granted by minted tokens: caveat `<service>_capabilities=…`. */
  capabilities?: readonly string[];
  /** The capability this route needs; tokens with a capabilities caveat must list it. */
  requiredCapability?: string;
  /** Lifetime of minted tokens in seconds: caveat `<service>_valid_until=now+timeout`. */
  timeoutSeconds?: number;
  /** Extra `key=value` caveats on minted tokens (checked by custom satisfiers, passed to the backend). */
  constraints?: Readonly<Record<string, string>>;
  /** Further raw caveats on minted tokens, added last. */
  caveats?: readonly string[];
  /** Answer unauthenticated requests with 401 `unauthorized\n` instead of minting (first calls of streaming RPCs). */
  skipInvoiceCreation?: boolean;
  /** Invoice memo. */
  memo?: string;
  /** Invoice expiry in seconds; the backend's default when absent. */
  invoiceExpirySeconds?: number;
}

/** What every hook of the {@link Gate} is told about the request. */
export interface GateEvent<C = undefined> {
  /** The request view. */
  request: RequestView;
  /** How the route is protected. */
  route: RouteOptions<C>;
  /** What the caller passed to `decide` besides the request, if anything. */
  context: C | undefined;
}

/** Told to `beforeChallenge`: a request without an accepted credential, before it is priced. */
export interface BeforeChallengeEvent<C = undefined> extends GateEvent<C> {
  /** Why no credential was accepted (`L402_ERR_TOKEN_MISSING` when there was none). */
  code: L402ErrorCode;
  /** The refusal of the request's credential, when it carried one. */
  refusal: Refusal | undefined;
}

/** Told to `onChallenge`: the challenge about to be answered. */
export interface ChallengeEvent<C = undefined> extends GateEvent<C> {
  /** The 402, one offer per scheme in `decision.offers`. */
  decision: ChallengeDecision;
}

/** Told to `afterResponse`: what became of a request the Gate decided. */
export interface ResponseEvent<C = undefined> {
  /** The request view. */
  request: RequestView;
  /** The decision that was written (or, for `allow`, handed to the handler or backend). */
  decision: Decision;
  /** The status sent and whether the response completed. */
  outcome: ResponseOutcome;
  /** What the caller passed to `responded`, if anything. */
  context: C | undefined;
}

/**
 * Options of {@link Gate}: the payment schemes (or, as a shorthand for one
 * L402 scheme, a `minter` and a `verifier`), and the hooks.
 */
export interface GateOptions<C = undefined> {
  /**
   * The payment schemes, in the order their challenge lines appear in a 402
   * (L402 first). Give either `schemes` or `minter` + `verifier`.
   */
  schemes?: readonly PaymentScheme[];
  /** Shorthand: with `verifier`, the Gate has one {@link L402Scheme} of these two. */
  minter?: Minter;
  /** Shorthand: with `minter`, the Gate has one {@link L402Scheme} of these two. */
  verifier?: Verifier;
  /** Challenge form of the shorthand's L402 scheme, default `reference`. */
  challengeForm?: ChallengeForm;
  /** Clock for `_valid_until` caveats. */
  clock?: Clock;
  /**
   * Told about every refused credential (not about requests without one), for
   * logs and metrics: the reason, the code, the token ID when known, and the
   * verifier's text, which never contains a secret. Its errors are ignored.
   */
  onRefusal?: (refusal: Refusal, request: RequestView, route: RouteOptions<C>, context: C | undefined) => void;
  /**
   * Runs for a request without an accepted credential, before it is priced:
   * a decision returned is the answer instead of a challenge (a freebie
   * `allow`, a 401, a rate limit's 429); `undefined` goes on to the
   * challenge. Not run for `skipInvoiceCreation` routes (they answer 401
   * first). A throw is a programmer error and rejects `decide`.
   */
  beforeChallenge?: (event: BeforeChallengeEvent<C>) => MaybePromise<Decision | undefined>;
  /**
   * Runs for every challenge before it is answered, e.g. to record each offer
   * in a ledger. A throw answers 503 naming the error's code
   * (`L402_ERR_STORE_UNAVAILABLE` when it has none).
   */
  onChallenge?: (event: ChallengeEvent<C>) => MaybePromise<void>;
  /**
   * Told about each infrastructure fault the Gate answered 503 for
   * (verification, price, offer, `onChallenge`), as a coded error. Its errors are ignored.
   */
  onError?: (error: L402Error, event: GateEvent<C>) => void;
  /**
   * Told by the front end (adapter or proxy) when the response to a decided
   * request has ended: its status and whether it completed. Its errors are ignored.
   */
  afterResponse?: (event: ResponseEvent<C>) => void;
}

/** The `allow` decision of a request let through at no price. */
const FREE: AllowDecision = Object.freeze({ kind: 'allow', reason: 'free' });

type Failure = Extract<SchemeVerification, { ok: false }>;

/**
 * Decides each request: `allow` (paid or free), `challenge` (402 with one
 * offer per payment scheme) or `reject` (401 for skip-invoice routes, 503
 * naming the code when a backend fails). Like the reference proxy, any bad
 * credential is answered with a fresh 402; the decision's `code` says what
 * was wrong, and for a refused credential the answer says it too
 * (`error="<reason>"` on the L402 challenge lines, the code in the body; see
 * `refusalOf`).
 *
 * Per request: each scheme verifies its credential, in order; the first that
 * accepts one allows the request (with that scheme's response headers).
 * Otherwise the refusal (of the first scheme that found a credential of its
 * own) is told to `onRefusal`; a `skipInvoiceCreation` route answers 401;
 * `beforeChallenge` may answer instead; the route is priced (0 passes free);
 * every scheme makes its offer; `onChallenge` sees the 402 before it goes out.
 *
 * @typeParam C - what callers pass to `decide` besides the request, handed to price functions and hooks
 * @example
 * ```ts
 * const gate = new Gate({ minter, verifier });
 * const decision = await gate.decide(request, { service: 'api', priceSats: 10 });
 * ```
 */
export class Gate<C = undefined> {
  /** The payment schemes, in challenge order. */
  readonly schemes: readonly PaymentScheme[];
  /** Whether {@link Gate.responded} does anything (a scheme or the `afterResponse` hook listens): front ends skip watching responses otherwise. */
  readonly observesResponses: boolean;
  readonly #single: PaymentScheme | undefined;
  /** Names of the schemes that meter responses (`afterResponse`). */
  readonly #metering: ReadonlySet<string>;
  readonly #clock: Clock;
  readonly #o: GateOptions<C>;

  /**
   * @param options - schemes (or minter + verifier), clock, hooks
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` when neither or both of `schemes` and
   *   `minter` + `verifier` are given, only one of `minter` and `verifier` is, or two schemes share a name
   */
  constructor(options: GateOptions<C>) {
    const issues: ConfigIssue[] = [];
    const shorthand = options.minter !== undefined || options.verifier !== undefined;
    let schemes: readonly PaymentScheme[] = [];
    if (options.schemes !== undefined && shorthand) {
      issues.push({ path: 'schemes', message: 'give either `schemes` or `minter` + `verifier`, not both' });
    } else if (options.schemes !== undefined) {
      schemes = [...options.schemes];
      if (schemes.length === 0) issues.push({ path: 'schemes', message: 'at least one payment scheme is required' });
      const names = new Set<string>();
      schemes.forEach((s, i) => {
        if (names.has(s.name)) issues.push({ path: `schemes[${i}]`, message: `a second scheme named ${s.name}` });
        names.add(s.name);
      });
    } else if (options.minter !== undefined && options.verifier !== undefined) {
      const form = options.challengeForm === undefined ? {} : { challengeForm: options.challengeForm };
      schemes = [new L402Scheme({ minter: options.minter, verifier: options.verifier, ...form })];
    } else {
      issues.push({
        path: shorthand ? (options.minter === undefined ? 'minter' : 'verifier') : 'schemes',
        message: shorthand ? 'required together with its pair (`minter` + `verifier`)' : 'give `schemes` or `minter` + `verifier`',
      });
    }
    if (options.challengeForm !== undefined && options.schemes !== undefined) {
      issues.push({ path: 'challengeForm', message: 'only for the `minter` + `verifier` shorthand: give it to the L402Scheme' });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    this.schemes = Object.freeze(schemes);
    this.#single = schemes.length === 1 ? schemes[0] : undefined;
    this.#clock = options.clock ?? systemClock;
    this.#o = options;
    this.#metering = new Set(schemes.filter((s) => s.afterResponse !== undefined).map((s) => s.name));
    this.observesResponses = options.afterResponse !== undefined || this.#metering.size > 0;
  }

  /**
   * Whether {@link Gate.responded} does anything for this decision: the
   * `afterResponse` hook is set, or the decision accepted a credential of a
   * scheme that meters responses. Front ends watch only those responses, so
   * that an auth-off or L402 request costs nothing more when a metering scheme
   * (MPP) is also served.
   * @param decision - the decision made
   * @returns whether to call `responded` once the response has ended
   */
  observes(decision: Decision): boolean {
    if (this.#o.afterResponse !== undefined) return true;
    return (
      decision.kind === 'allow' && decision.scheme !== undefined && decision.token !== undefined && this.#metering.has(decision.scheme)
    );
  }

  /**
   * Decides one request.
   * @param request - the request view
   * @param route - how the route is protected
   * @param context - handed to price functions and hooks (the proxy passes its request context)
   * @returns the decision; never rejects for bad credentials or backend failures
   * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` when the route's service, capabilities or
   *   timeout cannot form caveats (a configuration error); whatever `beforeChallenge` throws
   */
  async decide(request: RequestView, route: RouteOptions<C>, context?: C): Promise<Decision> {
    return this.evaluate(request, route, context);
  }

  /**
   * {@link Gate.decide} for hot paths: answers synchronously when every step
   * it takes is synchronous (a paid request with a cached verification), so
   * that the proxy forwards without a microtask.
   * @param request - the request view
   * @param route - how the route is protected
   * @param context - handed to price functions and hooks
   * @returns the decision, or a promise of it
   * @throws L402Error as {@link Gate.decide} rejects
   */
  evaluate(request: RequestView, route: RouteOptions<C>, context?: C): MaybePromise<Decision> {
    const scope = route.scope ?? (typeof route.priceSats === 'function' ? 'path' : 'service');
    const target: VerifyTarget =
      route.requiredCapability === undefined
        ? { service: route.service }
        : { service: route.service, capability: route.requiredCapability };
    if (scope === 'path') target.resource = resourceName(route.service, request.path);
    const single = this.#single;
    if (single === undefined) return this.#verifyEach(request, route, context, target);
    let verified: MaybePromise<SchemeVerification>;
    try {
      verified = single.verify(request, target);
    } catch (error) {
      return this.#unavailable(error, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE', request, route, context);
    }
    if (isPromise(verified)) {
      return verified.then(
        (v) => this.#verified(single, v, request, route, context, target),
        (error: unknown) => this.#unavailable(error, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE', request, route, context),
      );
    }
    return this.#verified(single, verified, request, route, context, target);
  }

  /**
   * Called by the front end when the response to a decided request has ended:
   * tells the accepting scheme (for an `allow` with a credential) and the
   * `afterResponse` hook. Never throws.
   * @param request - the request view the decision was made on
   * @param decision - the decision
   * @param outcome - the status sent and whether the response completed
   * @param context - the context given to `decide`, if any
   */
  responded(request: RequestView, decision: Decision, outcome: ResponseOutcome, context?: C): void {
    if (decision.kind === 'allow' && decision.scheme !== undefined && decision.token !== undefined) {
      const scheme = this.schemes.find((s) => s.name === decision.scheme);
      if (scheme?.afterResponse !== undefined) {
        const accepted: AcceptedCredential =
          decision.credential === undefined
            ? { ok: true, token: decision.token }
            : { ok: true, token: decision.token, credential: decision.credential };
        try {
          scheme.afterResponse(accepted, request, outcome);
        } catch {
          // A metering hook must not break the response path.
        }
      }
    }
    const hook = this.#o.afterResponse;
    if (hook === undefined) return;
    try {
      hook({ request, decision, outcome, context });
    } catch {
      // Its errors are ignored, as documented.
    }
  }

  /** Several schemes: each verifies in turn; the first to accept wins. */
  async #verifyEach(request: RequestView, route: RouteOptions<C>, context: C | undefined, target: VerifyTarget): Promise<Decision> {
    let missing: Failure | undefined;
    let refused: Failure | undefined;
    for (const scheme of this.schemes) {
      let v: SchemeVerification;
      try {
        const r = scheme.verify(request, target);
        v = isPromise(r) ? await r : r;
      } catch (error) {
        return this.#unavailable(error, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE', request, route, context);
      }
      if (v.ok) return this.#allowed(scheme, v, request);
      if (v.code === scheme.missingCode) missing ??= v;
      else refused ??= v;
    }
    return this.#refused((refused ?? missing) as Failure, request, route, context, target);
  }

  #verified(
    scheme: PaymentScheme,
    v: SchemeVerification,
    request: RequestView,
    route: RouteOptions<C>,
    context: C | undefined,
    target: VerifyTarget,
  ): MaybePromise<Decision> {
    if (v.ok) return this.#allowed(scheme, v, request);
    return this.#refused(v, request, route, context, target);
  }

  #allowed(scheme: PaymentScheme, v: AcceptedCredential, request: RequestView): AllowDecision {
    const decision: AllowDecision = { kind: 'allow', reason: 'paid', token: v.token, scheme: scheme.name };
    if (v.credential !== undefined) decision.credential = v.credential;
    if (scheme.responseHeaders !== undefined) {
      const headers = scheme.responseHeaders(v, request);
      if (headers !== undefined && headers.length > 0) decision.headers = headers;
    }
    return decision;
  }

  #refused(
    failure: Failure,
    request: RequestView,
    route: RouteOptions<C>,
    context: C | undefined,
    target: VerifyTarget,
  ): MaybePromise<Decision> {
    const refusal = refusalOf(failure);
    const onRefusal = this.#o.onRefusal;
    if (refusal !== undefined && onRefusal !== undefined) {
      try {
        onRefusal(refusal, request, route, context);
      } catch {
        // A logging hook must not change the answer.
      }
    }
    if (route.skipInvoiceCreation === true) return unauthorizedDecision(failure.code, refusal);
    const before = this.#o.beforeChallenge;
    if (before === undefined) return this.#challenge(failure.code, refusal, request, route, context, target);
    const answer = before({ request, route, context, code: failure.code, refusal });
    const then = (d: Decision | undefined): MaybePromise<Decision> =>
      d ?? this.#challenge(failure.code, refusal, request, route, context, target);
    return isPromise(answer) ? answer.then(then) : then(answer);
  }

  async #challenge(
    code: L402ErrorCode,
    refusal: Refusal | undefined,
    request: RequestView,
    route: RouteOptions<C>,
    context: C | undefined,
    target: VerifyTarget,
  ): Promise<Decision> {
    let price: number;
    try {
      const p = typeof route.priceSats === 'function' ? route.priceSats(request, context as C) : route.priceSats;
      price = isPromise(p) ? await p : p;
    } catch (error) {
      return this.#unavailable(error, 'L402_ERR_GATE_PRICE_UNAVAILABLE', request, route, context);
    }
    if (price === 0) return FREE;
    if (!Number.isSafeInteger(price) || price < 0) {
      const error = new L402Error(
        'L402_ERR_GATE_PRICE_UNAVAILABLE',
        `service ${route.service}: the price is not a non-negative integer of satoshis: ${String(price)}`,
        { status: 503 },
      );
      return this.#unavailable(error, 'L402_ERR_GATE_PRICE_UNAVAILABLE', request, route, context);
    }

    const now = this.#clock.now();
    let offers: Offer[];
    try {
      offers = await Promise.all(this.schemes.map((s) => s.offer({ request, route, target, priceSats: price, refusal, now })));
    } catch (error) {
      if (error instanceof L402Error && error.code === 'L402_ERR_TOKEN_BAD_CAVEAT') throw error;
      return this.#unavailable(error, 'L402_ERR_LN_UNAVAILABLE', request, route, context);
    }
    const decision = offersDecision(offers, code, refusal);
    const onChallenge = this.#o.onChallenge;
    if (onChallenge !== undefined) {
      try {
        await onChallenge({ request, route, context, decision });
      } catch (error) {
        return this.#unavailable(error, 'L402_ERR_STORE_UNAVAILABLE', request, route, context);
      }
    }
    return decision;
  }

  /** A 503 naming the fault's code (`fallback` when it has none), told to `onError`. */
  #unavailable(error: unknown, fallback: L402ErrorCode, request: RequestView, route: RouteOptions<C>, context: C | undefined): Decision {
    const coded =
      error instanceof L402Error
        ? error
        : new L402Error(fallback, `service ${route.service}: ${String(error)}`, { status: 503, cause: error });
    const onError = this.#o.onError;
    if (onError !== undefined) {
      try {
        onError(coded, { request, route, context });
      } catch {
        // A logging hook must not change the answer.
      }
    }
    return unavailableDecision(coded.code);
  }
}
