// The benchmark as a function: micro-benchmarks, then the load scenarios,
// turned into result entries, targets and markdown. bench/run.ts is its CLI;
// test/bench/harness.test.ts runs it with tiny parameters.
import { coreMicro, proxyPathMicro, rateLimitMicro, type MicroRow } from './micro.js';
import { evaluateTargets, renderMarkdown, runInfo, toEntries, type Entry, type Target } from './results.js';
import { runScenarios, type LoadSettings, type Measurement, type SkippedRow } from './scenarios.js';

/** Options of {@link runBench}. */
export interface BenchOptions {
  quick: boolean;
  only: string[];
  micro: boolean;
  load: boolean;
  /** Run the baselines of the selected scenarios too (default true). */
  baselines?: boolean;
  /** Overrides of the load settings. */
  settings?: Partial<LoadSettings>;
  log?: (line: string) => void;
}

/** The settings of a quick (< 2 min) or full (< 10 min) run. */
export function defaultSettings(quick: boolean): LoadSettings {
  return quick
    ? {
        durationSec: 3,
        warmupSec: 1,
        connections: 32,
        grpcConcurrency: 32,
        tokens: 1000,
        memTokens: 20_000,
        memRequests: 100_000,
        fixedRate: 2000,
        fixedConnections: 8,
        repeat: 1,
      }
    : {
        durationSec: 5,
        warmupSec: 2,
        connections: 32,
        grpcConcurrency: 32,
        tokens: 1000,
        memTokens: 100_000,
        memRequests: 1_000_000,
        fixedRate: 2000,
        fixedConnections: 8,
        repeat: 5,
      };
}

/** Runs the benchmark and returns the entries and evaluated targets. */
export async function runBench(
  options: BenchOptions,
): Promise<{ entries: Entry[]; targets: Target[]; markdown: string; skipped: SkippedRow[] }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const settings = { ...defaultSettings(options.quick), ...options.settings };
  const micro: MicroRow[] = [];
  if (options.micro) {
    log('micro-benchmarks…');
    micro.push(...(await coreMicro(options.quick ? 0.3 : 2)));
    micro.push(...(await proxyPathMicro(options.quick ? 0.3 : 1)));
    // ratelimit.ts runs fixed operation counts (~12 s with its Redis rows); the
    // quick run leaves it out, its TokenBucket baseline is in proxy-path.ts.
    if (!options.quick) micro.push(...(await rateLimitMicro()));
    for (const r of micro) log(`  ${r.name.padEnd(48)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(14)} ops/s`);
  }
  let load: Measurement[] = [];
  let skipped: SkippedRow[] = [];
  if (options.load) {
    log('load tests…');
    ({ measurements: load, skipped } = await runScenarios(settings, options.only, log, options.baselines ?? true));
  }
  const entries = toEntries(load, micro);
  const targets = evaluateTargets(entries);
  const markdown = renderMarkdown(runInfo(options.quick ? 'quick' : 'full', settings), entries, targets, skipped);
  return { entries, targets, markdown, skipped };
}
