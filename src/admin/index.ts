/**
 * The admin API of the Go aperture (`adminrpc.Admin`: services, transactions,
 * tokens, revenue, revocation) as a library: gRPC and REST transports to mount
 * on a listener, macaroon authentication with permission-scoped macaroons, and
 * the interface a program implements to serve it. protobufjs is an optional
 * peer dependency, loaded when an {@link AdminApi} is created.
 * @packageDocumentation
 */
export { AdminApi } from './admin-api.js';
export type { AdminApiOptions, AdminCallEvent, AdminCredentialsOfCall } from './admin-api.js';
export type { AdminBackend, AdminInfo } from './admin-backend.js';
export type { MessageObject } from './admin-codec.js';
export { DEFAULT_LIMIT, MAX_LIMIT } from './admin-handlers.js';
export {
  ADMIN_MACAROON_ID,
  ADMIN_MACAROON_LOCATION,
  ADMIN_ROOT_KEY_BYTES,
  METHODS_CAVEAT,
  READ_ONLY_METHODS,
  TIME_BEFORE_CAVEAT,
  WRITE_METHODS,
  bakeAdminMacaroon,
  ensureAdminCredentials,
  readAdminRootKey,
  verifyAdminMacaroon,
  writeAdminMacaroonFile,
} from './admin-macaroon.js';
export type {
  AdminCredentials,
  AdminCredentialsOptions,
  AdminGrant,
  AdminVerification,
  BakeAdminMacaroonOptions,
} from './admin-macaroon.js';
export { ADMIN_GRPC_PREFIX, ADMIN_METHODS, ADMIN_PROTO, ADMIN_REST_PREFIX, STRUCT_PROTO } from './admin-proto.js';
export type { AdminMethod } from './admin-proto.js';
export { AdminStatusError, Code, httpStatusOf } from './admin-status.js';
export type { StatusCode } from './admin-status.js';
export { AuthFailureLimiter } from './auth-failure-limiter.js';
export type { AuthFailureLimiterOptions } from './auth-failure-limiter.js';
export { ADMIN_ROUTES } from './rest-transport.js';
export type { AdminRoute } from './rest-transport.js';
export { RESERVED_PATHS, effectiveServices, isTombstone, tombstone } from './service-entries.js';
export type { EffectiveService, EffectiveServices, ServiceEntry, ServiceRowProblem, ServiceSource } from './service-entries.js';
export { adminRootKeyPath } from '../proxy/config/resolve-config.js';
