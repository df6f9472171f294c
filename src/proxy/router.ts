/**
 * First-match service routing on Host then path, with a table that can be
 * swapped atomically while requests are in flight.
 */
import { L402Error } from '../core/errors.js';
import { GoRegexp } from '../core/go-regexp.js';
import type { ProxyService } from './proxy-service.js';

/** What a route tests a Host or path with. */
interface Matcher {
  test(input: string): boolean;
}

interface CompiledRoute<S> {
  readonly service: S;
  readonly host: Matcher;
  readonly path: Matcher | undefined;
}

function compile(source: string | RegExp | GoRegexp, what: string, name: string): Matcher {
  if (source instanceof GoRegexp) return source;
  if (source instanceof RegExp) {
    // A global or sticky regexp keeps `lastIndex` between calls and would match every other time.
    return source.global || source.sticky ? new RegExp(source.source, source.flags.replace(/[gy]/g, '')) : source;
  }
  try {
    return new GoRegexp(source);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new L402Error('L402_ERR_PROXY_BAD_REGEXP', `service ${name}: invalid ${what}: ${reason}`, { cause });
  }
}

function compileAll<S extends ProxyService>(services: readonly S[]): readonly CompiledRoute<S>[] {
  return Object.freeze(
    services.map((service) => ({
      service,
      host: compile(service.hostRegexp, 'hostRegexp', service.name),
      path:
        service.pathRegexp === undefined || service.pathRegexp === '' ? undefined : compile(service.pathRegexp, 'pathRegexp', service.name),
    })),
  );
}

/**
 * Matches requests to services: the first service whose `hostRegexp` matches
 * the Host (port included; `:authority` for HTTP/2) and whose optional
 * `pathRegexp` matches the path wins.
 *
 * Expressions given as strings are Go (RE2) syntax, compiled with
 * {@link GoRegexp}: matching is linear in the Host or path, so no request
 * can make routing backtrack. A `RegExp` object is used as given (its
 * `g`/`y` flags dropped): its author answers for its run time.
 *
 * Regular expressions are compiled once per table. {@link Router.replace}
 * swaps the whole table in one assignment: a request that already matched
 * keeps the service object it got, so nothing in flight is dropped.
 *
 * @typeParam S - the service type; extra fields travel through to the caller
 * @example
 * ```ts
 * const router = new Router([{ name: 'api', hostRegexp: '^api\\.', address: '127.0.0.1:8080' }]);
 * router.match('api.example.com', '/v1/x')?.name; // 'api'
 * ```
 */
export class Router<S extends ProxyService = ProxyService> {
  #routes: readonly CompiledRoute<S>[];

  /**
   * @param services - services in priority order
   * @throws L402Error `L402_ERR_PROXY_BAD_REGEXP` when a regular expression does not compile (Go syntax and limits)
   */
  constructor(services: readonly S[] = []) {
    this.#routes = compileAll(services);
  }

  /**
   * Finds the first matching service.
   * @param host - Host header or `:authority`, port included
   * @param path - the canonical path without the query (the proxy passes `canonicalTarget(...).path`)
   * @returns the matched service, or `undefined`
   */
  match(host: string, path: string): S | undefined {
    const routes = this.#routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i] as CompiledRoute<S>;
      if (route.host.test(host) && (route.path === undefined || route.path.test(path))) return route.service;
    }
    return undefined;
  }

  /**
   * Replaces the whole table atomically. Everything is compiled before the
   * swap, so a bad table leaves the old one in place.
   * @param services - the new services in priority order
   * @throws L402Error `L402_ERR_PROXY_BAD_REGEXP` when a regular expression does not compile
   */
  replace(services: readonly S[]): void {
    this.#routes = compileAll(services);
  }

  /** The services of the current table, in priority order. */
  services(): S[] {
    return this.#routes.map((r) => r.service);
  }
}
