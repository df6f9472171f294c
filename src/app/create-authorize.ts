/**
 * The per-request pipeline of the `aperture` program: the program's hooks
 * (whitelist, auth mode, rate limits, freebies, skip-invoice paths, dynamic
 * pricer, ledger, metrics) wired into the same {@link Gate} every adapter
 * uses, in the reference's order: whitelist → auth mode → verify → rate limit
 * → (freebie | skip-invoice 401 | challenge rate limits → price → mint →
 * ledger → 402).
 *
 * Blocklist, OPTIONS, `/api/dev/pay` and routing happen before this hook (see
 * `ApertureHandler` and `Proxy`).
 */
import type { ChallengeForm } from '../core/challenge.js';
import { unauthorizedDecision } from '../core/challenge-decision.js';
import type { L402ErrorCode } from '../core/error-codes.js';
import { L402Error } from '../core/errors.js';
import { Gate, type GateOptions, type BeforeChallengeEvent, type ChallengeEvent, type RouteOptions } from '../core/gate.js';
import { isPromise } from '../core/is-promise.js';
import { L402Scheme } from '../core/l402-scheme.js';
import type { Minter } from '../core/minter.js';
import type { PaymentScheme, ResponseOutcome } from '../core/payment-scheme.js';
import type { Refusal } from '../core/refusal.js';
import type { Verifier, VerifyTarget } from '../core/verifier.js';
import { MppPaymentScheme } from '../mpp/mpp-payment-scheme.js';
import type { MppAccepted, MppScheme } from '../mpp/mpp-scheme.js';
import { systemClock, type Clock, type Decision, type MaybePromise, type RequestView } from '../core/types.js';
import type { ApertureStore } from '../store/aperture-store.js';
import { globalLimitDecision } from '../ratelimit/global-limit-decision.js';
import { rateLimitedDecision } from '../ratelimit/rate-limited-decision.js';
import { ipRateLimitKey, tokenRateLimitKey, type RateLimiter, type RateLimitResult } from '../ratelimit/rate-limiter.js';
import { readBodyPrefix } from '../proxy/forward/body-prefix.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';
import { MAX_PRICER_BODY_BYTES, type GrpcPricer } from '../proxy/pricer/grpc-pricer.js';
import type { AuthorizeContext, AuthorizeResult } from '../proxy/proxy.js';
import type { AppService } from './app-service.js';

/** What a request ended as, for metrics and logs; set by the pipeline on the raw request. */
export type PipelineOutcome = 'forwarded' | 'challenged' | 'rejected' | 'rate_limited' | 'unavailable';

/** Options of {@link createAuthorize}. */
export interface CreateAuthorizeOptions {
  /** Mints challenge tokens (its secret store is `store`); `undefined` without a Lightning backend. */
  minter: Minter | undefined;
  /** Verifies credentials. */
  verifier: Verifier;
  /** Ledger of challenges. */
  store: ApertureStore;
  /**
   * The Payment scheme (MPP), offered and accepted on services whose
   * `authscheme` is `mpp` or `l402+mpp`; `undefined` when `enablempp` is off.
   */
  mpp?: MppScheme | undefined;
  /** Told when a payment could not be given back after a failed response (the store did not answer). */
  onReleaseError?: (error: unknown, accepted: MppAccepted) => void;
  /** `authenticator.disable`: every request passes (rate limits by IP still apply). */
  authDisabled: boolean;
  /** Challenge form (`challengeform`). */
  challengeForm: ChallengeForm;
  /**
   * Limits how fast one masked client IP may obtain fresh challenges (each mints
   * an invoice), across all services; `undefined` = unlimited, as the reference.
   */
  challengeLimiter: RateLimiter | undefined;
  /**
   * Limits how fast fresh challenges are minted across every client together
   * (`globalchallengelimit`), after `challengeLimiter`; refusals answer 503
   * `L402_ERR_RATELIMIT_GLOBAL_EXCEEDED`. `undefined` = no global limit.
   */
  globalChallengeLimiter?: RateLimiter | undefined;
  /** Metrics. */
  metrics: ProxyMetrics;
  /** Remembers which service a payment hash belongs to, for the `tokens paid` metric. */
  onChallenge?: (paymentHash: string, service: string) => void;
  /** Receives infrastructure failures (store, Lightning, pricer), for logs. */
  onError?: (error: L402Error, service: string) => void;
  /** Told about every refused credential (after it is counted in `metrics.refusals`), for logs. */
  onRefusal?: (refusal: Refusal, service: string) => void;
  /** Clock for `_valid_until` caveats and ledger times. */
  clock?: Clock;
  /** Records what each request ended as. */
  setOutcome?: (context: AuthorizeContext<AppService>, outcome: PipelineOutcome) => void;
  /**
   * Longest wait for the body prefix a dynamic pricer sees, ms (the program
   * uses three quarters of `readtimeout`, so that the challenge goes out before
   * `readtimeout` ends the request); the pricer then gets what arrived. `undefined` or 0 waits as long as the body takes.
   */
  pricerBodyTimeoutMs?: number;
}

/**
 * The `authorize` hook of the `aperture` proxy, with what the `Proxy` needs
 * besides: the Gate's payment schemes (whose credentials it strips and
 * forwards) and its after-response hook.
 */
export interface ApertureAuthorize {
  (context: AuthorizeContext<AppService>): MaybePromise<AuthorizeResult>;
  /** The Gate's payment schemes, for `ProxyOptions.schemes`. */
  readonly schemes: readonly PaymentScheme[];
  /** For `ProxyOptions.afterResponse`; `undefined` when nothing in the Gate observes responses. */
  readonly afterResponse: ((context: AuthorizeContext<AppService>, decision: Decision, outcome: ResponseOutcome) => void) | undefined;
  /** For `ProxyOptions.observes`: the decisions whose responses `afterResponse` must see. */
  readonly observes: (decision: Decision) => boolean;
}

/** Why a request passes without a verified credential. */
type PassReason = 'free' | 'whitelist' | 'freebie' | 'auth-off';

/** The allow decisions of {@link PassReason}s, shared by every request (decisions are never mutated). */
const PASSED: Readonly<Record<PassReason, Decision>> = Object.freeze({
  free: Object.freeze({ kind: 'allow', reason: 'free' }),
  whitelist: Object.freeze({ kind: 'allow', reason: 'whitelist' }),
  freebie: Object.freeze({ kind: 'allow', reason: 'freebie' }),
  'auth-off': Object.freeze({ kind: 'allow', reason: 'auth-off' }),
});

/** Rate-limit codes that are the client's (or every client's) rate, not a fault. */
const RATE_LIMITED: ReadonlySet<L402ErrorCode> = new Set(['L402_ERR_RATELIMIT_EXCEEDED', 'L402_ERR_RATELIMIT_GLOBAL_EXCEEDED']);

/** What a decision means for metrics and logs. */
function outcomeOf(decision: Decision): PipelineOutcome {
  if (decision.kind === 'allow') return 'forwarded';
  if (decision.kind === 'challenge') return 'challenged';
  if (RATE_LIMITED.has(decision.code)) return 'rate_limited';
  return decision.status === 503 ? 'unavailable' : 'rejected';
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function anyMatch(patterns: readonly { regexp: { test(path: string): boolean } }[], path: string): boolean {
  for (const p of patterns) if (p.regexp.test(path)) return true;
  return false;
}

/** The one client key of the global challenge limit. */
const GLOBAL_CHALLENGE_KEY = 'all';

/** Headers never sent to a price server: they carry credentials. */
const PRIVATE_HEADERS = new Set(['authorization', 'macaroon', 'grpc-metadata-macaroon', 'cookie', 'proxy-authorization']);

/**
 * The request text given to a dynamic pricer, as the reference: request line,
 * headers (without the credential ones) and the start of the body.
 * @param context - the request
 * @param body - the first bytes of the body (at most `MAX_PRICER_BODY_BYTES`), decoded as UTF-8
 * @returns `METHOD path HTTP/x.y\r\nName: value\r\n…\r\n\r\n<body prefix>`
 */
export function pricerRequestText(context: Pick<AuthorizeContext, 'raw' | 'request'>, body?: Buffer): string {
  const raw = context.raw;
  const lines = [`${context.request.method} ${context.request.path} HTTP/${raw.httpVersion}`];
  const headers = raw.rawHeaders;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.startsWith(':') || PRIVATE_HEADERS.has(name.toLowerCase())) continue;
    lines.push(`${name}: ${headers[i + 1] as string}`);
  }
  if (!lines.some((l) => /^host:/i.test(l))) lines.splice(1, 0, `Host: ${context.request.host}`);
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  return body === undefined || body.length === 0 ? head : head + body.toString('utf8');
}

/**
 * Builds the `authorize` hook of the `aperture` proxy: the program's hooks
 * wired into a {@link Gate} of one `L402Scheme`, the same Gate the adapters
 * use (the 402, 401 and 503 answers, refusals and prices come from it).
 *
 * Per request, after routing: `authwhitelistpaths` and `auth: off` (or
 * `authenticator.disable`) pass, rate limited by masked IP. Otherwise the
 * credential is verified; a valid one is rate limited by `token:<id>` and
 * forwarded. Without one, `auth: freebie N` lets the request pass while the
 * masked IP has freebies left; `authskipinvoicecreationpaths` answer 401;
 * else the masked IP's challenge rate (the reference has no such limit), the
 * challenge rate of all clients together, and the service's rate limits are
 * checked (the Gate's `beforeChallenge`), the price is taken (static, or from
 * the dynamic pricer where 0 is a free pass), a token and invoice are minted,
 * the challenge is recorded as pending in the ledger (`onChallenge`), and a
 * 402 goes out. Infrastructure failures answer
 * 503 naming their code; a request is never failed by a bad credential.
 *
 * With `dynamicprice.enabled`, tokens are minted for and verified against the
 * resource `<service><path>` (the core's `resourceName`, the reference's
 * `Service.ResourceName`), so that a token opens only what it was priced for.
 * A refused credential (not a missing one) is counted in `metrics.refusals`,
 * told to `onRefusal`, and named in the answer (`error="<reason>"` on the
 * challenge, the code in the body), as the Gate does.
 *
 * @param options - the parts of the pipeline
 * @returns the hook for `new Proxy({ authorize })`
 */
export function createAuthorize(options: CreateAuthorizeOptions): ApertureAuthorize {
  type Context = AuthorizeContext<AppService>;
  const { metrics } = options;
  const setOutcome = options.setOutcome ?? (() => undefined);
  const onError = options.onError ?? (() => undefined);
  const onRefusal = options.onRefusal ?? (() => undefined);
  const clock = options.clock ?? systemClock;
  const ALLOWED: Decision = PASSED.free;

  /** `then()` when the limiter allows `key` (counted in `metrics.rateLimit`), else the refusal. */
  const limited = (
    context: Context,
    limiter: RateLimiter | undefined,
    key: string,
    path: string,
    then: () => MaybePromise<Decision>,
    refuse: (r: RateLimitResult) => Decision = rateLimitedDecision,
  ): MaybePromise<Decision> => {
    if (limiter === undefined || limiter.rules.length === 0) return then();
    const finish = (r: RateLimitResult): MaybePromise<Decision> => {
      metrics.rateLimit.inc({ service: context.service.name, result: r.allowed ? 'allowed' : 'denied' });
      return r.allowed ? then() : refuse(r);
    };
    const result = limiter.check(key, path);
    return isPromise(result) ? result.then(finish) : finish(result);
  };

  const pass = (context: Context, reason: PassReason, path: string): MaybePromise<Decision> => {
    const limiter = context.service.limiter;
    // Without rate-limit rules there is no key to compute (masking the client IP
    // was ~1 % of an auth-off request's CPU) and no closure to allocate.
    if (limiter === undefined || limiter.rules.length === 0) return PASSED[reason];
    return limited(context, limiter, ipRateLimitKey(context.request.remoteAddress), path, () => PASSED[reason]);
  };

  /**
   * Before a challenge: a freebie passes; a skip-invoice path answers 401; the masked IP's
   * challenge rate (the reference has no such limit), every client's together, and the
   * service's rate limits are checked. `undefined` goes on to price and mint.
   */
  const beforeChallenge = (event: BeforeChallengeEvent<Context>): MaybePromise<Decision | undefined> => {
    const context = event.context as Context;
    const path = pathOnly(context.request.path);
    const freebies = context.service.freebies;
    if (freebies === undefined) return challengeGates(context, event, path);
    const use = (free: boolean): MaybePromise<Decision | undefined> =>
      free ? pass(context, 'freebie', path) : challengeGates(context, event, path);
    const granted = freebies.tryUse(context.request.remoteAddress);
    return isPromise(granted) ? granted.then(use) : use(granted);
  };

  const challengeGates = async (context: Context, event: BeforeChallengeEvent<Context>, path: string): Promise<Decision | undefined> => {
    const { service, request } = context;
    if (anyMatch(service.config.authSkipInvoiceCreationPaths, path)) return unauthorizedDecision(event.code, event.refusal);
    const ipKey = ipRateLimitKey(request.remoteAddress);
    const allowed = (): Decision => ALLOWED;
    // Minting costs an invoice and dynamic pricing a pricer call: limit both per masked IP before
    // either happens. A request the pricer then lets through (price 0) has passed the service limit here.
    const gate = await limited(context, options.challengeLimiter, ipKey, path, allowed);
    if (gate !== ALLOWED) return gate;
    // Many networks, each within its own limit, may not mint without bound together. Checked
    // after the per-network limit, so that a network over its own limit spends none of it.
    const globalGate = await limited(context, options.globalChallengeLimiter, GLOBAL_CHALLENGE_KEY, path, allowed, globalLimitDecision);
    if (globalGate !== ALLOWED) return globalGate;
    const serviceGate = await limited(context, service.limiter, ipKey, path, allowed);
    return serviceGate === ALLOWED ? undefined : serviceGate;
  };

  /** Each offer is recorded as pending in the ledger before the 402 goes out. */
  const onChallenge = async (event: ChallengeEvent<Context>): Promise<void> => {
    const service = (event.context as Context).service;
    const createdAt = clock.now();
    const hashes: string[] = [];
    for (const offer of event.decision.offers) {
      // A Payment offer has an invoice per intent (the charge, the session deposit): one ledger row each.
      const parts = offer.authType === 'mpp' ? payment?.offered(event.request) : undefined;
      const rows =
        parts === undefined
          ? [{ tokenId: offer.tokenId, paymentHash: offer.paymentHash, priceSats: offer.priceSats, expiresAt: offer.expiresAt }]
          : parts.map((p) => ({ tokenId: p.paymentHash, paymentHash: p.paymentHash, priceSats: p.invoiceSats, expiresAt: p.expiresAt }));
      for (const row of rows) {
        await options.store.recordChallenge({ ...row, service: service.name, authType: offer.authType, createdAt });
        hashes.push(row.paymentHash);
      }
    }
    for (const hash of hashes) options.onChallenge?.(hash, service.name);
    metrics.challenges.inc({ service: service.name });
  };

  /**
   * The dynamic price of a request: the pricer sees the request text and the start of its body.
   * Asked once per request: the Payment scheme verifies at the price the challenge would have.
   */
  const prices = new WeakMap<RequestView, Promise<number>>();
  const texts = new WeakMap<RequestView, Promise<string>>();
  /** The request text the pricer sees, read once per request (a metered session's settlement sends it again). */
  const requestText = (request: RequestView, context: Context): Promise<string> => {
    let text = texts.get(request);
    if (text === undefined) {
      // The bytes read here are forwarded first if the request passes (price 0); the rest is streamed.
      text = readBodyPrefix(context.raw, MAX_PRICER_BODY_BYTES, options.pricerBodyTimeoutMs).then((prefix) =>
        pricerRequestText(context, prefix.bytes),
      );
      texts.set(request, text);
    }
    return text;
  };
  const dynamicPrice = (request: RequestView, context: Context): Promise<number> => {
    let price = prices.get(request);
    if (price === undefined) {
      price = (async () => {
        const pricer = context.service.pricer as GrpcPricer;
        return pricer.getPrice(pathOnly(context.request.path), await requestText(request, context));
      })();
      prices.set(request, price);
    }
    return price;
  };

  /** A service whose sessions are metered: `dynamicprice.enabled` and `dynamicprice.metered`. */
  const metered = (service: AppService): boolean => service.pricer !== undefined && service.config.dynamicPrice.metered;
  const pricerFailed = (error: unknown, service: string, what: string): void => {
    const coded =
      error instanceof L402Error ? error : new L402Error('L402_ERR_PRICER_UNAVAILABLE', `${what}: ${String(error)}`, { cause: error });
    onError(coded, service);
  };

  /**
   * A metered session's quote (`QuoteSession`); `undefined` (the ordinary price stands) when the
   * service is not metered, the pricer does not implement it, or it fails (told to `onError`).
   */
  const sessionQuote = async (request: RequestView, _target: VerifyTarget, sessionId: string | undefined) => {
    const context = contexts.get(request) as Context;
    const service = context.service;
    if (!metered(service)) return undefined;
    try {
      return await (service.pricer as GrpcPricer).quoteSession({
        path: pathOnly(context.request.path),
        requestText: await requestText(request, context),
        serviceName: service.name,
        sessionId: sessionId ?? '',
      });
    } catch (error) {
      pricerFailed(error, service.name, 'QuoteSession');
      return undefined;
    }
  };

  /**
   * A metered session request's true cost (`SettleSession`) from the end of its response;
   * `undefined` (the estimate stands) when the pricer does not implement it or fails (told to `onError`).
   */
  const settleSession = async (accepted: MppAccepted, request: RequestView, outcome: ResponseOutcome) => {
    const context = contexts.get(request);
    if (context === undefined || !metered(context.service)) return undefined;
    const service = context.service;
    try {
      return await (service.pricer as GrpcPricer).settleSession({
        sessionId: accepted.reference,
        path: pathOnly(context.request.path),
        serviceName: service.name,
        httpStatus: outcome.status,
        contentType: outcome.contentType ?? '',
        contentEncoding: outcome.contentEncoding ?? '',
        complete: outcome.completed,
        responseTail: outcome.tail ?? new Uint8Array(0),
        estimateSats: accepted.chargedSats,
        requestText: await requestText(request, context),
      });
    } catch (error) {
      pricerFailed(error, service.name, 'SettleSession');
      return undefined;
    }
  };

  /** The context of each request the Payment scheme verifies, for its price. */
  const contexts = new WeakMap<RequestView, Context>();
  const l402 = new L402Scheme({ minter: options.minter, verifier: options.verifier, challengeForm: options.challengeForm });
  const payment =
    options.mpp === undefined
      ? undefined
      : new MppPaymentScheme({
          scheme: options.mpp,
          priceSats: (request: RequestView, _target: VerifyTarget): MaybePromise<number> => {
            const context = contexts.get(request) as Context;
            return context.service.pricer === undefined ? context.service.config.price : dynamicPrice(request, context);
          },
          ...(options.onReleaseError === undefined ? {} : { onReleaseError: options.onReleaseError }),
          sessionQuote,
          settleSession,
          onSettleError: (error, _accepted, request) =>
            pricerFailed(error, contexts.get(request)?.service.name ?? '', 'settling a metered session'),
        });
  const schemes: PaymentScheme[] = payment === undefined ? [l402] : [l402, payment];
  const gateOptions: Omit<GateOptions<Context>, 'schemes'> = {
    clock,
    onRefusal: (refusal, _request, route) => {
      metrics.refusals.inc({ service: route.service, reason: refusal.reason });
      onRefusal(refusal, route.service);
    },
    beforeChallenge,
    onChallenge,
    onError: (error, event) => onError(error, event.route.service),
  };
  // One Gate per `authscheme`: a service offers (and mints for) only the schemes it accepts, and accepts only
  // their credentials. Without the Payment scheme (`enablempp` off), the configuration refuses `mpp` services.
  const gate = new Gate<Context>({ schemes, ...gateOptions });
  const l402Gate = payment === undefined ? gate : new Gate<Context>({ schemes: [l402], ...gateOptions });
  const mppGate = payment === undefined ? l402Gate : new Gate<Context>({ schemes: [payment], ...gateOptions });
  const gateOf = (service: AppService): Gate<Context> => {
    const scheme = service.config.authScheme;
    return scheme === 'l402' ? l402Gate : scheme === 'mpp' ? mppGate : gate;
  };

  // One route per service object, built on first use: a paid request allocates none.
  const routes = new WeakMap<AppService, RouteOptions<Context>>();
  const routeOf = (service: AppService): RouteOptions<Context> => {
    let route = routes.get(service);
    if (route === undefined) {
      const config = service.config;
      route = {
        service: service.name,
        priceSats: service.pricer === undefined ? config.price : dynamicPrice,
        // A dynamically priced token opens only the resource it was priced for: `<service><path>`, as the reference's.
        scope: config.dynamicPrice.enabled ? 'path' : 'service',
        capabilities: config.capabilities,
        timeoutSeconds: config.timeoutSeconds,
        constraints: config.constraints,
        memo: `aperture: ${service.name}`,
      };
      routes.set(service, route);
    }
    return route;
  };

  const done = (context: Context, decision: Decision): Decision => {
    setOutcome(context, outcomeOf(decision));
    return decision;
  };

  /** A verified token is rate limited by `token:<id>`; every answer records its outcome. */
  const decided = (context: Context, decision: Decision, path: string): MaybePromise<Decision> => {
    if (decision.kind === 'allow' && decision.reason === 'paid' && decision.token !== undefined) {
      const limiter = context.service.limiter;
      // As in `pass`: without rules, no key string and no closure per paid request.
      if (limiter !== undefined && limiter.rules.length > 0) {
        const limitedDecision = limited(context, limiter, tokenRateLimitKey(decision.token.tokenId), path, () => decision);
        return isPromise(limitedDecision) ? limitedDecision.then((d) => done(context, d)) : done(context, limitedDecision);
      }
    }
    return done(context, decision);
  };

  const authorize = (context: Context): MaybePromise<AuthorizeResult> => {
    const { service, request } = context;
    const path = pathOnly(request.path);
    const config = service.config;
    if (options.authDisabled || config.auth.mode === 'off' || anyMatch(config.authWhitelistPaths, path)) {
      const reason: PassReason = options.authDisabled || config.auth.mode === 'off' ? 'auth-off' : 'whitelist';
      const passed = pass(context, reason, path);
      return isPromise(passed) ? passed.then((d) => done(context, d)) : done(context, passed);
    }
    if (payment !== undefined) contexts.set(request, context);
    const decision = gateOf(service).evaluate(request, routeOf(service), context);
    // Without the Payment scheme no request is metered: no closure per request.
    if (payment === undefined)
      return isPromise(decision) ? decision.then((d) => decided(context, d, path)) : decided(context, decision, path);
    const answer = (d: Decision): MaybePromise<AuthorizeResult> => {
      const out = decided(context, d, path);
      return isPromise(out) ? out.then((o) => capturing(context, o)) : capturing(context, out);
    };
    return isPromise(decision) ? decision.then(answer) : answer(decision);
  };

  /** A metered session request keeps the end of its response for `SettleSession` (`usagetailbytes`). */
  const capturing = (context: Context, decision: Decision): AuthorizeResult => {
    if (decision.kind !== 'allow' || decision.scheme !== 'Payment' || !metered(context.service)) return decision;
    const credential = decision.credential as MppAccepted | undefined;
    if (credential?.intent !== 'session' || credential.action === 'close') return decision;
    return { decision, captureTailBytes: context.service.config.dynamicPrice.usageTailBytes };
  };
  return Object.assign(authorize, {
    schemes: gate.schemes,
    afterResponse: gate.observesResponses
      ? (context: Context, decision: Decision, outcome: ResponseOutcome) => gate.responded(context.request, decision, outcome, context)
      : undefined,
    // The combined Gate holds every scheme (the per-authscheme Gates share them and their hooks).
    observes: (decision: Decision) => gate.observes(decision),
  });
}
