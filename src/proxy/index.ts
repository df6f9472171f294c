/**
 * `aperture-ts/proxy`: the reverse proxy's forwarding part (routing,
 * authorization hook, REST/gRPC/SSE/WebSocket forwarding, the TLS/h2c
 * listener).
 */
export { Router } from './router.js';
export type { ProxyService } from './proxy-service.js';
export { Proxy, writeDecision, writeHttpDecision } from './proxy.js';
export type { NodeIncoming, NodeResponse } from './forward/forward-http.js';
export { readBodyPrefix } from './forward/body-prefix.js';
export type { BodyPrefix } from './forward/body-prefix.js';
export type { AuthorizeContext, AuthorizeOutcome, AuthorizeResult, ProxyOptions } from './proxy.js';
export type { UpstreamTimeouts } from './forward/upstreams.js';
export { ProxyServer } from './server/proxy-server.js';
export type { ProxyRequestHandler, ProxyServerOptions } from './server/proxy-server.js';
export { ensureTlsCertificate, SELF_SIGNED_ORGANIZATION } from './server/tls-certificate.js';
export type { EnsureTlsCertificateOptions, TlsCertificate, TlsCertificateEvent } from './server/tls-certificate.js';
export { canonicalAuthorization } from './canonical-authorization.js';
export { CORS_HEADERS } from './cors.js';
export * from './config/index.js';
export { GrpcPricer, MAX_PRICER_BODY_BYTES } from './pricer/grpc-pricer.js';
export type { GrpcPricerOptions } from './pricer/grpc-pricer.js';
export { ProxyMetrics } from './ops/metrics.js';
export type { RequestOutcome } from './ops/metrics.js';
export { RequestSeries } from './ops/request-series.js';
export type { MetricData, RegistryMetric, RequestSeriesNames, MetricSample } from './ops/request-series.js';
export { createLogger, subsystemLogger, LOG_SUBSYSTEMS, REDACTED_PATHS } from './ops/logger.js';
export type { DebugLevel, LogSettings, LogSubsystem } from './ops/logger.js';
export * from './app/index.js';
