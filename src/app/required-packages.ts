/**
 * The optional packages a configuration of the `aperture` program needs (the
 * database driver, gRPC for lnd and price servers, ioredis), so that a missing
 * one is reported, with every other missing one, before anything starts.
 */
import { createRequire } from 'node:module';
import { dependencyMissing, missingOptional, type OptionalPackage } from '../core/optional-dependency.js';
import type { L402Error } from '../core/errors.js';
import type { ApertureConfig } from '../proxy/config/aperture-config.js';

const GRPC: readonly OptionalPackage[] = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];

/** Parts a caller of `startAperture` brings itself, whose packages are then not needed. */
export interface InjectedParts {
  /** A store was given (`StartApertureOptions.store`). */
  store?: boolean;
  /** An invoicer was given (`StartApertureOptions.invoicer`). */
  invoicer?: boolean;
}

/**
 * The features of a configuration that need optional packages, each with them.
 * @param config - a validated configuration
 * @param injected - parts the caller provides
 * @returns e.g. `[{ feature: 'dbbackend: sqlite', packages: ['better-sqlite3'] }]`
 */
export function packagesNeeded(
  config: ApertureConfig,
  injected: InjectedParts = {},
): Array<{ feature: string; packages: readonly OptionalPackage[] }> {
  const needs: Array<{ feature: string; packages: readonly OptionalPackage[] }> = [];
  if (injected.store !== true) {
    if (config.dbBackend === 'sqlite') needs.push({ feature: 'dbbackend: sqlite', packages: ['better-sqlite3'] });
    if (config.dbBackend === 'postgres') needs.push({ feature: 'dbbackend: postgres', packages: ['pg'] });
  }
  if (injected.invoicer !== true && !config.authenticator.disable && config.authenticator.backend === 'lnd') {
    needs.push({ feature: 'the lnd backend', packages: GRPC });
  }
  if (
    injected.invoicer !== true &&
    !config.authenticator.disable &&
    (config.authenticator.backend === 'lnbits' || config.authenticator.backend === 'phoenixd')
  ) {
    needs.push({ feature: `the ${config.authenticator.backend} backend (its settlement WebSocket)`, packages: ['ws'] });
  }
  if (injected.invoicer !== true && !config.authenticator.disable && config.authenticator.backend === 'nwc') {
    needs.push({ feature: 'the nwc backend', packages: ['nostr-tools', 'ws'] });
  }
  if (config.services.some((s) => s.dynamicPrice.enabled)) needs.push({ feature: 'dynamicprice', packages: GRPC });
  if (config.admin.enabled) needs.push({ feature: 'admin.enabled', packages: ['protobufjs'] });
  if (config.hashmail.enabled) needs.push({ feature: 'hashmail.enabled (its WebSocket endpoints)', packages: ['ws'] });
  if (config.rateLimitStore.backend === 'redis') needs.push({ feature: 'ratelimitstore: redis', packages: ['ioredis'] });
  return needs;
}

/**
 * Checks that the packages a configuration needs are installed.
 * @param config - a validated configuration
 * @param injected - parts the caller provides
 * @returns undefined when all are there, else one `L402_ERR_DEPENDENCY_MISSING` error naming
 *   every missing package, the features that need them and the `npm install` command
 */
export function missingPackagesError(config: ApertureConfig, injected: InjectedParts = {}): L402Error | undefined {
  const require = createRequire(import.meta.url);
  const missing = new Set<OptionalPackage>();
  const features: string[] = [];
  for (const need of packagesNeeded(config, injected)) {
    const absent = missingOptional(
      require,
      need.packages.filter((p) => !missing.has(p)),
    );
    const already = need.packages.some((p) => missing.has(p));
    for (const p of absent) missing.add(p);
    if ((absent.length > 0 || already) && !features.includes(need.feature)) features.push(need.feature);
  }
  if (missing.size === 0) return undefined;
  return dependencyMissing(`this configuration (${features.join(', ')})`, [...missing]);
}
