/**
 * Importing one adapter's entry loads no other framework: each entry is
 * imported in a fresh process whose resolve hook records every module URL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const recorder = pathToFileURL(join(root, 'test/fixtures/adapters/record-resolutions.mjs')).href;
const frameworks = ['express', 'koa', 'fastify', 'hono', '@hono/node-server', '@grpc/grpc-js'] as const;
const dir = mkdtempSync(join(tmpdir(), 'adapter-isolation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Imports `specifier` in a fresh Node process and returns the frameworks whose files were loaded. */
async function frameworksLoadedBy(specifier: string, name: string): Promise<string[]> {
  const target = join(dir, `${name}.txt`);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', recorder, '--input-type=module', '-e', `await import(${JSON.stringify(specifier)});`],
    { cwd: root, env: { ...process.env, RECORD_RESOLUTIONS_TO: target }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  const urls = readFileSync(target, 'utf8').split('\n');
  return frameworks.filter((f) => urls.some((url) => url.includes(`/node_modules/${f}/`)));
}

const entry = (name: string): string => pathToFileURL(join(root, `src/adapters/${name}/index.ts`)).href;

describe('adapter entries load only their own framework', () => {
  it('the recorder sees a framework that is imported (the check can fail)', async () => {
    assert.deepEqual(await frameworksLoadedBy('express', 'sanity'), ['express']);
  });

  for (const [name, allowed] of [
    ['express', []],
    ['koa', []],
    ['node', []],
    ['fastify', []],
    ['hono', []],
    ['grpc', ['@grpc/grpc-js']],
  ] as const) {
    it(`${name}: loads ${allowed.length === 0 ? 'no framework at all' : allowed.join(', ')}`, async () => {
      assert.deepEqual(await frameworksLoadedBy(entry(name), name), [...allowed]);
    });
  }
});
