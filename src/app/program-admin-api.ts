/**
 * The admin API as the program serves it (`admin.enabled`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/types.js';
import { AdminApi } from '../admin/admin-api.js';
import type { AdminBackend } from '../admin/admin-backend.js';
import { ensureAdminCredentials } from '../admin/admin-macaroon.js';
import { normalizePeerAddress } from '../adapters/node/request-view.js';
import { clientIp } from '../ratelimit/client-ip.js';
import type { IpSet } from '../ratelimit/ip-set.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';

/**
 * The admin API on the program's listener: credentials created on first start
 * (0600, never overwritten), calls logged under `ADMN` (never the macaroon),
 * failed authentications limited per client (behind `trustedproxies`, the
 * forwarded one).
 * @param config - `admin.*`
 * @param backend - the program side
 * @param clock - macaroon expiry, limits
 * @param log - `ADMN`
 * @param trusted - `trustedproxies`
 * @returns the API, for the listener's handler
 * @throws L402Error `L402_ERR_ADMIN_ROOT_KEY_INVALID`, `L402_ERR_ADMIN_CREDENTIALS_IO`, `L402_ERR_DEPENDENCY_MISSING`
 */
export function createProgramAdminApi(
  config: ApertureConfig,
  backend: AdminBackend,
  clock: Clock,
  log: Logger,
  trusted: IpSet | undefined,
): AdminApi {
  const credentials = ensureAdminCredentials({ macaroonPath: config.admin.macaroonPath, rootKeyPath: config.admin.rootKeyPath });
  if (credentials.createdMacaroon) log.info({ path: credentials.macaroonPath }, 'admin macaroon written');
  else if (!credentials.macaroonMatches)
    log.warn(
      { path: credentials.macaroonPath },
      'the admin macaroon file was not made from the admin root key next to it; bake a new one or remove it to have one written',
    );
  return new AdminApi({
    backend,
    rootKey: credentials.rootKey,
    corsOrigins: config.admin.corsOrigins,
    clock,
    // Failed authentications are limited per client: behind a trusted proxy, the forwarded one.
    clientAddress: (req) =>
      clientIp(
        normalizePeerAddress(req.socket?.remoteAddress),
        req.headers['x-forwarded-for'] as string | undefined,
        trusted,
        req.headers.forwarded as string | undefined,
      ),
    onCall: (event) => {
      const fields = {
        method: event.method,
        transport: event.transport,
        client: event.clientAddress,
        code: event.code,
        durationMs: event.durationMs,
      };
      if (event.cause !== undefined) log.error({ ...fields, err: event.cause }, `admin call failed: ${event.message}`);
      else if (event.code !== 0) log.info({ ...fields, message: event.message }, 'admin call refused');
      else log.debug(fields, 'admin call');
    },
    onError: (error) => log.warn({ err: error }, 'could not write an admin answer'),
  });
}
