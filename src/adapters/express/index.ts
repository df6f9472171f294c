/**
 * `aperture-ts/express`: L402 middleware for Express 4 and 5.
 * @packageDocumentation
 */
export { expressL402 } from './express-l402.js';
export type { ExpressL402Middleware } from './express-l402.js';
export type { L402MiddlewareOptions, L402GateSource, L402RouteSettings, L402FreePaths } from '../node/l402-middleware-options.js';
