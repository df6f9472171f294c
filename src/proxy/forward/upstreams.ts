/**
 * Connections to backends: one undici `Pool` per origin for REST, bounded in
 * connections and in requests waiting for one, and one `ClientHttp2Session`
 * per origin for gRPC (undici does not speak h2c), both with the backend's
 * TLS verified unless the service opts out.
 */
import { readFileSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { Pool } from 'undici';
import { UpstreamError } from '../../core/errors.js';
import type { ProxyService } from '../proxy-service.js';

/** Timeouts towards backends, in milliseconds. */
export interface UpstreamTimeouts {
  /** Establishing the TCP (and TLS) connection. Default 10 s. */
  connectMs?: number;
  /** From sending the request until the response head arrives (REST). Default 60 s. */
  headersMs?: number;
  /** Longest silence between two body chunks of a response (REST). Default 300 s. */
  bodyIdleMs?: number;
  /** Longest silence, in both directions, of an established WebSocket tunnel; `0` = no limit. Default 120 s. */
  websocketIdleMs?: number;
}

/** Resolved timeouts. */
export interface ResolvedTimeouts {
  connectMs: number;
  headersMs: number;
  bodyIdleMs: number;
  websocketIdleMs: number;
}

/** Most connections to one REST backend origin by default. */
export const DEFAULT_UPSTREAM_CONNECTIONS = 256;
/** Most requests waiting for a connection to one REST backend origin by default. */
export const DEFAULT_UPSTREAM_QUEUE = 1024;

/** Bounds of each REST backend origin's pool. */
export interface UpstreamLimits {
  /** Most open connections; 0 = no limit. Default {@link DEFAULT_UPSTREAM_CONNECTIONS}. */
  connections?: number | undefined;
  /** Most requests waiting for a free connection, beyond which requests get 503; 0 = no limit. Default {@link DEFAULT_UPSTREAM_QUEUE}. */
  queue?: number | undefined;
}

/**
 * An undici `Pool` that counts the requests it holds (sent or waiting for a
 * connection), so that the proxy can refuse one more when the wait list is
 * full instead of letting it grow without bound.
 */
export class UpstreamPool extends Pool {
  /** Requests dispatched and not yet finished (see `forwardHttp`). */
  inFlight = 0;
  /** Connections plus wait-list places: a request arriving when `inFlight` has reached this is refused. */
  readonly capacity: number;
  /** The connection limit (0 = none), for messages. */
  readonly connections: number;

  /**
   * @param origin - `http(s)://host:port`
   * @param options - undici's pool options; `connections` is set from `limits`
   * @param limits - connections and wait list (0 = no limit)
   */
  constructor(origin: string, options: Pool.Options, limits: { connections: number; queue: number }) {
    super(origin, limits.connections > 0 ? { ...options, connections: limits.connections } : options);
    this.connections = limits.connections;
    this.capacity = limits.connections > 0 && limits.queue > 0 ? limits.connections + limits.queue : Infinity;
  }
}

/** Fills in the defaults. */
export function resolveTimeouts(t: UpstreamTimeouts | undefined): ResolvedTimeouts {
  return {
    connectMs: t?.connectMs ?? 10_000,
    headersMs: t?.headersMs ?? 60_000,
    bodyIdleMs: t?.bodyIdleMs ?? 300_000,
    websocketIdleMs: t?.websocketIdleMs ?? 120_000,
  };
}

/** The key of an upstream: everything that makes two connections interchangeable. */
export function upstreamKey(service: ProxyService): string {
  return `${service.protocol ?? 'http'}://${service.address}|${service.tlsCertPath ?? ''}|${service.tlsInsecureSkipVerify === true ? 1 : 0}`;
}

function hostOf(address: string): string {
  const bracket = /^\[([^\]]+)\]/.exec(address);
  if (bracket?.[1] !== undefined) return bracket[1];
  const colon = address.lastIndexOf(':');
  return colon > 0 && address.indexOf(':') === colon ? address.slice(0, colon) : address;
}

/**
 * The CA certificates a backend's TLS is verified against: the default roots
 * of this Node (`tls.getCACertificates('default')` where it exists, else
 * `tls.rootCertificates` plus the file named by `NODE_EXTRA_CA_CERTS`) and,
 * when given, every certificate in `tlsCertPath`. Node's `ca` option replaces
 * the default roots, so they are listed here explicitly.
 *
 * @param tlsCertPath - the service's `tlscertpath` (PEM, one or more certificates), or undefined
 * @param serviceName - for the error message
 * @returns PEM certificates, the default roots first
 * @throws UpstreamError `L402_ERR_UPSTREAM_TLS` when the file cannot be read
 * @internal
 */
export function backendCaCertificates(tlsCertPath: string | undefined, serviceName = ''): string[] {
  const out = [...defaultRoots()];
  if (tlsCertPath !== undefined && tlsCertPath !== '') {
    try {
      out.push(readFileSync(tlsCertPath, 'utf8'));
    } catch (cause) {
      throw new UpstreamError('L402_ERR_UPSTREAM_TLS', `service ${serviceName}: cannot read tlsCertPath ${tlsCertPath}`, { cause });
    }
  }
  return out;
}

let roots: readonly string[] | undefined;

function defaultRoots(): readonly string[] {
  if (roots !== undefined) return roots;
  const get = (tls as { getCACertificates?: (kind: 'default') => string[] }).getCACertificates;
  if (typeof get === 'function') {
    roots = get('default');
    return roots;
  }
  // Node before 22.15: what a context without `ca` trusts is the bundled roots plus NODE_EXTRA_CA_CERTS.
  const extra: string[] = [];
  const file = process.env['NODE_EXTRA_CA_CERTS'];
  if (file !== undefined && file !== '') {
    try {
      extra.push(readFileSync(file, 'utf8'));
    } catch {
      // Node itself only warns about an unreadable file at start-up; its roots stay in force.
    }
  }
  roots = [...tls.rootCertificates, ...extra];
  return roots;
}

// Secure contexts by CA file content: building one parses every root (tens of ms), so
// pools and reconnecting gRPC sessions share it; a changed file makes a new one.
const contexts = new Map<string, tls.SecureContext>();

/**
 * TLS options for a backend: verification on unless opted out, against the
 * default roots and, when set, the service's CA file (in addition, as the docs
 * say).
 */
function tlsOptions(service: ProxyService): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: service.tlsInsecureSkipVerify !== true };
  const host = hostOf(service.address);
  if (isIP(host) === 0) options.servername = host;
  if (service.tlsCertPath !== undefined && service.tlsCertPath !== '') {
    const ca = backendCaCertificates(service.tlsCertPath, service.name);
    const own = ca[ca.length - 1] as string;
    let context = contexts.get(own);
    if (context === undefined) {
      if (contexts.size >= 64) contexts.clear();
      context = tls.createSecureContext({ ca });
      contexts.set(own, context);
    }
    options.secureContext = context;
  }
  return options;
}

/**
 * The proxy's connections to backends, shared by every request to the same
 * origin and TLS settings.
 */
export class Upstreams {
  readonly #pools = new Map<string, UpstreamPool>();
  /** The pool each service object last used, checked against `#pools` (a retired pool is never reused). */
  readonly #poolOf = new WeakMap<ProxyService, { key: string; pool: UpstreamPool }>();
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #timeouts: ResolvedTimeouts;
  readonly #limits: { connections: number; queue: number };

  /**
   * @param timeouts - resolved timeouts
   * @param limits - connections and wait list per REST origin (defaults 256 and 1024)
   */
  constructor(timeouts: ResolvedTimeouts, limits: UpstreamLimits = {}) {
    this.#timeouts = timeouts;
    this.#limits = {
      connections: limits.connections ?? DEFAULT_UPSTREAM_CONNECTIONS,
      queue: limits.queue ?? DEFAULT_UPSTREAM_QUEUE,
    };
  }

  /**
   * The REST pool of a service's origin, created on first use.
   * @throws UpstreamError `L402_ERR_UPSTREAM_TLS` when the CA file cannot be read
   */
  pool(service: ProxyService): UpstreamPool {
    // Per request: the service object finds its pool without building the key string.
    const known = this.#poolOf.get(service);
    if (known !== undefined && this.#pools.get(known.key) === known.pool) return known.pool;
    const key = upstreamKey(service);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      const https = service.protocol === 'https';
      const options: Pool.Options = {
        // undici's connect options are node:tls options plus `timeout`.
        connect: { timeout: this.#timeouts.connectMs, ...(https ? tlsOptions(service) : {}) } as NonNullable<Pool.Options['connect']>,
        headersTimeout: this.#timeouts.headersMs,
        bodyTimeout: this.#timeouts.bodyIdleMs,
      };
      pool = new UpstreamPool(`${https ? 'https' : 'http'}://${service.address}`, options, this.#limits);
      this.#pools.set(key, pool);
    }
    this.#poolOf.set(service, { key, pool });
    return pool;
  }

  /**
   * The HTTP/2 session of a service's origin for gRPC, reconnected when the
   * previous one closed, failed or received GOAWAY.
   * @throws UpstreamError `L402_ERR_UPSTREAM_TLS` when the CA file cannot be read
   */
  session(service: ProxyService): ClientHttp2Session {
    const key = upstreamKey(service);
    const existing = this.#sessions.get(key);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const https = service.protocol === 'https';
    const session = http2Connect(`${https ? 'https' : 'http'}://${service.address}`, https ? tlsOptions(service) : {});
    const forget = (): void => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    // Errors reach the streams of this session; the session itself must not crash the process.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    const timer = setTimeout(() => {
      const error = new UpstreamError('L402_ERR_UPSTREAM_TIMEOUT', `service ${service.name}: connect timed out`, {
        status: 504,
      });
      session.destroy(error);
    }, this.#timeouts.connectMs);
    timer.unref();
    session.once('connect', () => clearTimeout(timer));
    session.once('close', () => clearTimeout(timer));
    // An idle session must not keep the process alive; streams ref it while active.
    session.unref();
    this.#sessions.set(key, session);
    return session;
  }

  /**
   * Drops connections to origins that none of `services` uses any more, after
   * their in-flight requests complete.
   * @param services - the services still routed to
   */
  retain(services: readonly ProxyService[]): void {
    const keep = new Set(services.map(upstreamKey));
    for (const [key, pool] of this.#pools) {
      if (!keep.has(key)) {
        this.#pools.delete(key);
        pool.close().catch(() => undefined);
      }
    }
    for (const [key, session] of this.#sessions) {
      if (!keep.has(key)) {
        this.#sessions.delete(key);
        session.close();
      }
    }
  }

  /**
   * Closes every connection: gracefully (in-flight requests finish), or at once with `force`.
   * @param force - destroy instead of waiting
   */
  async close(force = false): Promise<void> {
    const pools = [...this.#pools.values()];
    const sessions = [...this.#sessions.values()];
    this.#pools.clear();
    this.#sessions.clear();
    await Promise.all([
      ...pools.map((p) => (force ? p.destroy() : p.close()).catch(() => undefined)),
      ...sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            if (force) s.destroy();
            else s.close();
          }),
      ),
    ]);
  }
}
