// `npm run bench [-- --quick] [--only a,b] [--no-baselines] [--profile name,…]
//   [--no-micro] [--no-load] [--duration S] [--warmup S] [--connections N]
//   [--tokens N] [--mem-tokens N] [--mem-requests N] [--repeat N] [--no-pin] [--load-generator wrk|autocannon] [--server-flags "--node-flag …"]
//   [--go-anchor DIR] [--out FILE] [--update-readme]`
//
// Micro-benchmarks (bench/micro/*), then load tests in which the load
// generator, the server under test and the upstream are separate processes.
// Writes bench/results/latest.json (and latest.md); --update-readme also puts
// the tables between the markers of bench/README.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BENCH_DIR } from './lib/processes.js';
import { runBench } from './lib/run-bench.js';
import { SCENARIOS, type LoadSettings } from './lib/scenarios.js';

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

const README_BEGIN = '<!-- bench:results:begin -->';
const README_END = '<!-- bench:results:end -->';

async function main(argv: readonly string[]): Promise<void> {
  const only = (argValue(argv, '--only') ?? '').split(',').filter((s) => s !== '');
  for (const name of only) {
    if (!SCENARIOS.some((s) => s.name === name))
      throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  }
  const settings: Partial<LoadSettings> = {};
  const duration = argValue(argv, '--duration');
  if (duration !== undefined) settings.durationSec = Number(duration);
  const connections = argValue(argv, '--connections');
  if (connections !== undefined) settings.connections = Number(connections);
  const warmup = argValue(argv, '--warmup');
  if (warmup !== undefined) settings.warmupSec = Number(warmup);
  const repeat = argValue(argv, '--repeat');
  if (repeat !== undefined) settings.repeat = Number(repeat);
  const serverFlags = argValue(argv, '--server-flags');
  if (serverFlags !== undefined) settings.serverNodeFlags = serverFlags.split(' ').filter((f) => f !== '');
  const tokens = argValue(argv, '--tokens');
  if (tokens !== undefined) settings.tokens = Number(tokens);
  const memTokens = argValue(argv, '--mem-tokens');
  if (memTokens !== undefined) settings.memTokens = Number(memTokens);
  const memRequests = argValue(argv, '--mem-requests');
  if (memRequests !== undefined) settings.memRequests = Number(memRequests);
  if (argv.includes('--no-pin')) settings.pin = false;
  const generator = argValue(argv, '--load-generator');
  if (generator !== undefined) {
    if (generator !== 'wrk' && generator !== 'autocannon') throw new Error(`--load-generator: wrk or autocannon, not ${generator}`);
    settings.loadGenerator = generator;
  }
  const goAnchor = argValue(argv, '--go-anchor');
  if (goAnchor !== undefined) settings.goAnchor = goAnchor;
  const profile = argValue(argv, '--profile');
  if (profile !== undefined) settings.profile = { scenarios: profile.split(','), dir: join(BENCH_DIR, 'results', 'profiles') };
  const started = performance.now();
  const { entries, targets, markdown } = await runBench({
    quick: argv.includes('--quick'),
    only,
    baselines: !argv.includes('--no-baselines'),
    micro: !argv.includes('--no-micro') && only.length === 0,
    load: !argv.includes('--no-load'),
    settings,
  });
  const out = argValue(argv, '--out') ?? join(BENCH_DIR, 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(entries, null, 2)}\n`);
  writeFileSync(out.replace(/\.json$/, '.md'), markdown);
  console.log(`\n${markdown}`);
  for (const t of targets) console.log(`${t.met ? 'MET    ' : 'NOT MET'} ${t.target}: ${t.measured}`);
  console.log(`\nwrote ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (argv.includes('--update-readme')) {
    const readme = join(BENCH_DIR, 'README.md');
    const text = readFileSync(readme, 'utf8');
    const a = text.indexOf(README_BEGIN);
    const b = text.indexOf(README_END);
    if (a < 0 || b < a) throw new Error(`bench/README.md has no ${README_BEGIN} … ${README_END} markers`);
    writeFileSync(readme, `${text.slice(0, a + README_BEGIN.length)}\n${markdown}${text.slice(b)}`);
    console.log('updated bench/README.md');
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
