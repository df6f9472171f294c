// Result entries (bench/results/latest.json), the targets of the issue, and
// their markdown rendering for bench/README.md.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { ANCHOR_REFERENCE_CONNECTIONS, ANCHOR_REFERENCE_RATIOS, ANCHOR_ROWS } from './anchors.js';
import type { MicroRow } from './micro.js';
import type { LoadSettings, Measurement, PathFigures, SkippedRow } from './scenarios.js';
import { medianOf } from './percentiles.js';

/** One line of bench/results/latest.json. */
export interface Entry {
  name: string;
  kind: 'http' | 'grpc' | 'micro';
  description: string;
  /** Requests (or operations) per second. */
  rps: number;
  /** Latency percentiles; `null` for micro-benchmarks (no per-request latency). */
  p50_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
  /** Peak RSS (VmHWM) of the server process, or of the micro-benchmark process. */
  rss_mb: number;
  /** The entry this one is compared with, measured in the same run; `null` for baselines. */
  baseline: string | null;
  baseline_rps: number | null;
  /** rps / baseline rps. */
  ratio: number | null;
  /** p99 minus the baseline's p99. */
  p99_added_ms: number | null;
  requests: number | null;
  errors: number | null;
  /** CPU seconds the server process used during the measured phase. */
  server_cpu_s: number | null;
  /** Server CPU microseconds per request: steadier than req/s on a shared machine. */
  cpu_us_per_req: number | null;
  /**
   * On the anchor rows (`go-aperture`, `go-aperture-tuned`, `nginx`), when
   * `proxy-l402` ran too: `proxy-l402` req/s ÷ this row's req/s, the median of
   * the per-round ratios when the rows were repeated. `null` on other rows.
   */
  proxy_l402_ratio: number | null;
  params: Record<string, unknown>;
}

/** One target of the issue, evaluated on this run. */
export interface Target {
  target: string;
  measured: string;
  /** Whether the target is met; `false` also when the run could not show it (see `measured`). */
  met: boolean;
}

/** The machine and run parameters, for the README table heading. */
export interface RunInfo {
  node: string;
  cpu: string;
  cores: number;
  date: string;
  mode: 'quick' | 'full';
  settings: LoadSettings;
  loadAverage: string;
}

/** Machine facts: CPU model from /proc/cpuinfo (os.cpus() as a fallback). */
export function runInfo(mode: 'quick' | 'full', settings: LoadSettings): RunInfo {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // Not Linux: os.cpus() it is.
  }
  let loadAverage = '';
  try {
    loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    loadAverage = 'unknown';
  }
  return { node: process.version, cpu, cores: cpus().length, date: new Date().toISOString(), mode, settings, loadAverage };
}

/** Builds the entries, filling baseline figures from the same run. */
export function toEntries(load: readonly Measurement[], micro: readonly MicroRow[]): Entry[] {
  const entries: Entry[] = [];
  for (const m of load) {
    entries.push({
      name: m.name,
      kind: m.kind,
      description: m.description,
      rps: m.rps,
      p50_ms: m.p50_ms,
      p99_ms: m.p99_ms,
      p999_ms: m.p999_ms,
      rss_mb: m.rss_mb,
      baseline: m.baseline ?? null,
      baseline_rps: null,
      ratio: null,
      p99_added_ms: null,
      requests: m.requests,
      errors: m.errors,
      server_cpu_s: m.server_cpu_s,
      cpu_us_per_req: m.requests > 0 ? (m.server_cpu_s * 1e6) / m.requests : null,
      proxy_l402_ratio: null,
      params: { ...m.params, rss_end_mb: m.rss_end_mb, ...(m.statuses === undefined ? {} : { statuses: m.statuses }) },
    });
  }
  for (const r of micro) {
    entries.push({
      name: `micro: ${r.name}`,
      kind: 'micro',
      description: r.note,
      rps: r.opsPerSec,
      p50_ms: null,
      p99_ms: null,
      p999_ms: null,
      rss_mb: r.rssMb,
      baseline: r.baseline === undefined ? null : `micro: ${r.baseline}`,
      baseline_rps: null,
      ratio: null,
      p99_added_ms: null,
      requests: null,
      errors: null,
      server_cpu_s: null,
      cpu_us_per_req: null,
      proxy_l402_ratio: null,
      params: r.opsPerCpuSec === undefined ? {} : { ops_per_cpu_s: r.opsPerCpuSec },
    });
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const e of entries) {
    const b = e.baseline === null ? undefined : byName.get(e.baseline);
    if (b === undefined) continue;
    e.baseline_rps = b.rps;
    e.ratio = e.rps / b.rps;
    if (e.p99_ms !== null && b.p99_ms !== null) e.p99_added_ms = e.p99_ms - b.p99_ms;
  }
  const ours = byName.get('proxy-l402');
  for (const e of entries) {
    if (ours === undefined || !ANCHOR_ROWS.includes(e.name)) continue;
    e.proxy_l402_ratio = paired(ours, e, (x, y) => x.rps / y.rps)?.median ?? ours.rps / e.rps;
  }
  return entries;
}

const f2 = (n: number): string => n.toFixed(2);

/**
 * How busy the server under test was during the measured phase, in % of one
 * CPU (CPU per request × requests per second). Well below 100 % in a
 * saturating row, the load side (generator or upstream), not the server, set
 * the throughput, and a throughput ratio with it understates the difference.
 */
export function serverBusyPct(e: Pick<Entry, 'cpu_us_per_req' | 'rps'>): number | null {
  return e.cpu_us_per_req === null ? null : (e.cpu_us_per_req * e.rps) / 1e4;
}

/** A warning for a saturating comparison whose servers were not saturated. */
function unsaturated(...entries: Entry[]): string {
  const low = entries.filter((e) => (serverBusyPct(e) ?? 100) < 90);
  return low.length === 0
    ? ''
    : `; not saturated (${low.map((e) => `${e.name} ${Math.round(serverBusyPct(e) ?? 0)} % busy`).join(', ')}): the load side set that throughput, compare CPU per request`;
}

/** One run of a repeated scenario, as `params.runs` keeps it. */
interface Run {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  cpu_us_per_req: number;
  /** Per path, in a run that interleaved paths. */
  by_path?: Record<string, PathFigures>;
}

function runsOf(e: Entry): Run[] | undefined {
  const runs = e.params['runs'];
  return Array.isArray(runs) ? (runs as Run[]) : undefined;
}

/**
 * A comparison of two repeated scenarios made round by round: rounds are
 * interleaved, so the two runs of a round saw the same machine, and the
 * median of the per-round figures is steadier than a figure of the two
 * medians when the machine drifts during the run.
 * @returns the median and every round's value, or undefined when either was run once
 */
function paired(a: Entry, b: Entry, of: (x: Run, y: Run) => number): { median: number; rounds: number[] } | undefined {
  const ra = runsOf(a);
  const rb = runsOf(b);
  if (ra === undefined || rb === undefined || ra.length !== rb.length || ra.length < 2) return undefined;
  const rounds = ra.map((x, i) => of(x, rb[i] as Run));
  return { median: medianOf(rounds), rounds };
}

const list = (values: readonly number[]): string => values.map(f2).join(', ');

/** The issue's targets, evaluated on what this run measured (absent scenarios are skipped). */
export function evaluateTargets(entries: readonly Entry[]): Target[] {
  const get = (name: string): Entry | undefined => entries.find((e) => e.name === name);
  const out: Target[] = [];
  const l402 = get('proxy-l402');
  const off = get('proxy-auth-off');
  const peer = get('peer-proxy');
  // Server CPU per request: the same comparison as CPU-bound throughput, far
  // less disturbed by other work on the machine than req/s. Shown beside it.
  const cpuRatio = (a: Entry, b: Entry): string =>
    a.cpu_us_per_req === null || b.cpu_us_per_req === null
      ? ''
      : `; by server CPU per request ${f2(b.cpu_us_per_req / a.cpu_us_per_req)}× (${Math.round(a.cpu_us_per_req)} vs ${Math.round(b.cpu_us_per_req)} µs)`;
  if (l402 !== undefined && off !== undefined) {
    const rounds = paired(l402, off, (x, y) => x.rps / y.rps);
    const cpuRounds = paired(l402, off, (x, y) => y.cpu_us_per_req / x.cpu_us_per_req);
    const ratio = rounds?.median ?? l402.rps / off.rps;
    const measured =
      rounds === undefined
        ? `${f2(ratio)}× (${Math.round(l402.rps)} vs ${Math.round(off.rps)} req/s)${cpuRatio(l402, off)}`
        : `${f2(ratio)}×, median of the rounds (${list(rounds.rounds)}); by server CPU per request ${f2(cpuRounds?.median ?? Number.NaN)}× (${list(cpuRounds?.rounds ?? [])})`;
    out.push({
      target: 'L402-authenticated proxying ≥ 0.9× auth off',
      measured: `${measured}${unsaturated(l402, off)}`,
      met: ratio >= 0.9,
    });
  }
  if (off !== undefined && peer !== undefined) {
    const rounds = paired(off, peer, (x, y) => x.rps / y.rps);
    const cpuRounds = paired(off, peer, (x, y) => y.cpu_us_per_req / x.cpu_us_per_req);
    const ratio = rounds?.median ?? off.rps / peer.rps;
    // What the same stack reaches with nothing but the headers aperture adds: the floor for this target.
    const minimal = get('minimal-proxy');
    const floor =
      minimal === undefined
        ? ''
        : `; the minimal node:http + undici proxy (a floor, same headers) reaches ${f2(minimal.rps / peer.rps)}× (${Math.round(minimal.rps)} req/s${minimal.cpu_us_per_req === null ? '' : `, ${Math.round(minimal.cpu_us_per_req)} µs`})`;
    const measured =
      rounds === undefined
        ? `${f2(ratio)}× (${Math.round(off.rps)} vs ${Math.round(peer.rps)} req/s)${cpuRatio(off, peer)}`
        : `${f2(ratio)}×, median of the rounds (${list(rounds.rounds)}); by server CPU per request ${f2(cpuRounds?.median ?? Number.NaN)}× (${list(cpuRounds?.rounds ?? [])})`;
    out.push({ target: 'auth off ≥ 1.5× http-proxy-3', measured: `${measured}${floor}${unsaturated(off, peer)}`, met: ratio >= 1.5 });
  }
  const mixed = get('proxy-mixed-fixed-rate');
  const mixedPaths = mixed?.params['by_path'] as Record<string, PathFigures> | undefined;
  const paid = mixedPaths?.['/paid'];
  const free = mixedPaths?.['/free'];
  if (mixed !== undefined && paid !== undefined && free !== undefined) {
    // Both kinds of request went through one process on the same connections,
    // alternating: a GC pause or a slow moment of the machine hits both alike,
    // so the difference is what verification adds (its garbage included, but
    // shared: the pauses it causes delay free requests too).
    const runs = runsOf(mixed);
    const rounds =
      runs !== undefined && runs.length > 1 && runs.every((r) => r.by_path?.['/paid'] !== undefined && r.by_path['/free'] !== undefined)
        ? runs.map((r) => (r.by_path?.['/paid']?.p99_ms ?? 0) - (r.by_path?.['/free']?.p99_ms ?? 0))
        : undefined;
    const added = rounds === undefined ? paid.p99_ms - free.p99_ms : medianOf(rounds);
    out.push({
      target: 'p99 added by verification ≤ 0.5 ms (one process, paid and free requests interleaved at a fixed rate)',
      measured:
        `${f2(added)} ms${rounds === undefined ? '' : `, median of the rounds (${list(rounds)})`} (p99 ${f2(paid.p99_ms)} vs ${f2(free.p99_ms)} ms at ${String(mixed.params['rate'])} req/s; p50 added ${f2(paid.p50_ms - free.p50_ms)} ms)` +
        (added < -0.5 ? '; inconclusive: p99 dominated by noise' : ''),
      met: added >= -0.5 && added <= 0.5,
    });
  }
  const fl = get('proxy-l402-fixed-rate');
  const fo = get('proxy-auth-off-fixed-rate');
  if (fl?.p99_ms != null && fo?.p99_ms != null) {
    const rounds = paired(fl, fo, (x, y) => x.p99_ms - y.p99_ms);
    const added = rounds?.median ?? fl.p99_ms - fo.p99_ms;
    // Verification cannot make requests faster: a p99 "saved" by more than the
    // threshold itself means scheduling noise outweighs what is measured.
    const noise = added < -0.5;
    out.push({
      target: `p99 added by verification ≤ 0.5 ms (fixed rate, separate processes${mixed === undefined ? '' : ', for information'})`,
      measured:
        `${f2(added)} ms${rounds === undefined ? '' : `, median of the rounds (${list(rounds.rounds)})`} (p99 ${f2(fl.p99_ms)} vs ${f2(fo.p99_ms)} ms at ${String(fl.params['rate'])} req/s; p50 added ${f2((fl.p50_ms ?? 0) - (fo.p50_ms ?? 0))} ms)` +
        (noise ? '; inconclusive: p99 dominated by noise' : ''),
      met: !noise && added <= 0.5,
    });
  }
  if (l402?.p99_ms != null && off?.p99_ms != null) {
    const added = l402.p99_ms - off.p99_ms;
    const noise = added < -0.5;
    out.push({
      target: 'p99 added by verification ≤ 0.5 ms (saturated, for information)',
      measured:
        `${f2(added)} ms (p99 ${f2(l402.p99_ms)} vs ${f2(off.p99_ms)} ms at ${String(l402.params['connections'])} connections)` +
        (noise ? '; inconclusive: p99 dominated by noise' : ''),
      met: !noise && added <= 0.5,
    });
  }
  // The anchors: what users compare with. The ratios must not drop below
  // those measured when the rows were added (ANCHOR_REFERENCE_RATIOS).
  for (const name of ANCHOR_ROWS) {
    const anchor = get(name);
    if (l402 === undefined || anchor?.proxy_l402_ratio == null) continue;
    const reference = ANCHOR_REFERENCE_RATIOS[name];
    // A row without an earlier figure is reported in the table only: there is nothing it must not drop below.
    if (reference === undefined) continue;
    const rounds = paired(l402, anchor, (x, y) => x.rps / y.rps);
    const cpu =
      l402.cpu_us_per_req === null || anchor.cpu_us_per_req === null
        ? ''
        : `; server CPU per request ${Math.round(l402.cpu_us_per_req)} vs ${Math.round(anchor.cpu_us_per_req)} µs`;
    const connections = anchor.params['connections'];
    const elsewise =
      connections === undefined || connections === ANCHOR_REFERENCE_CONNECTIONS
        ? ''
        : `; at ${String(connections)} connections, the reference at ${ANCHOR_REFERENCE_CONNECTIONS}`;
    out.push({
      target: `proxy-l402 / ${name} ≥ ${reference === undefined ? '?' : `${f2(reference.ratio)}× (when the row was added: ${reference.note} at ${ANCHOR_REFERENCE_CONNECTIONS} connections)`}`,
      measured: `${f2(anchor.proxy_l402_ratio)}×${rounds === undefined ? '' : `, median of the rounds (${list(rounds.rounds)})`} (${Math.round(l402.rps)} vs ${Math.round(anchor.rps)} req/s${cpu})${elsewise}${unsaturated(l402, anchor)}`,
      // Judged at the precision shown (two decimals), so that "0.43× ≥ 0.43×" does not read "no".
      met: reference !== undefined && Math.round(anchor.proxy_l402_ratio * 100) / 100 >= reference.ratio,
    });
  }
  const mem = get('proxy-l402-100k-tokens');
  if (mem !== undefined) {
    out.push({
      target: 'RSS < 200 MB after 1M requests over 100k tokens',
      measured: `${mem.rss_mb.toFixed(0)} MB peak after ${String(mem.requests)} requests over ${String(mem.params['tokens'])} tokens`,
      met: mem.rss_mb < 200 && (mem.requests ?? 0) >= 1_000_000 && Number(mem.params['tokens']) >= 100_000,
    });
  }
  return out;
}

/** The README section: parameters, load table (and the rows skipped), micro table, targets. */
export function renderMarkdown(
  info: RunInfo,
  entries: readonly Entry[],
  targets: readonly Target[],
  skipped: readonly SkippedRow[] = [],
): string {
  const s = info.settings;
  const fmt = (n: number | null, digits = 0): string =>
    n === null ? '' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const lines: string[] = [];
  const load = entries.find((e) => e.kind !== 'micro');
  lines.push(
    `Node ${info.node}, ${info.cpu} (${info.cores} cores, /proc/cpuinfo), linux/${process.arch}; ${info.mode} run of ${info.date.slice(0, 16).replace('T', ' ')} UTC; load average at the end ${info.loadAverage}.`,
  );
  lines.push('');
  const generator = entries.some((e) => e.params['generator'] === 'wrk')
    ? 'wrk 4 (one thread; autocannon 9 for the 402 and memory rows, which need per-status counts or a request count)'
    : 'autocannon 9';
  lines.push(
    `Load: ${generator} in its own process, ${s.connections} keep-alive connections, 1 request in flight each, ${s.warmupSec} s warm-up then ${s.durationSec} s measured; ` +
      `fixed-rate rows ${s.fixedRate} req/s evenly paced over ${s.fixedConnections} keep-alive connections (bench/load/paced-load.ts); gRPC: one grpc-js channel, ${s.grpcConcurrency} calls in flight; ` +
      `rows marked with several figures ran ${s.repeat} times, interleaved: the median req/s (all runs in parentheses) and the median p50 and p99 of the runs; ` +
      `${s.tokens} distinct tokens in the L402 rows, ${s.memTokens.toLocaleString('en-US')} tokens and ${s.memRequests.toLocaleString('en-US')} requests in the memory row. ` +
      `Upstream, server under test and load generator are three processes (${String(load?.params['placement'] ?? 'not pinned')}), each run as ${String(load?.params['runtime'] ?? 'node')}.`,
  );
  lines.push('');
  lines.push(
    '| scenario | req/s | p50 ms | p99 ms | peak RSS MB | server CPU µs/req | server busy | baseline | ratio | p99 added ms | errors |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const e of entries.filter((x) => x.kind !== 'micro')) {
    const runs = e.params['runs'] as { rps: number }[] | undefined;
    const rps = runs === undefined ? fmt(e.rps) : `${fmt(e.rps)} (${runs.map((r) => fmt(r.rps)).join(' / ')})`;
    lines.push(
      `| ${e.name} | ${rps} | ${fmt(e.p50_ms, 2)} | ${fmt(e.p99_ms, 2)} | ${fmt(e.rss_mb)} | ${fmt(e.cpu_us_per_req)} | ${serverBusyPct(e) === null ? '' : `${fmt(serverBusyPct(e))} %`} | ${e.baseline ?? ''} | ${e.ratio === null ? '' : `${fmt(e.ratio, 2)}×`} | ${fmt(e.p99_added_ms, 2)} | ${String(e.errors ?? '')} |`,
    );
  }
  if (skipped.length > 0) {
    lines.push('');
    for (const r of skipped) lines.push(`Not run: \`${r.name}\`: ${r.reason}.`);
  }
  const micro = entries.filter((x) => x.kind === 'micro');
  if (micro.length > 0) {
    lines.push('');
    lines.push('| micro-benchmark | ops/s | peak RSS MB | baseline | ratio |');
    lines.push('|---|---:|---:|---|---:|');
    for (const e of micro) {
      lines.push(
        `| ${e.name.replace(/^micro: /, '')} | ${fmt(e.rps)} | ${fmt(e.rss_mb)} | ${(e.baseline ?? '').replace(/^micro: /, '')} | ${e.ratio === null ? '' : `${fmt(e.ratio, 2)}×`} |`,
      );
    }
  }
  if (targets.length > 0) {
    lines.push('');
    lines.push('| target | measured | met |');
    lines.push('|---|---|---|');
    for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  }
  return `${lines.join('\n')}\n`;
}
