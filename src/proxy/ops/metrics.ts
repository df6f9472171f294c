/**
 * Prometheus metrics of the proxy (the `prometheus` section of the config).
 *
 * One registry per proxy instance, so that several proxies in one process (tests,
 * embedding) never share or double-register metrics.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { FreebieStats } from '../../ratelimit/freebie-counter.js';
import type { RateLimiterStats } from '../../ratelimit/rate-limiter.js';
import { RequestSeries } from './request-series.js';

/** Upper bounds of the latency histogram's buckets, in seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What happened to a request, as a bounded set of label values. */
export type RequestOutcome =
  'forwarded' | 'challenged' | 'rejected' | 'rate_limited' | 'blocked' | 'not_found' | 'upstream_error' | 'unavailable';

/** The proxy's metrics, registered on their own registry. */
export class ProxyMetrics {
  /** The registry to expose on `/metrics`. */
  readonly registry = new Registry();
  /**
   * Requests by service and outcome (`aperture_requests_total`) and the time
   * until their response head (`aperture_request_duration_seconds`), fed by
   * the program's request handler.
   * @internal
   */
  readonly requests: RequestSeries;
  /** 402 challenges issued (fresh invoices), by service. */
  readonly challenges: Counter<'service'>;
  /** Invoices of challenges that were paid (settled), by service. */
  readonly tokensPaid: Counter<'service'>;
  /**
   * Refused credentials by service and reason (`aperture_credential_refusals_total`):
   * the reason is one of the core's `REFUSAL_REASONS` (`RefusalReason`), a closed set; requests
   * without a credential are not counted here.
   */
  readonly refusals: Counter<'service' | 'reason'>;
  /** Upstream failures by service and kind (unreachable, timeout, tls, reset). */
  readonly upstreamErrors: Counter<'service' | 'kind'>;
  /** 1 when the Lightning backend can create invoices, else 0. */
  readonly lightningUp: Gauge;
  /**
   * Rate-limit decisions by service and result: `allowed` and `denied` counted
   * by the pipeline, `store_error` (the store failed; answered per
   * `onstoreerror`) read from the tracked limiters at each scrape.
   */
  readonly rateLimit: Counter<'service' | 'result'>;
  /** Clients dropped by a memory rate-limit store to stay within its bound, by service. */
  readonly rateLimitEvictions: Counter<'service'>;
  /** Freebie decisions by service and result (granted, exhausted, store_error). */
  readonly freebies: Counter<'service' | 'result'>;
  /** Networks dropped by a memory freebie counter to stay within its bound, by service. */
  readonly freebieEvictions: Counter<'service'>;
  readonly #limiters: { service: string; source: { stats(): RateLimiterStats }; seen: RateLimiterStats }[] = [];
  readonly #freebieCounters: { service: string; source: { stats(): FreebieStats }; seen: FreebieStats }[] = [];

  /** @param options - `defaultMetrics` adds Node process metrics (memory, event loop lag). */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new RequestSeries(LATENCY_BUCKETS, {
      counter: { name: 'aperture_requests_total', help: 'Requests by service and outcome.' },
      histogram: { name: 'aperture_request_duration_seconds', help: 'Time until the response headers were sent.' },
    });
    this.registry.registerMetric(this.requests.counter as unknown as Metric);
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
    this.refusals = new Counter({
      name: 'aperture_credential_refusals_total',
      help: 'Credentials refused, by service and reason (expired, revoked, bad_preimage, wrong_resource, …).',
      labelNames: ['service', 'reason'] as const,
      registers,
    });
    this.registry.registerMetric(this.requests.histogram as unknown as Metric);
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
      help: 'Rate-limit decisions: allowed, denied, or store_error.',
      labelNames: ['service', 'result'] as const,
      registers,
      collect: () => syncRateLimits(),
    });
    // Counters kept by the rate-limit module are read at scrape time and added as deltas.
    const limiters = this.#limiters;
    const freebieCounters = this.#freebieCounters;
    const syncRateLimits = (): void => {
      for (const entry of limiters) {
        const now = entry.source.stats();
        const errors = now.storeErrors - entry.seen.storeErrors;
        if (errors > 0) this.rateLimit.inc({ service: entry.service, result: 'store_error' }, errors);
        const evicted = now.evictions - entry.seen.evictions;
        if (evicted > 0) this.rateLimitEvictions.inc({ service: entry.service }, evicted);
        entry.seen = now;
      }
    };
    const syncFreebies = (): void => {
      for (const entry of freebieCounters) {
        const now = entry.source.stats();
        for (const result of ['granted', 'exhausted', 'storeErrors'] as const) {
          const delta = now[result] - entry.seen[result];
          if (delta > 0) this.freebies.inc({ service: entry.service, result: result === 'storeErrors' ? 'store_error' : result }, delta);
        }
        const evicted = now.evictions - entry.seen.evictions;
        if (evicted > 0) this.freebieEvictions.inc({ service: entry.service }, evicted);
        entry.seen = now;
      }
    };
    this.rateLimitEvictions = new Counter({
      name: 'aperture_rate_limit_evictions_total',
      help: 'Clients dropped by an in-memory rate-limit store to stay within its bound.',
      labelNames: ['service'] as const,
      registers,
      collect: syncRateLimits,
    });
    this.freebies = new Counter({
      name: 'aperture_freebies_total',
      help: 'Freebie decisions: granted, exhausted, or store_error.',
      labelNames: ['service', 'result'] as const,
      registers,
      collect: syncFreebies,
    });
    this.freebieEvictions = new Counter({
      name: 'aperture_freebie_evictions_total',
      help: 'Networks dropped by an in-memory freebie counter to stay within its bound.',
      labelNames: ['service'] as const,
      registers,
      collect: syncFreebies,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'aperture_' });
  }

  /**
   * Counts one request and its latency.
   * @param service - matched service ('' when none)
   * @param outcome - what it ended as
   * @param seconds - time until its response head
   * @internal
   */
  recordRequest(service: string, outcome: RequestOutcome, seconds: number): void {
    this.requests.record(service, outcome, seconds);
  }

  /**
   * Exports a rate limiter's store errors and evictions (read at each scrape).
   * @param service - the `service` label
   * @param limiter - anything with `stats()`, e.g. a `RateLimiter`
   * @returns stops reading it (a service replaced live); what it counted stays counted
   * @internal
   */
  trackRateLimiter(service: string, limiter: { stats(): RateLimiterStats }): () => void {
    const entry = { service, source: limiter, seen: { allowed: 0, denied: 0, evictions: 0, storeErrors: 0 } };
    this.#limiters.push(entry);
    return () => {
      const i = this.#limiters.indexOf(entry);
      if (i >= 0) this.#limiters.splice(i, 1);
    };
  }

  /**
   * Exports a freebie counter's grants, exhaustions, store errors and evictions (read at each scrape).
   * @param service - the `service` label
   * @param counter - a `FreebieCounter`
   * @returns stops reading it (a service replaced live); what it counted stays counted
   * @internal
   */
  trackFreebies(service: string, counter: { stats(): FreebieStats }): () => void {
    const entry = { service, source: counter, seen: { granted: 0, exhausted: 0, evictions: 0, storeErrors: 0 } };
    this.#freebieCounters.push(entry);
    return () => {
      const i = this.#freebieCounters.indexOf(entry);
      if (i >= 0) this.#freebieCounters.splice(i, 1);
    };
  }

  /**
   * Exports the hashmail mailbox's gauges under the reference's names (read at
   * each scrape): `hashmail_mailbox_count` (streams, about two per session)
   * and `hashmail_mailbox_{active,standby,inuse}_sessions` (the last 10-second
   * classification of session reads). No labels, so the series stay bounded.
   * @param mailbox - the stream count and the last classification
   * @internal
   */
  trackHashmail(mailbox: { streamCount(): number; sessions(): { active: number; inUse: number; standby: number } }): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('hashmail_mailbox_count', 'Hashmail streams (two per LNC session).', () => mailbox.streamCount());
    gauge(
      'hashmail_mailbox_active_sessions',
      'Hashmail sessions read in the last 10 s (in use + standby).',
      () => mailbox.sessions().active,
    );
    gauge(
      'hashmail_mailbox_standby_sessions',
      'Hashmail sessions read less than every 2 s in the last 10 s.',
      () => mailbox.sessions().standby,
    );
    gauge('hashmail_mailbox_inuse_sessions', 'Hashmail sessions read at least every 2 s in the last 10 s.', () => mailbox.sessions().inUse);
  }

  /** The text exposition format, for a `/metrics` response. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
