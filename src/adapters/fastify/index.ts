/**
 * `aperture-ts/fastify`: L402 plugin for Fastify 5.
 * @packageDocumentation
 */
export { fastifyL402 } from './fastify-l402.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from '../node/l402-middleware-options.js';
