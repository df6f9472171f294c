// Library users install only what they use: the database drivers, ioredis and the
// gRPC packages are optional peer dependencies, loaded by the feature that needs
// them, and a missing one is L402_ERR_DEPENDENCY_MISSING naming the install command.
// (test/package/pack.test.ts checks the same on a real install of the packed tarball.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { OPTIONAL_PACKAGES } from '../../src/core/optional-dependency.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  sideEffects: unknown;
};
const optional = Object.keys(OPTIONAL_PACKAGES) as Array<keyof typeof OPTIONAL_PACKAGES>;

test('each optional package is an optional peer dependency (and a devDependency for the tests), never a dependency', () => {
  for (const name of optional) {
    assert.equal(pkg.dependencies[name], undefined, `${name} must not be a dependency`);
    assert.ok(pkg.peerDependencies[name] !== undefined, `${name} is a peer dependency`);
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional`);
    assert.ok(pkg.devDependencies[name] !== undefined, `${name} is installed for the tests`);
    // The version the error tells users to install lies in the peer range.
    const range = (pkg.peerDependencies[name] as string).replace(/^[\^~]/, '');
    assert.ok(
      range.startsWith(`${OPTIONAL_PACKAGES[name]}.`),
      `${name}@${OPTIONAL_PACKAGES[name]} matches ${pkg.peerDependencies[name] as string}`,
    );
  }
  assert.equal(pkg.sideEffects, false);
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

test('no module imports an optional package at load time, except the gRPC entry points (whose users run grpc-js)', () => {
  // The gRPC server adapter and client interceptor are entry points of their own for grpc-js users.
  const allowed = new Set(['src/adapters/grpc/grpc-l402-interceptor.ts', 'src/client/grpc-l402-client-interceptor.ts']);
  const names = optional.map((n) => n.replace(/[/.]/g, '\\$&')).join('|');
  const valueImport = new RegExp(
    `^\\s*import\\s+(?!type\\s)[^;]*?from\\s+['"](${names})(/[^'"]*)?['"]|require\\(\\s*['"](${names})['"]\\s*\\)|(?<!typeof\\s+)import\\(\\s*['"](${names})['"]\\s*\\)`,
    'm',
  );
  const offenders = sourceFiles(join(root, 'src'))
    .map((file) => relative(root, file))
    .filter((file) => !allowed.has(file) && valueImport.test(readFileSync(join(root, file), 'utf8')));
  assert.deepEqual(offenders, [], 'load optional packages with requireOptional() where the feature starts');
});

test('without the optional packages every entry point imports, and each feature that needs one says what to install', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', './test/fixtures/hide-optional-packages.mjs', '--import', 'tsx', 'test/fixtures/optional-packages-absent.ts'],
      { cwd: root },
      (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`))),
    );
  });
  const result = JSON.parse(out) as Record<string, unknown>;
  assert.deepEqual(
    result['imported'],
    [
      'index',
      'express',
      'koa',
      'fastify',
      'hono',
      'node',
      'client',
      'store',
      'mpp',
      'ratelimit',
      'proxy',
      'admin',
      'lightning/dev',
      'lightning/lnd',
      'lightning/ln-service',
    ],
    JSON.stringify(result, null, 2),
  );
  const grpc =
    'the packages @grpc/grpc-js, @grpc/proto-loader and protobufjs: npm install @grpc/grpc-js@1 @grpc/proto-loader@0.8 protobufjs@7';
  assert.deepEqual(
    {
      SqliteStore: result['SqliteStore'],
      PostgresStore: result['PostgresStore'],
      RedisRateLimitStore: result['RedisRateLimitStore'],
      RedisFreebieCounter: result['RedisFreebieCounter'],
      LndInvoicer: result['LndInvoicer'],
      LndPayer: result['LndPayer'],
      GrpcPricer: result['GrpcPricer'],
      AdminApi: result['AdminApi'],
      MemoryStore: result['MemoryStore'],
      MemoryRateLimitStore: result['MemoryRateLimitStore'],
      startAperture: result['startAperture'],
      'aperturecli info': result['aperturecli info'],
      'aperturecli mcp serve': result['aperturecli mcp serve'],
      'aperturecli schema': result['aperturecli schema'],
    },
    {
      SqliteStore: 'L402_ERR_DEPENDENCY_MISSING: SqliteStore needs the package better-sqlite3: npm install better-sqlite3@12',
      PostgresStore: 'L402_ERR_DEPENDENCY_MISSING: PostgresStore needs the package pg: npm install pg@8',
      RedisRateLimitStore: 'L402_ERR_DEPENDENCY_MISSING: RedisRateLimitStore needs the package ioredis: npm install ioredis@5',
      RedisFreebieCounter: 'L402_ERR_DEPENDENCY_MISSING: RedisFreebieCounter needs the package ioredis: npm install ioredis@5',
      LndInvoicer: `L402_ERR_DEPENDENCY_MISSING: LndInvoicer needs ${grpc}`,
      LndPayer: `L402_ERR_DEPENDENCY_MISSING: LndPayer needs ${grpc}`,
      GrpcPricer: `L402_ERR_DEPENDENCY_MISSING: GrpcPricer (dynamicprice) needs ${grpc}`,
      AdminApi: 'L402_ERR_DEPENDENCY_MISSING: the admin API needs the package protobufjs: npm install protobufjs@7',
      MemoryStore: 'no error',
      MemoryRateLimitStore: 'no error',
      // Before anything starts, everything the configuration needs, at once.
      startAperture:
        'L402_ERR_DEPENDENCY_MISSING: this configuration (dbbackend: sqlite, the lnd backend, dynamicprice, ratelimitstore: redis) needs the packages better-sqlite3, @grpc/grpc-js, @grpc/proto-loader, protobufjs and ioredis: npm install better-sqlite3@12 @grpc/grpc-js@1 @grpc/proto-loader@0.8 protobufjs@7 ioredis@5',
      'aperturecli info':
        '1 L402_ERR_DEPENDENCY_MISSING: aperturecli needs the packages @grpc/grpc-js and protobufjs: npm install @grpc/grpc-js@1 protobufjs@7',
      'aperturecli mcp serve':
        '1 L402_ERR_DEPENDENCY_MISSING: aperturecli mcp serve needs the packages @modelcontextprotocol/server and zod: npm install @modelcontextprotocol/server@2 zod@4',
      // The schema needs nothing optional (it prints, exit 0, no error line).
      'aperturecli schema': '0 : ',
    },
  );
});
