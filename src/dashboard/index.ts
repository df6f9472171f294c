/**
 * The web dashboard of aperture: overview, services, transactions and tokens
 * in a browser, served by the program on its own listener next to the admin
 * API it calls (in-process, through a server-side proxy that adds the admin
 * macaroon). Loopback clients only. See docs/dashboard.md.
 * @packageDocumentation
 */
export { createDashboardHandler } from './dashboard-handler.js';
export type { DashboardHandler, DashboardOptions } from './dashboard-handler.js';
export { loadDashboardAssets } from './dashboard-assets.js';
export type { DashboardAsset, DashboardAssets } from './dashboard-assets.js';
