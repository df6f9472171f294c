// The README stays true: its TypeScript snippets are lifted from the examples
// (which are type-checked and run by test/examples), and CI runs the README's
// own install and test commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function exampleSources(): string[] {
  const dir = join(root, 'examples');
  return readdirSync(dir).flatMap((name) =>
    readdirSync(join(dir, name))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(join(dir, name, file), 'utf8')),
  );
}

test('every TypeScript snippet in the README stands, line for line, in an example', () => {
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.ok(snippets.length >= 2, 'the README shows code');
  const sources = exampleSources().map((s) => s.split('\n').map((l) => l.trim()).join('\n'));
  for (const snippet of snippets) {
    const lines = snippet.split('\n').map((l) => l.trim()).join('\n').trim();
    assert.ok(
      sources.some((source) => source.includes(lines)),
      `README snippet not found in examples/:\n${snippet}`,
    );
  }
});

test('CI runs the install and test commands the README opens with', () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(firstBlock, /^npm ci && npm start\b/m);
  assert.match(firstBlock, /^npm test\b/m);
  const ci = readFileSync(join(root, '.ci/run'), 'utf8');
  assert.match(ci, /^npm ci\b/m);
  assert.match(ci, /^npm test\b/m);
});
