#!/usr/bin/env node
// Runs every test file under test/ with node:test through tsx.
// Node 20's --test expands no globs, and a bare `node --test` finds no .ts file
// and "passes" with zero tests, so the files are listed here explicitly.
//
// The run is checked for what it leaves behind:
// - the tests run under a TMPDIR of their own, created here; the run fails when
//   anything is left in it afterwards (listing what), then it is removed;
// - the run fails when a process it started (one whose environment carries that
//   TMPDIR) is still running afterwards; those are listed and stopped;
// - a test file in which no test starts or finishes for 5 minutes fails with the
//   names of the tests still running, and its process is stopped, instead of
//   stalling CI (TEST_TIMEOUT_MS=<ms> in the environment changes the limit).
//   Node 20's --test-timeout cannot do this: under --test it limits whole files,
//   and inside a file it is ignored.
//
// Usage: npm test [-- <path-substring> ...] to run only matching files.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, relative, resolve } from 'node:path';

const TEST_TIMEOUT_MS = Number(process.env['TEST_TIMEOUT_MS'] ?? 5 * 60_000);
const root = new URL('..', import.meta.url).pathname;
const self = new URL(import.meta.url).pathname;

if (process.argv[2] === '--run-files') await runFiles(process.argv[3], process.argv.slice(4));
else await main();

async function main() {
  const filters = process.argv.slice(2);
  const files = collect(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)));
  if (files.length === 0) {
    console.error('run-tests: no test file matched');
    process.exit(1);
  }
  // TAP to a file outside the tests' TMPDIR, so that the closing summary below is
  // computed from what actually ran.
  const tapDir = mkdtempSync(join(tmpdir(), 'aperture-test-results-'));
  const tapFile = join(tapDir, 'results.tap');
  const testTmp = mkdtempSync(join(tmpdir(), 'aperture-test-tmp-'));
  const keep = shareTsxCache(testTmp);

  const child = spawn(process.execPath, ['--import', 'tsx', self, '--run-files', tapFile, ...files], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, TMPDIR: testTmp, TMP: testTmp, TEMP: testTmp },
  });
  // Interrupted: the tests stop, and the checks below still run.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  const [status] = await once(child, 'exit');
  const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
  rmSync(tapDir, { recursive: true, force: true });

  const survivors = stopSurvivors(testTmp);
  const leftovers = readdirSync(testTmp)
    .filter((name) => name !== keep)
    .sort();
  for (const name of leftovers) rmSync(join(testTmp, name), { recursive: true, force: true, maxRetries: 3 });
  rmSync(testTmp, { recursive: true, force: true, maxRetries: 3 });

  const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  const passed = count('pass');
  const failed = count('fail') + count('cancelled');
  const skipped = count('skipped') + count('todo');
  console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  let ok = status === 0 && failed === 0;
  if (survivors.length > 0) {
    ok = false;
    console.error(
      `run-tests: ${survivors.length} process(es) started by the tests were still running (now stopped):\n  ${survivors.join('\n  ')}`,
    );
  }
  if (leftovers.length > 0) {
    ok = false;
    console.error(
      `run-tests: the tests left ${leftovers.length} entr${leftovers.length === 1 ? 'y' : 'ies'} in their TMPDIR (now removed):\n  ${leftovers.join('\n  ')}`,
    );
  } else {
    console.log('run-tests: TMPDIR left empty');
  }
  if (passed === 0) {
    console.error('run-tests: no test passed; treating the run as failed');
    ok = false;
  }
  process.exit(ok ? 0 : 1);
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name !== 'fixtures') out.push(...collect(full));
    } else if (name.endsWith('.test.ts')) {
      out.push(relative(root, full));
    }
  }
  return out.sort();
}

/**
 * tsx keeps its compile cache in `<tmpdir>/tsx-<uid>`. The tests' TMPDIR gets a link
 * to the usual one, so that runs stay warm and the cache is not taken for a leftover.
 * Returns the link's name.
 */
function shareTsxCache(testTmp) {
  const name = `tsx-${process.geteuid?.() ?? userInfo().username}`;
  const cache = join(tmpdir(), name);
  mkdirSync(cache, { recursive: true });
  symlinkSync(cache, join(testTmp, name), 'dir');
  return name;
}

/**
 * Processes (other than this one) whose environment carries the tests' TMPDIR:
 * started by the tests and not stopped. Lists and kills them. Linux only (reads
 * /proc); elsewhere returns nothing.
 */
function stopSurvivors(testTmp) {
  if (!existsSync('/proc/self/environ')) return [];
  const marker = `\0TMPDIR=${testTmp}\0`;
  const find = () => {
    const found = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        if (!`\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`.includes(marker)) continue;
        const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
        if (args !== '') found.push({ pid: Number(entry), args }); // (a zombie has no command line)
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
    return found;
  };
  // A process stopped at the very end of the run may still be on its way out.
  let found = find();
  for (let i = 0; i < 20 && found.length > 0; i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    found = find();
  }
  for (const { pid } of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found.map(({ pid, args }) => `${pid} ${args.length > 200 ? `${args.slice(0, 200)}...` : args}`);
}

/** The child: runs the files with node:test (spec to stdout, TAP to a file) and watches for stalls. */
async function runFiles(tapFile, files) {
  const { run } = await import('node:test');
  const { spec, tap } = await import('node:test/reporters');
  const { createWriteStream } = await import('node:fs');
  const { finished } = await import('node:stream/promises');

  const stream = run({ files, concurrency: 2 });
  const tapOut = stream.compose(tap).pipe(createWriteStream(tapFile));
  stream.compose(spec).pipe(process.stdout);
  stream.on('test:fail', (data) => {
    if (!data.todo) process.exitCode = 1;
  });

  // Per running file: the tests started and not yet finished, and when the last one started or finished.
  const running = new Map();
  // node:test names a file's own test after the path it was given.
  const isFile = (name, nesting, file) => nesting === 0 && resolve(root, name) === file;
  stream.on('test:dequeue', ({ name, nesting, file }) => {
    if (file === undefined) return;
    if (isFile(name, nesting, file)) return void running.set(file, { tests: [], since: Date.now() });
    const state = running.get(file);
    if (state === undefined) return;
    state.tests.push({ name, nesting });
    state.since = Date.now();
  });
  stream.on('test:complete', ({ name, nesting, file }) => {
    if (file === undefined) return;
    if (isFile(name, nesting, file)) return void running.delete(file);
    const state = running.get(file);
    if (state === undefined) return;
    const at = state.tests.findLastIndex((t) => t.name === name && t.nesting === nesting);
    if (at >= 0) state.tests.splice(at, 1);
    state.since = Date.now();
  });
  const watchdog = setInterval(() => {
    for (const [file, state] of running) {
      if (Date.now() - state.since < TEST_TIMEOUT_MS) continue;
      running.delete(file);
      process.exitCode = 1;
      const names = state.tests.map((t) => t.name).join(' > ');
      console.error(
        `\nrun-tests: ${relative(root, file)}: nothing started or finished for ${TEST_TIMEOUT_MS / 1000} s; ${
          names === '' ? 'no test running (an open handle keeps the file alive?)' : `still running: ${names}`
        }; stopping the file`,
      );
      stopFileProcess(file);
    }
  }, 5_000);
  watchdog.unref();
  await finished(tapOut);
  clearInterval(watchdog);
}

/** Stops the test process node:test started for `file` (a child of this process). */
function stopFileProcess(file) {
  const ps = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' });
  for (const line of (ps.stdout ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (m === null || Number(m[2]) !== process.pid || !(m[3].endsWith(` ${file}`) || m[3].endsWith(` ${relative(root, file)}`))) continue;
    try {
      process.kill(Number(m[1]), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
