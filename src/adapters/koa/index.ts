/**
 * `aperture-ts/koa`: L402 middleware for Koa.
 * @packageDocumentation
 */
export { koaL402 } from './koa-l402.js';
export type { KoaL402Context, KoaL402Middleware } from './koa-l402.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from '../node/l402-middleware-options.js';
