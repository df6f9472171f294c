// The README stays true: its TypeScript snippets are lifted from the examples
// (which are type-checked and run by test/examples) with the imports they need,
// its links work from the npm page too, the demo URLs it and the docs show are
// ones `npm start` serves, and CI runs the README's own install and test commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_PAY_PATH } from '../../src/app/aperture-handler.js';

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
  const sources = exampleSources().map((s) =>
    s
      .split('\n')
      .map((l) => l.trim())
      .join('\n'),
  );
  for (const snippet of snippets) {
    const lines = snippet
      .split('\n')
      .map((l) => l.trim())
      .join('\n')
      .trim();
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

test('every TypeScript snippet starts with the imports of what it uses, so that it can be pasted', () => {
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const imports = new Map<string, string>();
  for (const source of exampleSources()) {
    for (const m of source.matchAll(/^import (?:type )?(?:(\w+)|\{([^}]*)\}) from '[^']+';$/gm)) {
      const names =
        m[1] !== undefined
          ? [m[1]]
          : (m[2] ?? '').split(',').map(
              (n) =>
                n
                  .trim()
                  .replace(/^type /, '')
                  .split(' as ')
                  .pop() ?? '',
            );
      for (const name of names) if (name !== '') imports.set(name, m[0]);
    }
  }
  for (const snippet of snippets) {
    assert.match(snippet, /^import /, `snippet without its imports:\n${snippet}`);
    const code = snippet
      .split('\n')
      .filter((l) => !l.startsWith('import '))
      .join('\n');
    for (const [name, line] of imports) {
      if (new RegExp(`\\b${name}\\b`).test(code)) assert.ok(snippet.includes(line), `snippet uses ${name} without '${line}':\n${snippet}`);
    }
  }
});

const REPO = 'https://github.com/aperture-ts/aperture-ts';

test('README links work from the npm page: absolute, and those into this repository name files that exist', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    repository: { url: string };
    homepage: string;
    bugs: { url: string };
  };
  assert.equal(pkg.repository.url, `git+${REPO}.git`);
  assert.equal(pkg.homepage, `${REPO}#readme`);
  assert.equal(pkg.bugs.url, `${REPO}/issues`);
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
  assert.ok(links.length > 10);
  for (const link of links) {
    // npm renders the README away from the repository: a relative link would point into npmjs.com.
    assert.match(link, /^(https:\/\/|#)/, `relative link ${link}`);
    const own = new RegExp(`^${REPO}/(?:blob|tree)/HEAD/(.+)$`).exec(link);
    if (own?.[1] !== undefined) assert.ok(existsSync(join(root, own[1])), `${link}: ${own[1]} does not exist`);
  }
});

test('the demo URLs in the README and docs are ones npm start serves', () => {
  const demo = readFileSync(join(root, 'src/cli/demo-upstream.ts'), 'utf8');
  const served = new Set([...demo.matchAll(/path === '([^']+)'/g)].map((m) => m[1]));
  served.add(DEV_PAY_PATH);
  assert.deepEqual([...served].sort(), ['/api/dev/pay', '/api/free', '/api/quote', '/api/stream']);
  const docs = [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  let seen = 0;
  for (const file of docs) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(/http:\/\/127\.0\.0\.1:8081(\/[^\s'"`)?#]*)?/g)) {
      seen++;
      const path = m[1] ?? '/';
      assert.ok(served.has(path), `${file}: ${m[0]} is not served by npm start (${[...served].join(', ')})`);
    }
  }
  assert.ok(seen >= 5, 'the docs show the demo');
});
