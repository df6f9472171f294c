// The Go binaries of the regtest tests, as scripts/build-go-tools.ts caches them.
// Without Go, or with Go but the binaries not built yet, the tests skip and say
// why, except under CI (CI set), where .ci/run builds them first and a missing one
// is a failure.
import { existsSync } from 'node:fs';
import { goCommand, toolPath, type GoToolName } from '../../scripts/build-go-tools.js';

/** Either every binary asked for, or the reason they are missing. */
export type GoBinaries<N extends GoToolName> = { ok: true; paths: Record<N, string> } | { ok: false; reason: string };

/** Looks up the cached binaries of `names`. */
export function goBinaries<N extends GoToolName>(names: readonly N[]): GoBinaries<N> {
  const go = goCommand();
  if (go === undefined)
    return {
      ok: false,
      reason: 'Go is not installed (the Go module proxy builds lnd, btcd and the reference aperture: see README, Development)',
    };
  const paths = {} as Record<N, string>;
  const missing: string[] = [];
  for (const name of names) {
    const path = toolPath(name, go);
    if (existsSync(path)) paths[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0)
    return {
      ok: false,
      reason: `${missing.join(', ')} not built: run node --import tsx scripts/build-go-tools.ts (several minutes, once per machine)`,
    };
  return { ok: true, paths };
}

/** Whether a missing binary must fail the run instead of skipping. */
export const mustRun = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false';
