// The package as npm ships it: `npm pack` (its prepack builds dist/), then a fresh
// install of the tarball in a temporary directory, used as a user would: the
// programs, every entry point in ESM and CJS, the types with skipLibCheck off,
// all without the optional packages; then `aperture` with better-sqlite3 added.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPTIONAL_PACKAGES } from '../../src/core/optional-dependency.js';
import { freePort } from '../e2e/support.js';
import { exportNames, readPinned } from './public-exports.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; exports: Record<string, unknown> };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// `npm test` runs this file with npm's variables for this project (npm_config_local_prefix,
// npm_package_*): the npm commands below must work on their own directories, so only the
// settings of npm itself (cache, registry, certificates) are passed on.
const KEEP_NPM = new Set([
  'npm_config_cache',
  'npm_config_registry',
  'npm_config_userconfig',
  'npm_config_globalconfig',
  'npm_config_cafile',
]);
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_') || KEEP_NPM.has(key.toLowerCase())),
);

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...baseEnv, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

let work = '';
let app = '';
let packed: Array<{ path: string }> = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'aperture-pack-'));
  // No dist/ to start with: npm pack must build it itself (prepack), or it would ship a package without code.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const pack = await run(npm, ['pack', '--json', '--pack-destination', work], root);
  assert.equal(pack.code, 0, pack.stderr);
  // The prepack build writes its own lines (some with `[`) before npm's JSON, which starts on a line of its own.
  const start = pack.stdout.search(/^\[\s*$/m);
  assert.ok(start !== -1, `no JSON in npm pack's output:\n${pack.stdout}`);
  const [info] = JSON.parse(pack.stdout.slice(start)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  assert.ok(info !== undefined);
  packed = info.files;
  app = join(work, 'app');
  await run('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-test-app', version: '1.0.0', private: true }));
  // From npm's cache when it has the dependencies (it does after npm ci); install scripts are not what is tested here.
  const install = await run(
    npm,
    ['install', join(work, info.filename), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'],
    app,
  );
  assert.equal(install.code, 0, install.stderr);
});

after(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

test('the tarball has the build, the programs and the README, and no sources, tests or protos', () => {
  const paths = packed.map((f) => f.path);
  for (const expected of [
    'package.json',
    'README.md',
    'CHANGELOG.md',
    'LICENSE',
    'bin/aperture.js',
    'bin/aperturecli.js',
    'dist/index.js',
    'dist/index.cjs',
    'dist/index.d.ts',
    'dist/cli/aperture.js',
    'dist/cli/aperturecli.js',
    'dist/client.js',
    'dist/client/file-token-store.js',
    'dist/dashboard.js',
    'dist/dashboard-app/index.html',
    'dist/dashboard-app/app.js',
    'dist/dashboard-app/app.css',
    'dist/dashboard-app/LICENSES.txt',
  ]) {
    assert.ok(paths.includes(expected), `${expected} is packed`);
  }
  assert.deepEqual(
    paths.filter((p) => /^(src|test|proto|docs|bench|examples|scripts)\//.test(p)),
    [],
  );
});

test('a plain install brings none of the optional packages', () => {
  for (const name of Object.keys(OPTIONAL_PACKAGES)) assert.equal(existsSync(join(app, 'node_modules', name)), false, `${name} installed`);
});

test('the installed programs run: --version, and --check-config says which packages a start needs', async () => {
  const bin = join(app, 'node_modules', '.bin');
  assert.equal((await run(join(bin, 'aperture'), ['--version'], app)).stdout, `aperture ${pkg.version} (aperture-ts)\n`);
  assert.equal((await run(join(bin, 'aperturecli'), ['--version'], app)).stdout, `aperturecli version ${pkg.version} (aperture-ts)\n`);
  const unknown = await run(join(bin, 'aperture'), ['--chek-config'], app);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /did you mean --check-config\?/);

  const port = await freePort();
  const config = join(work, 'aperture.yaml');
  writeFileSync(
    config,
    `listenaddr: 127.0.0.1:${port}\ninsecure: true\nauthenticator:\n  backend: dev\nservices:\n  - name: api\n    hostregexp: '.*'\n    address: 127.0.0.1:9\n    price: 10\n    timeout: 600\n`,
  );
  const check = await run(join(bin, 'aperture'), ['--check-config', '--config', config, '--basedir', join(work, 'base')], app);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /OK: configuration is valid/);
  assert.match(
    check.stdout,
    /note: to start, this configuration \(dbbackend: sqlite\) needs the package better-sqlite3: npm install better-sqlite3@12 \[L402_ERR_DEPENDENCY_MISSING\]/,
  );

  const start = await run(join(bin, 'aperture'), ['--config', config, '--basedir', join(work, 'base')], app);
  assert.equal(start.code, 1);
  assert.match(
    start.stderr,
    /aperture: cannot start: this configuration \(dbbackend: sqlite\) needs the package better-sqlite3: npm install better-sqlite3@12 \[L402_ERR_DEPENDENCY_MISSING\]/,
  );
  assert.doesNotMatch(start.stdout, /listening/);
});

test('every entry point loads in ESM and CJS without the optional packages; the features that need one say so', async () => {
  const subpaths = Object.keys(pkg.exports)
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? 'aperture-ts' : `aperture-ts/${k.slice(2)}`));
  // The gRPC entries are for grpc-js users and load it; everything else must load without it.
  const loadable = subpaths.filter((s) => s !== 'aperture-ts/grpc' && s !== 'aperture-ts/client/grpc');
  const esm = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    for (const s of ${JSON.stringify(loadable)}) await import(s);
    const { SqliteStore } = await import('aperture-ts/store');
    try { new SqliteStore({ path: ${JSON.stringify(join(work, 'x.db'))} }); } catch (e) { console.log(e.code + ': ' + e.message); }
  `,
    ],
    app,
  );
  assert.equal(esm.code, 0, esm.stderr);
  assert.equal(esm.stdout, 'L402_ERR_DEPENDENCY_MISSING: SqliteStore needs the package better-sqlite3: npm install better-sqlite3@12\n');
  const cjs = await run(
    process.execPath,
    [
      '-e',
      `
    for (const s of ${JSON.stringify(loadable)}) require(s);
    const { RedisRateLimitStore } = require('aperture-ts/ratelimit');
    try { new RedisRateLimitStore({ url: 'redis://127.0.0.1:1' }); } catch (e) { console.log(e.code + ': ' + e.message); }
  `,
    ],
    app,
  );
  assert.equal(cjs.code, 0, cjs.stderr);
  assert.equal(cjs.stdout, 'L402_ERR_DEPENDENCY_MISSING: RedisRateLimitStore needs the package ioredis: npm install ioredis@5\n');
  const grpc = await run(process.execPath, ['--input-type=module', '-e', "await import('aperture-ts/grpc')"], app);
  assert.match(grpc.stderr, /Cannot find package '@grpc\/grpc-js'/);
});

test('the type declarations compile without the optional packages (skipLibCheck off)', async () => {
  // use.ts is CommonJS here (the app has no "type"), so it reads the .d.cts files; use.mts reads the .d.ts files.
  const source = `
import { Gate, MemorySecretStore } from 'aperture-ts';
import { expressL402 } from 'aperture-ts/express';
import { wrapFetch, MemoryTokenStore } from 'aperture-ts/client';
import { FileTokenStore } from 'aperture-ts/client/file-token-store';
import { SqliteStore, PostgresStore, openStore } from 'aperture-ts/store';
import { RedisRateLimitStore, MemoryRateLimitStore, type RedisClient } from 'aperture-ts/ratelimit';
import { LndInvoicer } from 'aperture-ts/lightning/lnd';
import { startAperture } from 'aperture-ts/app';
export const used = [Gate, MemorySecretStore, expressL402, wrapFetch, MemoryTokenStore, FileTokenStore, SqliteStore, PostgresStore, openStore, RedisRateLimitStore, MemoryRateLimitStore, LndInvoicer, startAperture];
export type Client = RedisClient;
`;
  writeFileSync(join(app, 'use.ts'), source);
  writeFileSync(join(app, 'use.mts'), source);
  const tsc = await run(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      'false',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--typeRoots',
      join(root, 'node_modules/@types'),
      '--types',
      'node',
      'use.ts',
      'use.mts',
    ],
    app,
  );
  assert.equal(tsc.code, 0, tsc.stdout + tsc.stderr);
});

test('the published declarations export exactly the pinned names, and nothing marked @internal', () => {
  const installed = join(app, 'node_modules', 'aperture-ts');
  const entries = Object.keys(readPinned()).filter((entry) => !entry.startsWith('cli/'));
  const pinned = readPinned();
  for (const ext of ['d.ts', 'd.cts']) {
    // A class exported as a type in the source comes out as a value here: pins and declarations must agree.
    const published = exportNames(Object.fromEntries(entries.map((entry) => [entry, join(installed, 'dist', `${entry}.${ext}`)])));
    for (const entry of entries) assert.deepEqual(published[entry], pinned[entry], `dist/${entry}.${ext}`);
  }
  const declarations = packed.map((f) => f.path).filter((p) => /\.d\.c?ts$/.test(p));
  assert.ok(declarations.length > entries.length, 'declarations are packed');
  assert.deepEqual(
    declarations.filter((p) => p.startsWith('dist/cli/')),
    [],
    'the programs ship no declarations',
  );
  for (const path of declarations) {
    const text = readFileSync(join(installed, path), 'utf8');
    assert.doesNotMatch(text, /@internal/, path);
    // Internal helpers that once were exported must not come back into the types, even unexported.
    assert.doesNotMatch(text, /\b(BoundedCache|signatureChain|TEXT_PLAIN|parseYamlConfig|ApertureHandler|createAuthorize)\b/, path);
  }
});

test('with better-sqlite3 added, the installed aperture starts and challenges', async () => {
  // What `npm install better-sqlite3` would add (the repository's own build of it).
  symlinkSync(join(root, 'node_modules', 'better-sqlite3'), join(app, 'node_modules', 'better-sqlite3'));
  const port = await freePort();
  const config = join(work, 'started.yaml');
  writeFileSync(
    config,
    `listenaddr: 127.0.0.1:${port}\ninsecure: true\ndebuglevel: warn\nauthenticator:\n  backend: dev\nservices:\n  - name: api\n    hostregexp: '.*'\n    address: 127.0.0.1:9\n    price: 10\n    timeout: 600\n`,
  );
  const child = spawn(join(app, 'node_modules', '.bin', 'aperture'), ['--config', config, '--basedir', join(work, 'started')], {
    cwd: app,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('aperture listening on')) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`aperture exited with ${String(code)}:\n${output}`)));
    });
    const challenge = await fetch(`http://127.0.0.1:${port}/anything`);
    assert.equal(challenge.status, 402);
    assert.match(challenge.headers.get('www-authenticate') ?? '', /L402 macaroon="[^"]+", invoice="lnbcrt100n1/);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
});
