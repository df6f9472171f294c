// Runs the micro-benchmark scripts of bench/micro in child processes and turns
// their output into result rows. core.ts and ratelimit.ts belong to the
// engineers of those areas; their text output is parsed, not changed.
import { spawn } from 'node:child_process';
import { BENCH_DIR } from './processes.js';

/** One micro-benchmark figure. */
export interface MicroRow {
  name: string;
  opsPerSec: number;
  /** Ops per CPU-second of the process, when the script reports it. */
  opsPerCpuSec?: number;
  baseline: string | undefined;
  note: string;
  rssMb: number;
}

function runScript(script: string, args: readonly string[]): Promise<{ stdout: string; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', `${BENCH_DIR}lib/report-peak-rss.ts`, `${BENCH_DIR}${script}`, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`${script} exited with ${String(code)}: ${stderr.slice(-2000)}`));
        return;
      }
      const kb = Number(/#peak-rss-kb (\d+)/.exec(stderr)?.[1] ?? Number.NaN);
      resolve({ stdout, rssMb: kb / 1024 });
    });
  });
}

const num = (s: string): number => Number(s.replace(/,/g, ''));

/** bench/micro/core.ts: `name   N ops/s wall   M ops/s per CPU-second`. */
export async function coreMicro(seconds: number): Promise<MicroRow[]> {
  const { stdout, rssMb } = await runScript('micro/core.ts', ['--seconds', String(seconds)]);
  const rows: MicroRow[] = [];
  const base = 'baseline: crypto floor of a verify';
  for (const line of stdout.split('\n')) {
    const m = /^(.+?)\s+([\d,]+) ops\/s wall\s+([\d,]+) ops\/s per CPU-second/.exec(line);
    if (m === null) continue;
    const name = (m[1] as string).trim();
    rows.push({
      name,
      opsPerSec: num(m[2] as string),
      opsPerCpuSec: num(m[3] as string),
      baseline: name === base ? undefined : base,
      note: 'bench/micro/core.ts',
      rssMb,
    });
  }
  if (rows.length === 0) throw new Error(`bench/micro/core.ts printed no result line:\n${stdout}`);
  return rows;
}

/** bench/micro/ratelimit.ts: a markdown table `| name | ops | ops/s | vs baseline | notes |`. */
export async function rateLimitMicro(): Promise<MicroRow[]> {
  const { stdout, rssMb } = await runScript('micro/ratelimit.ts', []);
  const rows: MicroRow[] = [];
  let base: string | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^\| (.+?) \| ([\d,]+) \| ([\d,]+) \| [^|]+ \| (.*) \|$/.exec(line);
    if (m === null) continue;
    const name = m[1] as string;
    rows.push({ name, opsPerSec: num(m[3] as string), baseline: base, note: `bench/micro/ratelimit.ts; ${m[4] as string}`, rssMb });
    base ??= name;
  }
  if (rows.length === 0) throw new Error(`bench/micro/ratelimit.ts printed no table row:\n${stdout}`);
  return rows;
}

/** bench/micro/proxy-path.ts --json. */
export async function proxyPathMicro(seconds: number): Promise<MicroRow[]> {
  const { stdout, rssMb } = await runScript('micro/proxy-path.ts', ['--seconds', String(seconds), '--json']);
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const r = JSON.parse(l) as { name: string; opsPerSec: number; baseline: string; note: string };
      return { name: r.name, opsPerSec: r.opsPerSec, baseline: r.baseline === '' ? undefined : r.baseline, note: r.note, rssMb };
    });
}
