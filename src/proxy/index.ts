/**
 * `aperture-ts/proxy`: the reverse proxy as a library. The forwarding part
 * (routing, the authorization hook, REST/gRPC/SSE/WebSocket forwarding, the
 * TLS/h2c listener), the `aperture.yaml` configuration (load, check, report),
 * the dynamic pricer, and `startAperture`, the whole program. What is listed
 * here is public; the YAML tree, the Go duration parser, the program's
 * request pipeline and its handler, logging and metrics helpers are internal.
 * @packageDocumentation
 */

// Routing and forwarding.
export { Router } from './router.js';
export type { ProxyService } from './proxy-service.js';
export { compileGoRegexp, GoRegexp } from '../core/go-regexp.js';
export { Proxy } from './proxy.js';
export type { ProxyOptions, AuthorizeContext, AuthorizeOutcome, AuthorizeResult } from './proxy.js';
export type { UpstreamTimeouts } from './forward/upstreams.js';
export type { NodeIncoming, NodeResponse } from './forward/forward-http.js';
export { readBodyPrefix } from './forward/body-prefix.js';
export type { BodyPrefix } from './forward/body-prefix.js';

// The listener.
export { ProxyServer } from './server/proxy-server.js';
export type { ProxyRequestHandler, ProxyServerOptions } from './server/proxy-server.js';
export type { TlsCertificate, TlsCertificateEvent } from './server/tls-certificate.js';

// The configuration of the `aperture` program.
export { loadConfig } from './config/load-config.js';
export { checkConfig } from './config/check-config.js';
export type { LoadConfigOptions, ConfigReport } from './config/check-config.js';
export { formatConfigReport } from './config/format-config-report.js';
export type { JsonValue, LocatedConfigIssue } from './config/raw-node.js';
export { resolveServiceEntry } from './config/resolve-config.js';
export type { ResolveConfigContext, ResolveServiceEntryOptions, ResolvedServiceEntry } from './config/resolve-config.js';
export type {
  ApertureConfig,
  ServiceConfig,
  ServiceAuth,
  ServiceRateLimitConfig,
  DynamicPriceConfig,
  AuthScheme,
  AuthenticatorConfig,
  LightningBackendKind,
  RateLimitStoreConfig,
  ConfigPattern,
  IpRange,
  ConfigWarning,
  ConfigWarningKind,
  LogLevel,
} from './config/aperture-config.js';
export { ConfigSecret } from './config/http-backend-config.js';
export type { HttpBackendConfig, HttpLightningBackend } from './config/http-backend-config.js';
export type { WavelengthConfig } from './config/wavelength-config.js';
export type { LogSubsystem } from './ops/logger.js';

// Dynamic prices.
export { GrpcPricer } from './pricer/grpc-pricer.js';
export type { GrpcPricerOptions, SessionQuote, SessionQuoteRequest, SessionUsage } from './pricer/grpc-pricer.js';

// Metrics of the proxy (the `aperture` program itself is `aperture-ts/app`).
export { ProxyMetrics } from './ops/metrics.js';
