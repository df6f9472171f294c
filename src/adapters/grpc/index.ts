/**
 * `aperture-ts/grpc`: L402 for `@grpc/grpc-js` servers, as a server interceptor.
 * @packageDocumentation
 */
export { grpcL402Interceptor, grpcL402Token, GRPC_TOKEN_ID_METADATA_KEY } from './grpc-l402-interceptor.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from '../node/l402-middleware-options.js';
