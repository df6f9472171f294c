// Each entry point exports an explicit list of names, pinned in
// public-exports.json, so that the public surface grows only on purpose.
//
// After a deliberate change, rewrite the pinned lists with
//   UPDATE_PUBLIC_EXPORTS=1 npm test -- test/package/public-exports
// and review the diff of public-exports.json (and CHANGELOG.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';
import { PINNED_FILE, entrySources, exportNames, readPinned } from './public-exports.js';

const sources = entrySources();
const actual = exportNames(sources);

if (process.env['UPDATE_PUBLIC_EXPORTS'] === '1') writeFileSync(PINNED_FILE, `${JSON.stringify(actual, null, 2)}\n`);

test('every entry point exports exactly its pinned names', () => {
  const pinned = readPinned();
  assert.deepEqual(Object.keys(pinned).sort(), Object.keys(sources).sort(), 'one pinned list per tsup entry');
  for (const entry of Object.keys(sources)) {
    assert.deepEqual(actual[entry], pinned[entry], `exports of ${entry} (UPDATE_PUBLIC_EXPORTS=1 rewrites public-exports.json)`);
  }
});
test('entry points list their exports by name: no `export *`', () => {
  for (const [entry, file] of Object.entries(sources)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const star = source.statements.filter((s) => ts.isExportDeclaration(s) && s.exportClause === undefined);
    assert.deepEqual(
      star.map((s) => s.getText(source)),
      [],
      `${entry}`,
    );
  }
});
