// docs/errors.md must list every error code the source uses, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const CODE = /L402_ERR_[A-Z0-9_]+/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(CODE)) {
      // `L402_ERR_<AREA>_<WHAT>` in prose is a pattern, not a code.
      if (!m[0].endsWith('_')) codes.add(m[0]);
    }
  }
  return codes;
}

function codesInDocs(): Set<string> {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const codes = new Set<string>();
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`(L402_ERR_[A-Z0-9_]+)`\s*\|/.exec(line);
    if (m?.[1]) codes.add(m[1]);
  }
  return codes;
}

test('every code used in src/ is documented in docs/errors.md', () => {
  const documented = codesInDocs();
  const missing = [...codesInSource()].filter((c) => !documented.has(c)).sort();
  assert.deepEqual(missing, [], `add rows to docs/errors.md for: ${missing.join(', ')}`);
});

test('docs/errors.md lists no code that src/ does not use', () => {
  const used = codesInSource();
  const stale = [...codesInDocs()].filter((c) => !used.has(c)).sort();
  assert.deepEqual(stale, [], `remove or restore: ${stale.join(', ')}`);
});
