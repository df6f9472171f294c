// One table of error codes (src/core/error-codes.ts): the code type-checks
// against it, docs/errors.md documents exactly it, area by area and in its
// order, and every code in it is used somewhere in src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { L402_ERROR_AREAS, L402_ERROR_CODES, type L402ErrorArea } from '../../src/core/error-codes.js';

const root = new URL('../../', import.meta.url).pathname;
const CODE = /L402_ERR_[A-Z0-9_]+/g;
const TABLE_FILE = join(root, 'src/core/error-codes.ts');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

/** Codes written anywhere in src/ outside the table itself (comments included). */
function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    if (file === TABLE_FILE) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(CODE)) {
      // `L402_ERR_<AREA>_<WHAT>` in prose is a pattern, not a code.
      if (!m[0].endsWith('_')) codes.add(m[0]);
    }
  }
  return codes;
}

/** docs/errors.md as its `##` sections, each with the codes of its table rows in order. */
function docSections(): Array<{ heading: string; codes: string[] }> {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const sections: Array<{ heading: string; codes: string[] }> = [];
  for (const line of doc.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading?.[1] !== undefined) sections.push({ heading: heading[1].trim(), codes: [] });
    const row = /^\|\s*`(L402_ERR_[A-Z0-9_]+)`\s*\|/.exec(line);
    if (row?.[1] !== undefined) {
      assert.ok(sections.length > 0, `${row[1]} is documented before the first section`);
      sections.at(-1)?.codes.push(row[1]);
    }
  }
  return sections;
}

const table = Object.entries(L402_ERROR_CODES) as Array<[string, L402ErrorArea]>;

test('docs/errors.md has one section per area of the code table, in its order', () => {
  const headings = docSections().map((s) => s.heading);
  assert.deepEqual(headings, Object.values(L402_ERROR_AREAS));
});

test('each section of docs/errors.md lists the codes of its area, in the order of the table', () => {
  const sections = docSections();
  for (const [area, heading] of Object.entries(L402_ERROR_AREAS)) {
    const expected = table.filter(([, a]) => a === area).map(([code]) => code);
    const documented = sections.find((s) => s.heading === heading)?.codes ?? [];
    assert.deepEqual(documented, expected, `section "${heading}" of docs/errors.md against src/core/error-codes.ts`);
  }
});

test('every code written in src/ is in the code table', () => {
  const missing = [...codesInSource()].filter((c) => !Object.hasOwn(L402_ERROR_CODES, c)).sort();
  assert.deepEqual(missing, [], `add to src/core/error-codes.ts and docs/errors.md: ${missing.join(', ')}`);
});

test('the code table holds no code that src/ does not use', () => {
  const used = codesInSource();
  const stale = table
    .map(([code]) => code)
    .filter((c) => !used.has(c))
    .sort();
  assert.deepEqual(stale, [], `remove from src/core/error-codes.ts and docs/errors.md, or restore: ${stale.join(', ')}`);
});

test('every code follows L402_ERR_<AREA>_<WHAT>', () => {
  for (const [code] of table) assert.match(code, /^L402_ERR_[A-Z0-9]+_[A-Z0-9_]*[A-Z0-9]$/, code);
});
