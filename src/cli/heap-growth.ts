/**
 * How far the `aperture` program lets V8's old generation grow past the live
 * heap before the next full garbage collection.
 *
 * V8 sizes that limit for a heap that may reach the machine's memory (about
 * 4 GB here) and, when collection is cheap, lets the old generation grow to
 * three or four times the live heap. A proxy's live heap is small and stable
 * (about 40–50 MB in `bench/`) while it promotes garbage steadily, so that
 * factor is what sets its resident memory: 252–254 MB peak over 300,000
 * requests on 100,000 tokens, against 164–165 MB with a factor of 1.5 (about
 * 20 more full collections of about 5 ms each, no measurable CPU per request).
 *
 * V8 reads `--heap-growing-percent` each time it computes the next limit, so
 * setting it at start-up takes effect; an operator's own heap flags (in the
 * command line or `NODE_OPTIONS`) are left alone.
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError } from '../core/errors.js';

/** The default: the old generation may grow to 1.5× the live heap between full collections. */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/** The environment variable that changes it; `0` leaves V8's own heuristics. */
export const HEAP_GROWING_ENV = 'APERTURE_HEAP_GROWING_PERCENT';

/** Node and V8 options by which an operator already sizes the heap. */
const OPERATOR_HEAP_FLAGS = /(?:^|\s)--(?:heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|max[-_]heap[-_]size)\b/;

/** What {@link heapGrowthPlan} decided. */
export type HeapGrowthPlan = { apply: true; percent: number } | { apply: false; reason: string };

/**
 * Decides the heap growth setting from the process's flags and environment.
 * @param execArgv - Node's own command-line flags (`process.execArgv`)
 * @param env - the environment (`NODE_OPTIONS`, `APERTURE_HEAP_GROWING_PERCENT`)
 * @returns the percentage to set, or why nothing is set
 * @throws ConfigError (`L402_ERR_CONFIG_INVALID`) when `APERTURE_HEAP_GROWING_PERCENT` is not an
 *   integer from 0 to 1000; its one issue has the variable's name as `path`
 */
export function heapGrowthPlan(execArgv: readonly string[], env: Readonly<Record<string, string | undefined>>): HeapGrowthPlan {
  const raw = env[HEAP_GROWING_ENV];
  let percent = DEFAULT_HEAP_GROWING_PERCENT;
  if (raw !== undefined && raw.trim() !== '') {
    const value = /^\s*\d{1,4}\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(value >= 0 && value <= 1000)) {
      throw new ConfigError([{ path: HEAP_GROWING_ENV, message: `must be an integer from 0 to 1000 (got ${JSON.stringify(raw)})` }]);
    }
    percent = value;
  }
  if (percent === 0) return { apply: false, reason: `${HEAP_GROWING_ENV}=0` };
  const operatorFlags = [...execArgv, env['NODE_OPTIONS'] ?? ''].join(' ');
  if (OPERATOR_HEAP_FLAGS.test(` ${operatorFlags}`)) return { apply: false, reason: 'heap flags given to node' };
  return { apply: true, percent };
}

/**
 * Applies {@link heapGrowthPlan} to this process.
 * @param execArgv - Node's flags (default `process.execArgv`)
 * @param env - the environment (default `process.env`)
 * @returns a one-line description for the start-up log
 * @throws ConfigError (`L402_ERR_CONFIG_INVALID`) when `APERTURE_HEAP_GROWING_PERCENT` is invalid
 */
export function limitHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const plan = heapGrowthPlan(execArgv, env);
  if (!plan.apply) return `heap: V8 defaults (${plan.reason})`;
  setFlagsFromString(`--heap-growing-percent=${plan.percent}`);
  return `heap: the old generation grows to ${(1 + plan.percent / 100).toFixed(2)}× the live heap between full collections (${HEAP_GROWING_ENV}=${plan.percent})`;
}
