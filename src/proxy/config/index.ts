/**
 * Configuration of the `aperture` binary: an aperture.yaml of the Go reference,
 * validated and given meaning. See docs/configuration.md.
 */
export { loadConfig } from './load-config.js';
export { checkConfig } from './check-config.js';
export type { LoadConfigOptions, ConfigReport } from './check-config.js';
export { formatConfigReport } from './format-config-report.js';
export { resolveConfig, resolveServiceEntry, adminRootKeyPath, expandPath, CONFIG_DEFAULTS } from './resolve-config.js';
export type { ResolveConfigContext, ResolvedConfig, ResolveServiceEntryOptions, ResolvedServiceEntry } from './resolve-config.js';
export { parseGoDuration } from './go-duration.js';
export type { GoDurationResult } from './go-duration.js';
export { compileGoRegexp, GoRegexp } from '../../core/go-regexp.js';
export { parseIpRange } from './ip-range.js';
export { checkHostPort } from './check-host-port.js';
export { resolveHeaderValue } from './resolve-header-value.js';
export type { HeaderResolveContext } from './resolve-header-value.js';
export { parseYamlConfig, rawFromValue, rawFromJson, rawToJson, overlayRaw } from './raw-node.js';
export type { JsonValue, RawNode, RawMap, RawSeq, RawScalar, RawEntry, RawPosition, LocatedConfigIssue, ParsedYaml } from './raw-node.js';
export type {
  ApertureConfig,
  ServiceConfig,
  ServiceAuth,
  ServiceRateLimitConfig,
  DynamicPriceConfig,
  AuthScheme,
  AuthenticatorConfig,
  LightningBackendKind,
  RateLimitStoreConfig,
  ConfigPattern,
  IpRange,
  ConfigWarning,
  ConfigWarningKind,
  LogLevel,
} from './aperture-config.js';
export { ConfigSecret } from './http-backend-config.js';
export type { HttpBackendConfig, HttpLightningBackend } from './http-backend-config.js';
