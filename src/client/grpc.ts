/**
 * The gRPC client interceptor that pays L402 challenges (entry
 * `aperture-ts/client/grpc`; loads @grpc/grpc-js).
 * @packageDocumentation
 */
export { grpcL402ClientInterceptor } from './grpc-l402-client-interceptor.js';
export type { GrpcL402ClientInterceptorOptions } from './grpc-l402-client-interceptor.js';
