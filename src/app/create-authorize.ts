/**
 * The per-request pipeline of the `aperture` program, in the reference's
 * order: whitelist → auth mode → verify → rate limit → (skip-invoice 401 |
 * price → challenge rate limits → mint → ledger → 402).
 *
 * Blocklist, OPTIONS, `/api/dev/pay` and routing happen before this hook (see
 * `ApertureHandler` and `Proxy`).
 */
import { resourceName, serviceCaveats } from '../core/caveats.js';
import type { ChallengeForm } from '../core/challenge.js';
import { challengeDecision, unauthorizedDecision } from '../core/challenge-decision.js';
import type { L402ErrorCode } from '../core/error-codes.js';
import { L402Error } from '../core/errors.js';
import { isPromise } from '../core/is-promise.js';
import type { Minter } from '../core/minter.js';
import { refusalOf, type Refusal } from '../core/refusal.js';
import { rejectDecision as reject } from '../core/reject-decision.js';
import type { Verifier, VerifyResult, VerifyTarget } from '../core/verifier.js';
import { systemClock, type Clock, type Decision, type MaybePromise, type RejectDecision, type RequestView, type VerifiedToken } from '../core/types.js';
import type { ApertureStore } from '../store/aperture-store.js';
import { globalLimitDecision } from '../ratelimit/global-limit-decision.js';
import { rateLimitedDecision } from '../ratelimit/rate-limited-decision.js';
import { ipRateLimitKey, tokenRateLimitKey, type RateLimiter, type RateLimitResult } from '../ratelimit/rate-limiter.js';
import { readBodyPrefix } from '../proxy/forward/body-prefix.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';
import { MAX_PRICER_BODY_BYTES } from '../proxy/pricer/grpc-pricer.js';
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

/** Why a request passes without a verified credential. */
type PassReason = 'free' | 'whitelist' | 'freebie' | 'auth-off';

/** The allow decisions of {@link PassReason}s, shared by every request (decisions are never mutated). */
const PASSED: Readonly<Record<PassReason, Decision>> = Object.freeze({
  free: Object.freeze({ kind: 'allow', reason: 'free' }),
  whitelist: Object.freeze({ kind: 'allow', reason: 'whitelist' }),
  freebie: Object.freeze({ kind: 'allow', reason: 'freebie' }),
  'auth-off': Object.freeze({ kind: 'allow', reason: 'auth-off' }),
});

/** 503 naming the coded cause, so that operators and clients see why. */
function unavailable(error: unknown, fallback: L402ErrorCode): RejectDecision {
  const code = error instanceof L402Error ? error.code : fallback;
  return reject(503, `service unavailable (${code})\n`, code);
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
 * Builds the `authorize` hook of the `aperture` proxy.
 *
 * Per request, after routing: `authwhitelistpaths` and `auth: off` (or
 * `authenticator.disable`) pass, rate limited by masked IP. Otherwise the
 * credential is verified; a valid one is rate limited by `token:<id>` and
 * forwarded. Without one, `auth: freebie N` lets the request pass while the
 * masked IP has freebies left; `authskipinvoicecreationpaths` answer 401;
 * else the masked IP's challenge rate (the reference has no such limit), the
 * challenge rate of all clients together, and the service's rate limits are checked, the price is taken (static, or from
 * the dynamic pricer where 0 is a free pass), a token and invoice are minted, the challenge is recorded as
 * pending in the ledger, and a 402 goes out. Infrastructure failures answer
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
export function createAuthorize(options: CreateAuthorizeOptions): (context: AuthorizeContext<AppService>) => MaybePromise<AuthorizeResult> {
  const clock = options.clock ?? systemClock;
  const { metrics, verifier } = options;
  const setOutcome = options.setOutcome ?? (() => undefined);
  const onError = options.onError ?? (() => undefined);
  const onRefusal = options.onRefusal ?? (() => undefined);

  const limited = (
    context: AuthorizeContext<AppService>,
    limiter: RateLimiter | undefined,
    key: string,
    path: string,
    then: () => MaybePromise<Decision>,
    refuse: (r: RateLimitResult) => Decision = rateLimitedDecision,
  ): MaybePromise<Decision> => {
    if (limiter === undefined || limiter.rules.length === 0) return then();
    const finish = (r: RateLimitResult): MaybePromise<Decision> => {
      metrics.rateLimit.inc({ service: context.service.name, result: r.allowed ? 'allowed' : 'denied' });
      if (r.allowed) return then();
      setOutcome(context, r.storeError === true ? 'unavailable' : 'rate_limited');
      return refuse(r);
    };
    const result = limiter.check(key, path);
    return isPromise(result) ? result.then(finish) : finish(result);
  };

  const pass = (context: AuthorizeContext<AppService>, reason: PassReason, path: string): MaybePromise<Decision> => {
    const limiter = context.service.limiter;
    // Without rate-limit rules there is no key to compute (masking the client IP
    // was ~1 % of an auth-off request's CPU) and no closure to allocate.
    if (limiter === undefined || limiter.rules.length === 0) {
      setOutcome(context, 'forwarded');
      return PASSED[reason];
    }
    return limited(context, limiter, ipRateLimitKey(context.request.remoteAddress), path, () => {
      setOutcome(context, 'forwarded');
      return PASSED[reason];
    });
  };

  const challenge = async (
    context: AuthorizeContext<AppService>,
    verified: Extract<VerifyResult, { ok: false }>,
    refusal: Refusal | undefined,
    target: VerifyTarget,
    path: string,
  ): Promise<Decision> => {
    const { service, request } = context;
    const config = service.config;
    if (anyMatch(config.authSkipInvoiceCreationPaths, path)) {
      setOutcome(context, 'rejected');
      return unauthorizedDecision(verified.code, refusal);
    }
    const ipKey = ipRateLimitKey(request.remoteAddress);
    // Minting costs an invoice and dynamic pricing a pricer call: limit both per masked IP before
    // either happens. A request the pricer then lets through (price 0) has passed the service limit here.
    const gate = await limited(context, options.challengeLimiter, ipKey, path, () => ({ kind: 'allow', reason: 'free' }));
    if (gate.kind !== 'allow') return gate;
    // Many networks, each within its own limit, may not mint without bound together. Checked
    // after the per-network limit, so that a network over its own limit spends none of it.
    const globalGate = await limited(context, options.globalChallengeLimiter, GLOBAL_CHALLENGE_KEY, path, () => ({ kind: 'allow', reason: 'free' }), globalLimitDecision);
    if (globalGate.kind !== 'allow') return globalGate;
    const serviceGate = await limited(context, service.limiter, ipKey, path, () => ({ kind: 'allow', reason: 'free' }));
    if (serviceGate.kind !== 'allow') return serviceGate;
    let price: number;
    if (service.pricer !== undefined) {
      try {
        // The bytes read here are forwarded first if the request passes (price 0); the rest is streamed.
        const prefix = await readBodyPrefix(context.raw, MAX_PRICER_BODY_BYTES, options.pricerBodyTimeoutMs);
        price = await service.pricer.getPrice(path, pricerRequestText(context, prefix.bytes));
      } catch (error) {
        onError(error instanceof L402Error ? error : new L402Error('L402_ERR_PRICER_UNAVAILABLE', String(error), { status: 503, cause: error }), service.name);
        setOutcome(context, 'unavailable');
        return unavailable(error, 'L402_ERR_PRICER_UNAVAILABLE');
      }
      if (price === 0) {
        setOutcome(context, 'forwarded');
        return { kind: 'allow', reason: 'free' };
      }
    } else {
      price = config.price;
    }

    const caveats = serviceCaveats(service.name, config, clock.now());

    let minted;
    try {
      if (options.minter === undefined) throw new L402Error('L402_ERR_LN_UNAVAILABLE', 'no Lightning backend is configured', { status: 503 });
      // A dynamically priced token opens the resource it was priced for (target.resource), as the reference's.
      minted = await options.minter.mint({ services: [{ name: target.resource ?? service.name, tier: 0 }], priceSats: price, caveats, memo: `aperture: ${service.name}` });
    } catch (error) {
      if (error instanceof L402Error) onError(error, service.name);
      setOutcome(context, 'unavailable');
      return unavailable(error, 'L402_ERR_LN_UNAVAILABLE');
    }
    try {
      await options.store.recordChallenge({
        tokenId: minted.tokenId,
        paymentHash: minted.paymentHash,
        service: service.name,
        priceSats: price,
        authType: 'l402',
        createdAt: clock.now(),
        expiresAt: minted.invoice.expiresAt,
      });
    } catch (error) {
      if (error instanceof L402Error) onError(error, service.name);
      setOutcome(context, 'unavailable');
      return unavailable(error, 'L402_ERR_STORE_UNAVAILABLE');
    }
    options.onChallenge?.(minted.paymentHash, service.name);
    metrics.challenges.inc({ service: service.name });
    setOutcome(context, 'challenged');
    return challengeDecision(minted, verified.code, price, options.challengeForm, refusal);
  };

  const forwardPaid = (context: AuthorizeContext<AppService>, token: VerifiedToken): Decision => {
    setOutcome(context, 'forwarded');
    return { kind: 'allow', reason: 'paid', token };
  };

  const afterVerify = (context: AuthorizeContext<AppService>, verified: VerifyResult, target: VerifyTarget, path: string): MaybePromise<Decision> => {
    const { service } = context;
    if (verified.ok) {
      const limiter = service.limiter;
      // As in `pass`: without rules, no key string and no closure per paid request.
      if (limiter === undefined || limiter.rules.length === 0) return forwardPaid(context, verified.token);
      return limited(context, limiter, tokenRateLimitKey(verified.token.tokenId), path, () => forwardPaid(context, verified.token));
    }
    const refusal = refusalOf(verified);
    if (refusal !== undefined) {
      metrics.refusals.inc({ service: service.name, reason: refusal.reason });
      onRefusal(refusal, service.name);
    }
    const freebies = service.freebies;
    if (freebies !== undefined) {
      const use = (free: boolean): MaybePromise<Decision> => (free ? pass(context, 'freebie', path) : challenge(context, verified, refusal, target, path));
      const granted = freebies.tryUse(context.request.remoteAddress);
      return isPromise(granted) ? granted.then(use) : use(granted);
    }
    return challenge(context, verified, refusal, target, path);
  };

  return (context) => {
    const { service, request } = context;
    const path = pathOnly(request.path);
    const config = service.config;
    if (options.authDisabled || config.auth.mode === 'off') return pass(context, 'auth-off', path);
    if (anyMatch(config.authWhitelistPaths, path)) return pass(context, 'whitelist', path);
    // A dynamically priced token opens only the resource it was priced for: `<service><path>`, as the reference's.
    const target: VerifyTarget = config.dynamicPrice.enabled ? { service: service.name, resource: resourceName(service.name, path) } : { service: service.name };
    let verified: MaybePromise<VerifyResult>;
    try {
      verified = verifier.verify(request as RequestView, target);
    } catch (error) {
      setOutcome(context, 'unavailable');
      return unavailable(error, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE');
    }
    if (isPromise(verified)) {
      return verified.then(
        (v) => afterVerify(context, v, target, path),
        (error: unknown) => {
          setOutcome(context, 'unavailable');
          return unavailable(error, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE');
        },
      );
    }
    return afterVerify(context, verified, target, path);
  };
}
