// The benchmark harness works end to end (processes, tokens, load generator,
// result file), with tiny parameters. No performance is asserted here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { findWrk } from '../../bench/load/wrk-load.js';
import { findNginx } from '../../bench/lib/anchors.js';
import { cpuPlan } from '../../bench/lib/processes.js';
import { goBinaries, mustRun } from '../regtest/go-binaries.js';

const root = new URL('../..', import.meta.url).pathname;

function runCli(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

test('npm run bench runs a scenario through aperture and writes the result entries', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-harness-'));
  try {
    const out = join(dir, 'result.json');
    const { code, output } = await runCli([
      '--quick',
      '--only',
      'proxy-l402',
      '--no-baselines',
      '--no-micro',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--connections',
      '2',
      '--tokens',
      '5',
      '--out',
      out,
    ]);
    assert.equal(code, 0, output);
    const entries = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>[];
    assert.equal(entries.length, 1, output);
    const e = entries[0] as Record<string, unknown>;
    assert.equal(e['name'], 'proxy-l402');
    for (const field of ['rps', 'p50_ms', 'p99_ms', 'rss_mb']) assert.equal(typeof e[field], 'number', `${field} in ${JSON.stringify(e)}`);
    for (const field of ['baseline', 'baseline_rps', 'ratio', 'p99_added_ms']) assert.ok(field in e, `${field} missing`);
    assert.equal(e['baseline'], 'proxy-auth-off');
    assert.ok((e['rps'] as number) > 0, 'no request completed');
    assert.ok((e['rss_mb'] as number) > 0);
    assert.equal(e['errors'], 0, `every request must pass verification: ${JSON.stringify(e)}`);
    assert.match(readFileSync(join(dir, 'result.md'), 'utf8'), /\| proxy-l402 \| [\d,]+ /);
    const params = e['params'] as Record<string, unknown>;
    if (cpuPlan(true) !== undefined) assert.match(String(params['placement']), /server under test pinned to CPU \d+/);
    // The saturating rows use wrk where it is installed (.ci/run installs it), autocannon otherwise.
    assert.equal(params['generator'], findWrk() === undefined ? 'autocannon' : 'wrk');
    assert.match(readFileSync(join(dir, 'result.md'), 'utf8'), findWrk() === undefined ? /Load: autocannon 9/ : /Load: wrk 4 \(one thread/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const nginxSkip =
  findNginx() === undefined && process.env['CI'] !== 'true' ? 'nginx is not installed (apt-get install nginx-light)' : false;

/**
 * Runs `npm run bench` on proxy-l402 and one anchor row (short, 2 connections, 5 tokens) and
 * checks what every anchor row must be: both rows present in order, the anchor measured against
 * proxy-l402 with no error, its `proxy_l402_ratio` ours ÷ its req/s.
 * @returns the anchor's entry and the result.md text
 */
async function runAnchorRow(row: string): Promise<{ anchor: Record<string, unknown>; markdown: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-harness-'));
  try {
    const out = join(dir, 'result.json');
    const { code, output } = await runCli([
      '--quick',
      '--only',
      `proxy-l402,${row}`,
      '--no-baselines',
      '--no-micro',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--connections',
      '2',
      '--tokens',
      '5',
      '--out',
      out,
    ]);
    assert.equal(code, 0, output);
    const entries = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>[];
    assert.deepEqual(
      entries.map((e) => e['name']),
      ['proxy-l402', row],
      output,
    );
    const [ours, anchor] = entries as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(anchor['baseline'], 'proxy-l402');
    // Every request answered 200: forwarded (nginx), or verified with aperture's tokens (a refused one would be a 402).
    assert.equal(anchor['errors'], 0, `${row} must answer every request: ${JSON.stringify(anchor)}`);
    assert.ok((anchor['rps'] as number) > 0 && (anchor['rss_mb'] as number) > 0, JSON.stringify(anchor));
    assert.equal(anchor['proxy_l402_ratio'], (ours['rps'] as number) / (anchor['rps'] as number));
    assert.equal(ours['proxy_l402_ratio'], null);
    return { anchor, markdown: readFileSync(join(dir, 'result.md'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'npm run bench runs the nginx anchor row beside proxy-l402 and writes proxy-l402 / nginx',
  { skip: nginxSkip, timeout: 120_000 },
  async () => {
    const { anchor: nginx, markdown } = await runAnchorRow('nginx');
    assert.ok((nginx['server_cpu_s'] as number) > 0, JSON.stringify(nginx));
    assert.match(JSON.stringify((nginx['params'] as Record<string, unknown>)['anchor']), /"nginx":"\d+\.\d+/);
    assert.match(markdown, /^\| proxy-l402 \/ nginx ≥ 0\.43× .* \| \d+\.\d\d× \(\d+ vs \d+ req\/s/m);
  },
);

const referenceBinary = goBinaries(['aperture']);
const referenceSkip = !referenceBinary.ok && !mustRun ? referenceBinary.reason : false;

test(
  "npm run bench runs the reference aperture row (v0.5.0 itself, on a fake lnd) with aperture's tokens and writes its ratio",
  { skip: referenceSkip, timeout: 300_000 },
  async () => {
    const { anchor: reference } = await runAnchorRow('reference-aperture');
    assert.match(JSON.stringify((reference['params'] as Record<string, unknown>)['anchor']), /"aperture":"v0\.5\.0"/);
  },
);

test('the server under test gets the last CPU to itself, the other processes the rest', () => {
  assert.equal(cpuPlan(false), undefined);
  const plan = cpuPlan(true);
  if (availableParallelism() < 2) {
    assert.equal(plan, undefined);
    return;
  }
  if (plan === undefined) return; // no taskset on this machine
  assert.equal(plan.server, String(availableParallelism() - 1));
  const lastOther = Number(plan.others.split('-').at(-1));
  assert.equal(lastOther, availableParallelism() - 2, `others: ${plan.others}`);
});
