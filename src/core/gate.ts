/**
 * The whole per-request L402 decision, shared by every adapter and the proxy:
 * verify the credential, or price the route, mint a token and answer with a
 * challenge.
 */
import { L402Error } from './errors.js';
import { isPromise } from './is-promise.js';
import { resourceName, serviceCaveats } from './caveats.js';
import type { ChallengeForm } from './challenge.js';
import { challengeDecision, unauthorizedDecision } from './challenge-decision.js';
import type { Minter } from './minter.js';
import { refusalOf, type Refusal } from './refusal.js';
import { rejectDecision as reject } from './reject-decision.js';
import type { Verifier, VerifyResult, VerifyTarget } from './verifier.js';
import { systemClock } from './types.js';
import type { Clock, Decision, MaybePromise, RequestView } from './types.js';

/** How one route is protected. */
export interface RouteOptions {
  /** Service name, used in the `services` caveat and checked on verification. */
  service: string;
  /** Price in satoshis, or a function of the request; 0 lets the request through as `free`. */
  priceSats: number | ((request: RequestView) => MaybePromise<number>);
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

/** Options of {@link Gate}. */
export interface GateOptions {
  /** Mints challenge tokens. */
  minter: Minter;
  /** Verifies credentials. */
  verifier: Verifier;
  /** Challenge form, default `reference`. */
  challengeForm?: ChallengeForm;
  /** Clock for `_valid_until` caveats. */
  clock?: Clock;
  /**
   * Told about every refused credential (not about requests without one), for
   * logs and metrics: the reason, the code, the token ID when known, and the
   * verifier's text, which never contains a secret. Its errors are ignored.
   */
  onRefusal?: (refusal: Refusal, request: RequestView, route: RouteOptions) => void;
}

/**
 * Decides each request: `allow` (paid or free), `challenge` (402 with a fresh
 * token and invoice) or `reject` (401 for skip-invoice routes, 503 when the
 * Lightning backend fails). Like the reference proxy, any bad credential is
 * answered with a fresh 402; the decision's `code` says what was wrong, and
 * for a refused credential the answer says it too (`error="<reason>"` on the
 * challenge lines, the code in the body; see `refusalOf`).
 *
 * @example
 * ```ts
 * const gate = new Gate({ minter, verifier });
 * const decision = await gate.decide(request, { service: 'api', priceSats: 10 });
 * ```
 */
export class Gate {
  private readonly minter: Minter;
  private readonly verifier: Verifier;
  private readonly form: ChallengeForm;
  private readonly clock: Clock;
  private readonly onRefusal: GateOptions['onRefusal'];

  /** @param options - minter, verifier, challenge form, clock, refusal hook */
  constructor(options: GateOptions) {
    this.minter = options.minter;
    this.verifier = options.verifier;
    this.form = options.challengeForm ?? 'reference';
    this.clock = options.clock ?? systemClock;
    this.onRefusal = options.onRefusal;
  }

  /**
   * Decides one request.
   * @param request - the request view
   * @param route - how the route is protected
   * @returns the decision; never rejects for bad credentials or backend failures
   * @throws L402Error `L402_ERR_TOKEN_BAD_CAVEAT` when the route's service, capabilities or
   *   timeout cannot form caveats (a configuration error)
   */
  async decide(request: RequestView, route: RouteOptions): Promise<Decision> {
    const target: VerifyTarget = route.requiredCapability === undefined
      ? { service: route.service }
      : { service: route.service, capability: route.requiredCapability };
    const scope = route.scope ?? (typeof route.priceSats === 'function' ? 'path' : 'service');
    if (scope === 'path') target.resource = resourceName(route.service, request.path);
    let verified: VerifyResult;
    try {
      const v = this.verifier.verify(request, target);
      verified = isPromise(v) ? await v : v;
    } catch (err) {
      return reject(503, 'service unavailable\n', err instanceof L402Error ? err.code : 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE');
    }
    if (verified.ok) return { kind: 'allow', reason: 'paid', token: verified.token };
    const refusal = refusalOf(verified);
    if (refusal !== undefined && this.onRefusal !== undefined) {
      try {
        this.onRefusal(refusal, request, route);
      } catch {
        // A logging hook must not change the answer.
      }
    }
    if (route.skipInvoiceCreation === true) return unauthorizedDecision(verified.code, refusal);

    let price: number;
    try {
      const p = typeof route.priceSats === 'function' ? route.priceSats(request) : route.priceSats;
      price = isPromise(p) ? await p : p;
    } catch (err) {
      return reject(503, 'service unavailable\n', err instanceof L402Error ? err.code : 'L402_ERR_GATE_PRICE_UNAVAILABLE');
    }
    if (price === 0) return { kind: 'allow', reason: 'free' };
    if (!Number.isSafeInteger(price) || price < 0) return reject(503, 'service unavailable\n', 'L402_ERR_GATE_PRICE_UNAVAILABLE');

    const caveats = serviceCaveats(route.service, route, this.clock.now());
    if (route.caveats !== undefined) caveats.push(...route.caveats);

    let minted;
    try {
      const options: Parameters<Minter['mint']>[0] = {
        services: [{ name: target.resource ?? route.service, tier: route.tier ?? 0 }],
        priceSats: price,
        caveats,
      };
      if (route.memo !== undefined) options.memo = route.memo;
      if (route.invoiceExpirySeconds !== undefined) options.invoiceExpirySeconds = route.invoiceExpirySeconds;
      minted = await this.minter.mint(options);
    } catch (err) {
      if (err instanceof L402Error && err.code === 'L402_ERR_TOKEN_BAD_CAVEAT') throw err;
      return reject(503, 'service unavailable\n', err instanceof L402Error ? err.code : 'L402_ERR_LN_UNAVAILABLE');
    }
    return challengeDecision(minted, verified.code, price, this.form, refusal);
  }
}
