/**
 * Prometheus metrics of the proxy (the `prometheus` section of the config).
 *
 * One registry per proxy instance, so that several proxies in one process (tests,
 * embedding) never share or double-register metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What happened to a request, as a bounded set of label values. */
export type RequestOutcome =
  | 'forwarded'
  | 'challenged'
  | 'rejected'
  | 'rate_limited'
  | 'blocked'
  | 'not_found'
  | 'upstream_error'
  | 'unavailable';

/** The proxy's metrics, registered on their own registry. */
export class ProxyMetrics {
  /** The registry to expose on `/metrics`. */
  readonly registry = new Registry();
  /** Requests by service and outcome. */
  readonly requests: Counter<'service' | 'outcome'>;
  /** 402 challenges issued (fresh invoices), by service. */
  readonly challenges: Counter<'service'>;
  /** Invoices of challenges that were paid (settled), by service. */
  readonly tokensPaid: Counter<'service'>;
  /** Time from the first byte of a request to the response headers, by service and outcome. */
  readonly latency: Histogram<'service' | 'outcome'>;
  /** Upstream failures by service and kind (unreachable, timeout, tls, reset). */
  readonly upstreamErrors: Counter<'service' | 'kind'>;
  /** 1 when the Lightning backend can create invoices, else 0. */
  readonly lightningUp: Gauge;
  /** Rate-limit decisions by service and result (allowed, denied). */
  readonly rateLimit: Counter<'service' | 'result'>;

  /** @param options - `defaultMetrics` adds Node process metrics (memory, event loop lag). */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'aperture_requests_total',
      help: 'Requests by service and outcome.',
      labelNames: ['service', 'outcome'] as const,
      registers,
    });
    this.challenges = new Counter({
      name: 'aperture_challenges_total',
      help: 'Payment challenges issued, each with a fresh invoice.',
      labelNames: ['service'] as const,
      registers,
    });
    this.tokensPaid = new Counter({
      name: 'aperture_tokens_paid_total',
      help: 'Challenge invoices that were paid.',
      labelNames: ['service'] as const,
      registers,
    });
    this.latency = new Histogram({
      name: 'aperture_request_duration_seconds',
      help: 'Time until the response headers were sent.',
      labelNames: ['service', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'aperture_upstream_errors_total',
      help: 'Failures reaching or reading from a backend.',
      labelNames: ['service', 'kind'] as const,
      registers,
    });
    this.lightningUp = new Gauge({
      name: 'aperture_lightning_up',
      help: '1 when the Lightning backend can create invoices.',
      registers,
    });
    this.rateLimit = new Counter({
      name: 'aperture_rate_limit_total',
      help: 'Rate-limit decisions.',
      labelNames: ['service', 'result'] as const,
      registers,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'aperture_' });
  }

  /** The text exposition format, for a `/metrics` response. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
