/**
 * The version of the installed aperture-ts, for `--version` of both programs.
 */
import { readFileSync } from 'node:fs';

/**
 * Reads `version` from the package's own package.json, found by walking up
 * from this module: it sits at `src/cli/` in a checkout and at `dist/` or
 * `dist/cli/` (a shared chunk) when installed.
 * @returns the version, or `unknown` when no package.json of aperture-ts is found
 */
export function packageVersion(): string {
  let dir = new URL('./', import.meta.url);
  for (let depth = 0; depth < 4; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'aperture-ts' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json at this level: look one up.
    }
    dir = new URL('../', dir);
  }
  return 'unknown';
}
