/**
 * A configured service as the running `aperture` sees it: what the proxy
 * forwards by, plus the per-service parts of the request pipeline (rate
 * limiter, freebie counter, pricer).
 */
import type { ServiceConfig } from '../proxy/config/aperture-config.js';
import type { GrpcPricer } from '../proxy/pricer/grpc-pricer.js';
import type { ProxyService } from '../proxy/proxy-service.js';
import type { FreebieCounter } from '../ratelimit/freebie-counter.js';
import type { RateLimiter } from '../ratelimit/rate-limiter.js';

/** One service of a running `aperture`: forwarding fields, its configuration and its runtime parts. */
export interface AppService extends ProxyService {
  /** The validated `services[]` entry it was built from. */
  readonly config: ServiceConfig;
  /** Rate limiter of the service's `ratelimits`; `undefined` when it has none. */
  readonly limiter: RateLimiter | undefined;
  /** Freebie counter, for `auth: freebie N`. */
  readonly freebies: FreebieCounter | undefined;
  /** Dynamic pricer, when `dynamicprice.enabled`. */
  readonly pricer: GrpcPricer | undefined;
}
