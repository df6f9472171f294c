/**
 * The per-service options the proxy forwards by. The configuration loader
 * produces these from YAML; embedders may build them by hand.
 */
import type { GoRegexp } from '../core/go-regexp.js';

/** One backend service behind the proxy, matched first-come by host and path. */
export interface ProxyService {
  /** Service name, used in logs, errors and by the authorization hook. */
  readonly name: string;
  /**
   * Regular expression matched (unanchored, like Go's `MatchString`) against the Host, port included:
   * Go (RE2) syntax when a string or a {@link GoRegexp} (linear-time matching); a `RegExp` runs as given.
   */
  readonly hostRegexp: string | GoRegexp | RegExp;
  /** Optional regular expression matched (unanchored) against the path, typed as `hostRegexp`. */
  readonly pathRegexp?: string | GoRegexp | RegExp | undefined;
  /** Backend address, `host:port`. Also sent as the backend's `Host`. */
  readonly address: string;
  /** Scheme towards the backend; `http` by default. */
  readonly protocol?: 'http' | 'https' | undefined;
  /** CA or certificate file (PEM) the backend's TLS certificate must chain to; system roots when absent. */
  readonly tlsCertPath?: string | undefined;
  /** Accept any backend certificate. Off by default: backends are verified. */
  readonly tlsInsecureSkipVerify?: boolean | undefined;
  /** Headers set on every upstream request, values already resolved (no `${ENV}` or `!file` left). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Prepended to the request path before forwarding, e.g. `/api`. */
  readonly rewritePrefix?: string | undefined;
  /**
   * Longest wait, in ms, from sending a request until the backend's response
   * head (REST, WebSocket upgrade), then 504 `L402_ERR_UPSTREAM_TIMEOUT`;
   * `0` = no limit. The proxy's `timeouts.headersMs` when absent. gRPC calls
   * are bounded by their own deadline instead.
   */
  readonly upstreamTimeoutMs?: number | undefined;
}
