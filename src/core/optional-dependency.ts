/**
 * Packages that only some features need (a database driver, Redis, gRPC) are
 * optional peer dependencies: a user installs those of the features they use.
 * Each feature loads its packages when it is first used, through
 * {@link requireOptional}, and a missing one is a coded error that says what to
 * install, never a failed import of the whole entry point.
 */
import { L402Error } from './errors.js';

/**
 * The optional packages, with the version to install (as `npm install
 * name@version` takes it). package.json's `peerDependencies` hold the same
 * packages; test/package/optional-dependencies.test.ts keeps the two in step.
 */
export const OPTIONAL_PACKAGES = {
  'better-sqlite3': '12',
  pg: '8',
  ioredis: '5',
  '@grpc/grpc-js': '1',
  '@grpc/proto-loader': '0.8',
  protobufjs: '7',
  ws: '8',
  'nostr-tools': '2',
  '@modelcontextprotocol/server': '2',
  zod: '4',
} as const;

/** The name of an optional package. */
export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

/**
 * The error for packages a feature needs and cannot find.
 * @param feature - what needs them, e.g. `SqliteStore`
 * @param missing - the packages that are not installed
 * @param cause - the loader's error, when there is one
 * @returns an `L402_ERR_DEPENDENCY_MISSING` error whose message ends in the `npm install` command
 */
export function dependencyMissing(feature: string, missing: readonly OptionalPackage[], cause?: unknown): L402Error {
  const names =
    missing.length === 1
      ? `the package ${missing[0] ?? ''}`
      : `the packages ${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1] ?? ''}`;
  const install = `npm install ${missing.map((name) => `${name}@${OPTIONAL_PACKAGES[name]}`).join(' ')}`;
  return new L402Error('L402_ERR_DEPENDENCY_MISSING', `${feature} needs ${names}: ${install}`, cause === undefined ? {} : { cause });
}

/** Whether `error` says that `name` itself (not something it requires) cannot be found. */
function isNotFound(error: unknown, name: string): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return false;
  return typeof message === 'string' && (message.includes(`'${name}'`) || message.includes(`"${name}"`));
}

/**
 * Loads optional packages with a `require` function (`createRequire(import.meta.url)`
 * of the calling module, so that they resolve from this package as a static
 * import would). All or nothing: every missing package is named in one error.
 * Node caches modules, so calling this again is cheap, but call it when a
 * feature starts (a constructor, a `connect`), never per request.
 *
 * @param require - the caller's `require`
 * @param feature - what needs the packages, for the message (`SqliteStore`)
 * @param names - the packages, in the order their modules are returned
 * @returns the modules, in the order of `names`
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` naming every missing package and the
 *   command that installs them; other load errors (a native module built for another
 *   Node version) are thrown as they are
 */
export function requireOptional(require: (id: string) => unknown, feature: string, names: readonly OptionalPackage[]): unknown[] {
  const modules: unknown[] = [];
  const missing: OptionalPackage[] = [];
  let firstCause: unknown;
  for (const name of names) {
    try {
      modules.push(require(name));
    } catch (error) {
      if (!isNotFound(error, name)) throw error;
      missing.push(name);
      firstCause ??= error;
    }
  }
  if (missing.length > 0) throw dependencyMissing(feature, missing, firstCause);
  return modules;
}

/**
 * Which of some optional packages cannot be found, e.g. to report everything a
 * configuration needs at once before starting any of it. Those found are loaded.
 * @param require - the caller's `require`
 * @param names - the packages
 * @returns the missing ones, in the order of `names`
 */
export function missingOptional(require: (id: string) => unknown, names: readonly OptionalPackage[]): OptionalPackage[] {
  return names.filter((name) => {
    try {
      require(name);
      return false;
    } catch (error) {
      if (isNotFound(error, name)) return true;
      throw error;
    }
  });
}
