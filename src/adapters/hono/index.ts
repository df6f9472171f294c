/**
 * `aperture-ts/hono`: L402 middleware for Hono 4, on any runtime.
 * @packageDocumentation
 */
export { honoL402 } from './hono-l402.js';
export type { HonoL402Variables } from './hono-l402.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from '../node/l402-middleware-options.js';
