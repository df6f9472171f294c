// Reads a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench --
// --profile proxy-l402`) and prints the functions with the most self time,
// and the same grouped by source file. Given a directory, it reads the main
// thread's profile in it (thread id 0 in the file name).
// Run: node --import tsx bench/profile-summary.ts FILE.cpuprofile|DIR [--top 25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const arg = process.argv[2];
if (arg === undefined) {
  console.error('usage: profile-summary.ts FILE.cpuprofile|DIR [--top N]');
  process.exit(2);
}
const mainThread = statSync(arg).isDirectory()
  ? readdirSync(arg).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f))
  : undefined;
const file = mainThread === undefined ? arg : join(arg, mainThread);
const topArg = process.argv.indexOf('--top');
const TOP = topArg > 0 ? Number(process.argv[topArg + 1]) : 25;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

// Self time per node from the sample stream (each sample's delta belongs to the node sampled).
const self = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function shortUrl(url: string): string {
  const i = url.indexOf('/work/main/');
  if (i >= 0) return url.slice(i + '/work/main/'.length);
  const nm = url.lastIndexOf('node_modules/');
  return nm >= 0 ? url.slice(nm) : url.replace(/^file:\/\//, '');
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id);
  if (n === undefined) continue;
  const f = n.callFrame;
  if (f.functionName === '(idle)') continue;
  const where = f.url === '' ? '(native)' : shortUrl(f.url);
  const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}  ${where}:${f.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byFile.set(where, (byFile.get(where) ?? 0) + us);
}

const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
console.log(
  `${file}: ${(total / 1e6).toFixed(2)} s sampled, ${((100 * idle) / total).toFixed(1)}% idle; shares below are of all samples\n\nself time by function:`,
);
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(us)}  ${k}`);
console.log('\nself time by file:');
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(us)}  ${k}`);

// --callers NAME: where the self time of functions named NAME comes from (stacks, --depth frames up, default 8).
const callersArg = process.argv.indexOf('--callers');
const depthArg = process.argv.indexOf('--depth');
const DEPTH = depthArg > 0 ? Number(process.argv[depthArg + 1]) : 8;
if (callersArg > 0) {
  const name = process.argv[callersArg + 1];
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n?.callFrame.functionName !== name) continue;
    const frames: string[] = [];
    for (let p = parent.get(id); p !== undefined && frames.length < DEPTH; p = parent.get(p)) {
      const f = byId.get(p)?.callFrame;
      if (f !== undefined) frames.push(`${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`);
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  console.log(`\ncallers of ${String(name)}:`);
  for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`${pct(us)}  ${k}`);
}
