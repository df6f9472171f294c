/**
 * The web dashboard as the program serves it (`admin.enabled` and
 * `admin.dashboard`, on by default): on the proxy's listener, after the admin
 * API, for what no service takes.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Logger } from 'pino';
import type { AdminApi } from '../admin/admin-api.js';
import { bakeAdminMacaroon, readAdminRootKey } from '../admin/admin-macaroon.js';
import type { DashboardAssets } from '../dashboard/dashboard-assets.js';
import { createDashboardHandler, type DashboardHandler } from '../dashboard/dashboard-handler.js';
import { canonicalTarget } from '../proxy/canonical-target.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';
import type { Proxy } from '../proxy/proxy.js';
import { DEV_PAY_PATH } from './aperture-handler.js';
import type { AppService } from './app-service.js';

/**
 * The dashboard's handler for the program. Its proxy calls the admin API with
 * a macaroon baked in memory from the admin root key (no caveat), so it works
 * whatever the macaroon file holds; services win over the dashboard's paths,
 * judged as the proxy routes (the same host and canonical path), and so does
 * the dev backend's `/api/dev/pay`.
 * @param config - `admin.*`
 * @param admin - the program's admin API
 * @param proxy - the proxy, whose routes win
 * @param log - where a missing build is reported
 * @param assets - the build (a directory or loaded files); the package's by default
 * @returns the handler
 * @throws L402Error `L402_ERR_ADMIN_ROOT_KEY_INVALID`, `L402_ERR_ADMIN_CREDENTIALS_IO` (the root key the admin API was just made with),
 *   `L402_ERR_ADMIN_DASHBOARD_NOT_BUILT` (a directory given as `assets` without a build)
 */
export function createProgramDashboard(
  config: ApertureConfig,
  admin: AdminApi,
  proxy: Proxy<AppService>,
  log: Logger,
  assets?: string | DashboardAssets,
): DashboardHandler {
  const macaroon = bakeAdminMacaroon(readAdminRootKey(config.admin.rootKeyPath)).toHex();
  const isServiceRequest = (req: IncomingMessage | Http2ServerRequest): boolean => {
    const raw = req.url ?? '/';
    if (raw === DEV_PAY_PATH || raw.startsWith(`${DEV_PAY_PATH}?`)) return true;
    const h2 = req.httpVersionMajor === 2;
    const host = (h2 ? (req.headers[':authority'] as string | undefined) : undefined) ?? req.headers.host ?? '';
    const target = canonicalTarget(raw, host);
    // A target the proxy cannot read is the proxy's to refuse.
    if (!('path' in target)) return true;
    return proxy.router.match(host, target.path) !== undefined;
  };
  return createDashboardHandler({
    admin,
    macaroon,
    isServiceRequest,
    onWarning: (message) => log.warn(message),
    ...(assets === undefined ? {} : { assets }),
  });
}
