// Optional peer dependencies: loaded when a feature starts, a missing one named with its install command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { L402Error } from '../../src/core/errors.js';
import { dependencyMissing, missingOptional, requireOptional } from '../../src/core/optional-dependency.js';

/** A `require` that finds only the given packages, failing for the others as Node does. */
function requireOnly(present: Record<string, unknown>): (id: string) => unknown {
  return (id) => {
    if (Object.hasOwn(present, id)) return present[id];
    throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /app/index.js`), { code: 'MODULE_NOT_FOUND' });
  };
}

test('a missing package is a coded error naming it and the command that installs it', () => {
  assert.throws(
    () => requireOptional(requireOnly({}), 'SqliteStore', ['better-sqlite3']),
    (error: unknown) => {
      assert.ok(error instanceof L402Error);
      assert.equal(error.code, 'L402_ERR_DEPENDENCY_MISSING');
      assert.equal(error.message, 'SqliteStore needs the package better-sqlite3: npm install better-sqlite3@12');
      assert.match(String((error.cause as Error).message), /Cannot find module 'better-sqlite3'/);
      return true;
    },
  );
});

test('every missing package of a group is named in one error; present ones are not', () => {
  assert.throws(
    () => requireOptional(requireOnly({ protobufjs: {} }), 'LndInvoicer', ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs']),
    {
      code: 'L402_ERR_DEPENDENCY_MISSING',
      message: 'LndInvoicer needs the packages @grpc/grpc-js and @grpc/proto-loader: npm install @grpc/grpc-js@1 @grpc/proto-loader@0.8',
    },
  );
  assert.equal(
    dependencyMissing('X', ['pg', 'ioredis', 'protobufjs']).message,
    'X needs the packages pg, ioredis and protobufjs: npm install pg@8 ioredis@5 protobufjs@7',
  );
});

test('present packages are returned in order; other load failures are not disguised as missing packages', () => {
  const a = { name: 'grpc' };
  const b = { name: 'loader' };
  assert.deepEqual(
    requireOptional(requireOnly({ '@grpc/grpc-js': a, '@grpc/proto-loader': b }), 'f', ['@grpc/proto-loader', '@grpc/grpc-js']),
    [b, a],
  );
  // A native module built for another Node, or a missing file inside the package: the real error.
  const broken = (): never => {
    throw Object.assign(new Error('The module was compiled against a different Node.js version'), { code: 'ERR_DLOPEN_FAILED' });
  };
  assert.throws(() => requireOptional(broken, 'SqliteStore', ['better-sqlite3']), { code: 'ERR_DLOPEN_FAILED' });
  const inner = (): never => {
    throw Object.assign(new Error("Cannot find module 'bindings'"), { code: 'MODULE_NOT_FOUND' });
  };
  assert.throws(() => requireOptional(inner, 'SqliteStore', ['better-sqlite3']), { code: 'MODULE_NOT_FOUND' });
});

test('missingOptional lists what a real require cannot find', () => {
  const require = createRequire(import.meta.url);
  // Installed here as devDependencies.
  assert.deepEqual(missingOptional(require, ['better-sqlite3', 'pg', 'ioredis', '@grpc/grpc-js']), []);
  assert.deepEqual(missingOptional(requireOnly({ pg: {} }), ['better-sqlite3', 'pg', 'ioredis']), ['better-sqlite3', 'ioredis']);
});
