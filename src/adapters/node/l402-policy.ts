/**
 * Options normalisation shared by every adapter: builds the Gate once, then per
 * request applies free paths and route refinements and asks the Gate.
 */
import { ConfigError, L402Error } from '../../core/errors.js';
import type { ConfigIssue } from '../../core/errors.js';
import { equalitySatisfiers } from '../../core/caveats.js';
import { Gate } from '../../core/gate.js';
import type { RouteOptions } from '../../core/gate.js';
import { Minter } from '../../core/minter.js';
import type { Decision, RequestView } from '../../core/types.js';
import { Verifier } from '../../core/verifier.js';
import type { L402FreePaths, L402MiddlewareOptions, L402RouteSettings } from './l402-middleware-options.js';

/** Option keys that are not route settings; everything else is handed to the Gate as the route. */
const NON_ROUTE_KEYS = new Set(['gate', 'minter', 'verifier', 'invoicer', 'secrets', 'clock', 'challengeForm', 'route', 'freePaths']);

/**
 * What an adapter asks per request. Built once per middleware from
 * {@link L402MiddlewareOptions}; framework-free.
 */
export class L402Policy {
  /** The Gate every decision comes from. */
  readonly gate: Gate;
  readonly #base: L402RouteSettings;
  readonly #route: L402MiddlewareOptions['route'];
  readonly #isFree: (request: RequestView) => boolean;

  /**
   * @param options - the adapter's options
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` listing every problem: no or
   *   ambiguous Gate source, a route without service or price and no `route`
   *   function to supply them, a bad price or free-path list.
   */
  constructor(options: L402MiddlewareOptions) {
    const issues: ConfigIssue[] = [];
    const gate = buildGate(options, issues);
    const base: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) {
      if (!NON_ROUTE_KEYS.has(key) && value !== undefined) base[key] = value;
    }
    this.#base = base as L402RouteSettings;
    this.#route = options.route;
    if (options.route !== undefined && typeof options.route !== 'function') {
      issues.push({ path: 'route', message: 'must be a function of the request' });
    }
    if (options.route === undefined) {
      if (typeof options.service !== 'string' || options.service === '') {
        issues.push({ path: 'service', message: 'required (or give a `route` function that supplies it)' });
      }
      if (options.priceSats === undefined) {
        issues.push({ path: 'priceSats', message: 'required (or give a `route` function that supplies it)' });
      }
    }
    const price = options.priceSats;
    if (price !== undefined && typeof price !== 'function' && !(Number.isSafeInteger(price) && price >= 0)) {
      issues.push({ path: 'priceSats', message: 'must be a non-negative integer number of satoshis or a function of the request' });
    }
    this.#isFree = freePredicate(options.freePaths, issues);
    if (issues.length > 0 || gate === undefined) throw new ConfigError(issues);
    this.gate = gate;
  }

  /**
   * The decision for one request: `allow` with reason `whitelist` for a free
   * path (or a `route` answering `false`), otherwise the Gate's decision.
   * @param request - the request view
   * @param override - settings of this one route from the framework (e.g. a
   *   Fastify route's `config.l402`), merged last; `false` lets it through
   * @returns the decision to write out
   * @throws L402Error `L402_ERR_ADAPTER_ROUTE_INCOMPLETE` when the merged route
   *   settings lack a service or a price; whatever the Gate throws for
   *   infrastructure faults.
   */
  async decide(request: RequestView, override?: L402RouteSettings | false): Promise<Decision> {
    if (override === false || this.#isFree(request)) return { kind: 'allow', reason: 'whitelist' };
    let settings: L402RouteSettings = this.#base;
    if (this.#route !== undefined) {
      const refined = await this.#route(request);
      if (refined === false) return { kind: 'allow', reason: 'whitelist' };
      if (refined !== undefined) settings = { ...settings, ...stripUndefined(refined) };
    }
    if (override !== undefined) settings = { ...settings, ...stripUndefined(override) };
    if (typeof settings.service !== 'string' || settings.service === '' || settings.priceSats === undefined) {
      throw new L402Error(
        'L402_ERR_ADAPTER_ROUTE_INCOMPLETE',
        `no service or price for ${request.method} ${request.path}: set them in the options or return them from \`route\``,
        { status: 500 },
      );
    }
    return this.gate.decide(request, settings as RouteOptions);
  }
}

function stripUndefined(settings: L402RouteSettings): L402RouteSettings {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) if (value !== undefined) out[key] = value;
  return out as L402RouteSettings;
}

function buildGate(options: L402MiddlewareOptions, issues: ConfigIssue[]): Gate | undefined {
  const forms = [
    options.gate !== undefined,
    options.minter !== undefined || options.verifier !== undefined,
    options.invoicer !== undefined || options.secrets !== undefined,
  ].filter(Boolean).length;
  const extra = { ...(options.clock === undefined ? {} : { clock: options.clock }) };
  const form = { ...(options.challengeForm === undefined ? {} : { challengeForm: options.challengeForm }) };
  if (forms !== 1) {
    issues.push({
      path: 'gate',
      message:
        forms === 0
          ? 'give one of: `gate`, `minter` + `verifier`, or `invoicer` + `secrets`'
          : 'give only one of: `gate`, `minter` + `verifier`, or `invoicer` + `secrets`',
    });
  } else if (options.gate !== undefined) {
    return options.gate;
  } else if (options.minter !== undefined && options.verifier !== undefined) {
    return new Gate({ minter: options.minter, verifier: options.verifier, ...form, ...extra });
  } else if (options.invoicer !== undefined && options.secrets !== undefined) {
    const minter = new Minter({ invoicer: options.invoicer, secrets: options.secrets, ...extra });
    // Constraints are fixed values: a token may not repeat one with another value. Keys known
    // here (the static `constraints`) get that check; a `route` function's keys are not known in advance.
    const keys = options.constraints === undefined ? [] : Object.keys(options.constraints);
    const verifier = new Verifier({
      secrets: options.secrets,
      ...extra,
      ...(keys.length === 0 ? {} : { satisfiers: equalitySatisfiers(keys) }),
    });
    return new Gate({ minter, verifier, ...form, ...extra });
  } else {
    issues.push({
      path:
        options.minter === undefined && options.verifier !== undefined
          ? 'minter'
          : options.verifier === undefined && options.minter !== undefined
            ? 'verifier'
            : options.invoicer === undefined
              ? 'invoicer'
              : 'secrets',
      message: 'required together with its pair (`minter` + `verifier`, `invoicer` + `secrets`)',
    });
  }
  return undefined;
}

function freePredicate(freePaths: L402FreePaths | undefined, issues: ConfigIssue[]): (request: RequestView) => boolean {
  if (freePaths === undefined) return () => false;
  if (typeof freePaths === 'function') return freePaths;
  if (!Array.isArray(freePaths) || !freePaths.every((p) => p instanceof RegExp)) {
    issues.push({ path: 'freePaths', message: 'must be an array of RegExp or a predicate of the request' });
    return () => false;
  }
  const patterns = freePaths.map((p) => (p.global || p.sticky ? new RegExp(p.source, p.flags.replace(/[gy]/g, '')) : p));
  return (request) => patterns.some((p) => p.test(request.path));
}
