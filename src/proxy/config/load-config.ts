/**
 * Loading the `aperture` binary's configuration for start-up.
 */
import { ConfigError } from '../../core/errors.js';
import type { ApertureConfig, ConfigWarning } from './aperture-config.js';
import { checkConfig, type LoadConfigOptions } from './check-config.js';

/**
 * Loads and validates the configuration: defaults, then the YAML file
 * (`--configfile`, else `<basedir>/aperture.yaml` when it exists), then the
 * overrides. Header values are resolved, regular expressions compiled,
 * durations converted, all at load time.
 *
 * @param options - where the configuration comes from
 * @returns the configuration and the warnings to log
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` listing every issue with its path
 *   (YAML syntax errors carry line and column)
 * @example
 * ```ts
 * const { config, warnings } = loadConfig({ configFile: '/etc/aperture.yaml' });
 * for (const w of warnings) logger.warn(`${w.path}: ${w.message}`);
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): { config: ApertureConfig; warnings: ConfigWarning[] } {
  const report = checkConfig(options);
  if (!report.ok || report.config === undefined) throw new ConfigError(report.issues);
  return { config: report.config, warnings: report.warnings };
}
