#!/usr/bin/env node
// Runs every test file under test/ with node:test through tsx.
// Node 20's --test expands no globs, and a bare `node --test` finds no .ts file
// and "passes" with zero tests, so the files are listed here explicitly.
// Usage: npm test [-- <path-substring> ...] to run only matching files.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;

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

const filters = process.argv.slice(2);
const files = collect(join(root, 'test')).filter(
  (f) => filters.length === 0 || filters.some((p) => f.includes(p)),
);
if (files.length === 0) {
  console.error('run-tests: no test file matched');
  process.exit(1);
}
// Spec output for people, TAP to a file so that the closing summary below is
// computed from what actually ran.
const tapDir = mkdtempSync(join(tmpdir(), 'aperture-tests-'));
const tapFile = join(tapDir, 'results.tap');
const args = [
  '--import', 'tsx', '--test', '--test-concurrency=2',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
const tap = readFileSync(tapFile, 'utf8');
rmSync(tapDir, { recursive: true, force: true });
const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
const passed = count('pass');
const failed = count('fail') + count('cancelled');
const skipped = count('skipped') + count('todo');
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error('run-tests: no test passed; treating the run as failed');
  process.exit(1);
}
process.exit(result.status ?? 1);
