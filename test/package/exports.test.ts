// package.json "exports", tsup's entries and typedoc's entry points describe the
// same public API; they must not drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { entries } from '../../tsup.config.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const typedoc = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };

function subpathOf(entry: string): string {
  return entry === 'index' ? '.' : `./${entry}`;
}

// Entries under cli/ are the programs behind bin/, not public subpaths.
const publicEntries = Object.entries(entries).filter(([entry]) => !entry.startsWith('cli/'));

test('every public tsup entry is an export with ESM, CJS and types, and vice versa', () => {
  const subpaths = Object.keys(pkg.exports)
    .filter((k) => k !== './package.json')
    .sort();
  assert.deepEqual(subpaths, publicEntries.map(([entry]) => subpathOf(entry)).sort());
  for (const [entry, source] of publicEntries) {
    assert.ok(existsSync(join(root, source)), `${source} exists`);
    assert.deepEqual(pkg.exports[subpathOf(entry)], {
      types: { import: `./dist/${entry}.d.ts`, require: `./dist/${entry}.d.cts` },
      import: `./dist/${entry}.js`,
      require: `./dist/${entry}.cjs`,
    });
  }
});

test('every program behind bin/ has its source', () => {
  for (const [entry, source] of Object.entries(entries)) {
    if (entry.startsWith('cli/')) assert.ok(existsSync(join(root, source)), `${source} exists`);
  }
});

test('tsconfig maps every public subpath to its source, so examples import the package by name', () => {
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { paths: Record<string, string[]> };
  };
  const expected = Object.fromEntries(
    publicEntries.map(([entry, source]) => [entry === 'index' ? 'aperture-ts' : `aperture-ts/${entry}`, [`./${source}`]]),
  );
  assert.deepEqual(tsconfig.compilerOptions.paths, expected);
});

test('typedoc documents every public entry point', () => {
  const publicSources = publicEntries.map(([, source]) => source).sort();
  assert.deepEqual([...typedoc.entryPoints].sort(), publicSources);
});
