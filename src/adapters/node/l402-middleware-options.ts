/**
 * The one options type every framework adapter accepts.
 *
 * An adapter needs a {@link Gate} and the settings of the route it guards. The
 * Gate is given whole, or built from a Minter and a Verifier, or from a Lightning
 * backend (`invoicer`) and a secret store. Route settings are static, may be
 * refined per request with `route`, and `freePaths` let some requests through
 * without a token.
 */
import type { ChallengeForm } from '../../core/challenge.js';
import type { Gate, RouteOptions } from '../../core/gate.js';
import type { Minter } from '../../core/minter.js';
import type { Clock, Invoicer, MaybePromise, RequestView, SecretStore } from '../../core/types.js';
import type { Verifier } from '../../core/verifier.js';

/** Where the adapter's {@link Gate} comes from: exactly one of the three forms. */
export interface L402GateSource {
  /** A ready Gate; shared between adapters and the proxy if you like. */
  gate?: Gate;
  /** With `verifier`: the Gate is built from these two. */
  minter?: Minter;
  /** With `minter`: the Gate is built from these two. */
  verifier?: Verifier;
  /** With `secrets`: the Lightning backend that creates invoices; a Minter and a Verifier are built on it. */
  invoicer?: Invoicer;
  /** With `invoicer`: where each token's root key is kept. */
  secrets?: SecretStore;
  /** Clock of a Gate built here (tests inject one); the system clock otherwise. */
  clock?: Clock;
  /** Challenge form of a Gate built here: `reference` (two lines, LSAT then L402, the default) or `spec`. */
  challengeForm?: ChallengeForm;
}

/**
 * Settings of a guarded route: what the token must allow and what a fresh one
 * is minted with. The same fields as the core's `RouteOptions`, all optional here
 * so that `route` can supply them per request.
 */
export type L402RouteSettings = Partial<RouteOptions>;

/** Requests that pass without a token: path regexps (tested on path and query) or a predicate. */
export type L402FreePaths = readonly RegExp[] | ((request: RequestView) => boolean);

/**
 * Options of every adapter (`expressL402`, `koaL402`, `nodeL402`, `fastifyL402`,
 * `honoL402`, `grpcL402Interceptor`).
 *
 * @example
 * ```ts
 * expressL402({ invoicer, secrets, service: 'quotes', priceSats: 10, timeoutSeconds: 3600 })
 * ```
 */
export interface L402MiddlewareOptions extends L402GateSource, L402RouteSettings {
  /**
   * Per-request refinement of the route settings, merged over the static ones,
   * e.g. a service and price chosen by path. `false` lets the request through
   * without a token, like `freePaths`.
   */
  route?: (request: RequestView) => MaybePromise<L402RouteSettings | false | undefined>;
  /** Requests that pass without a token; the handler then sees no token. */
  freePaths?: L402FreePaths;
}
