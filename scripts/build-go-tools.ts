#!/usr/bin/env node
/**
 * Builds the Go programs the regtest tests run (test/regtest/): lnd and btcd
 * (test/go/lnd), the reference aperture and aperturecli, our small client of
 * its `l402` package and our two-ended LNC session over the Go LNC `mailbox`
 * package (test/go/aperture), and our runner of lightning-node-connect's
 * gbn for the LNC interop test (test/go/lnc), each at the version its go.mod/go.sum
 * pin, once per machine, into a cache outside the repository:
 * `$APERTURE_TS_GO_BIN` or `~/.cache/aperture-ts/go-bin/<name>-<version>-<key>/<name>`,
 * where the key hashes the Go version, the module's go.mod and go.sum, the
 * build tags and (for our own programs) their sources. A changed pin gives a
 * new folder, so a stale binary is never used.
 *
 * Usage: node --import tsx scripts/build-go-tools.ts [name ...]   builds what is missing
 *        node --import tsx scripts/build-go-tools.ts --list        prints where each one is
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;

/** One Go program the tests run. */
export interface GoTool {
  /** Binary name. */
  name: string;
  /** Folder of the Go module (relative to the repository) that pins it. */
  module: string;
  /** Package to build: an import path, or `./…` for our own code in the module. */
  pkg: string;
  /** Module whose required version names the build (absent for our own code). */
  versionOf?: string;
  /** Build tags. */
  tags?: string[];
}

/**
 * lnd's build tags: the RPC subservers used here (invoicesrpc: SubscribeSingleInvoice and hold
 * invoices; routerrpc: SendPaymentV2; signrpc, walletrpc, chainrpc: what lndclient, under the
 * reference's client, requires; peersrpc), plus `dev` and `integration` as lnd's own itest build
 * (make/testing_flags.mk: ITEST_TAGS): cheap scrypt for the wallet and macaroon database, short
 * polling intervals, so a node starts in a second or two.
 */
const LND_TAGS = ['dev', 'integration', 'signrpc', 'walletrpc', 'chainrpc', 'invoicesrpc', 'routerrpc', 'peersrpc'];

/** Every Go program of the regtest tests. */
export const goTools: readonly GoTool[] = [
  {
    name: 'lnd',
    module: 'test/go/lnd',
    pkg: 'github.com/lightningnetwork/lnd/cmd/lnd',
    versionOf: 'github.com/lightningnetwork/lnd',
    tags: LND_TAGS,
  },
  { name: 'btcd', module: 'test/go/lnd', pkg: 'github.com/btcsuite/btcd', versionOf: 'github.com/btcsuite/btcd' },
  {
    name: 'aperture',
    module: 'test/go/aperture',
    pkg: 'github.com/lightninglabs/aperture/cmd/aperture',
    versionOf: 'github.com/lightninglabs/aperture',
  },
  {
    name: 'aperturecli',
    module: 'test/go/aperture',
    pkg: 'github.com/lightninglabs/aperture/cmd/aperturecli',
    versionOf: 'github.com/lightninglabs/aperture',
  },
  { name: 'l402-grpc-client', module: 'test/go/aperture', pkg: './cmd/l402-grpc-client' },
  // Our runner of lightning-node-connect's gbn over stdin/stdout (test/lnc/gbn-go-interop.test.ts).
  { name: 'gbn-peer', module: 'test/go/lnc', pkg: './cmd/gbn-peer' },
  // Both ends of an LNC session with the Go LNC code, through our hashmail server (test/lnc/).
  { name: 'lnc-mailbox-peer', module: 'test/go/aperture', pkg: './cmd/lnc-mailbox-peer' },
];

/** Names of the programs. */
export type GoToolName = 'lnd' | 'btcd' | 'aperture' | 'aperturecli' | 'l402-grpc-client' | 'gbn-peer' | 'lnc-mailbox-peer';

/** Where the binaries are cached. */
export function cacheRoot(): string {
  const fromEnv = process.env['APERTURE_TS_GO_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'aperture-ts', 'go-bin');
}

/** The `go` command: on the PATH, else Go's default install folder. */
export function goCommand(): string | undefined {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(candidate, ['env', 'GOVERSION'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

let goVersionMemo: string | undefined;
function goVersion(go: string): string {
  goVersionMemo ??= spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
  return goVersionMemo;
}

function toolNamed(name: GoToolName): GoTool {
  const tool = goTools.find((t) => t.name === name);
  if (tool === undefined) throw new Error(`unknown Go tool ${name}`);
  return tool;
}

/** The version go.mod requires of `modulePath`. */
function requiredVersion(goMod: string, modulePath: string): string {
  const m = new RegExp(`^\\s*(?:require\\s+)?${modulePath.replace(/[.]/g, '\\.')}\\s+(v\\S+)`, 'm').exec(goMod);
  if (m?.[1] === undefined) throw new Error(`${modulePath} is not required in go.mod`);
  return m[1];
}

function ownSources(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) return ownSources(full);
      // The path relative to the repository, so that every checkout (worktrees, CI's clone) finds the same cached build.
      return name.endsWith('.go') ? [`${relative(root, full)}\n${readFileSync(full, 'utf8')}`] : [];
    });
}

/**
 * Where the binary of `name` is (or will be) for the pinned versions and this Go.
 * @param go - the go command (its version is part of the key)
 */
export function toolPath(name: GoToolName, go: string): string {
  const tool = toolNamed(name);
  const moduleDir = join(root, tool.module);
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const goSum = readFileSync(join(moduleDir, 'go.sum'), 'utf8');
  const hash = createHash('sha256');
  hash.update(`${goVersion(go)}\n${tool.pkg}\n${(tool.tags ?? []).join(',')}\n${goMod}\n${goSum}\n`);
  if (tool.pkg.startsWith('./')) for (const source of ownSources(join(moduleDir, tool.pkg))) hash.update(source);
  const version = tool.versionOf === undefined ? 'local' : requiredVersion(goMod, tool.versionOf);
  return join(cacheRoot(), `${name}-${version}-${hash.digest('hex').slice(0, 12)}`, name);
}

/**
 * Builds `name` unless its binary is cached.
 * @returns the binary's path and the build time (0 when it was cached)
 */
export function buildTool(name: GoToolName, go: string): { path: string; seconds: number } {
  const path = toolPath(name, go);
  if (existsSync(path)) return { path, seconds: 0 };
  const tool = toolNamed(name);
  const dir = join(path, '..');
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const args = ['build', '-trimpath', '-o', join(staging, name)];
  if (tool.tags !== undefined) args.push(`-tags=${tool.tags.join(' ')}`);
  args.push(tool.pkg);
  const started = process.hrtime.bigint();
  const result = spawnSync(go, args, {
    cwd: join(root, tool.module),
    stdio: 'inherit',
    // Pure Go (lnd's own release builds are CGO_ENABLED=0); go.sum is the pin, never rewritten.
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly', GO111MODULE: 'on' },
  });
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`go ${args.join(' ')} failed in ${tool.module} (exit ${result.status ?? result.signal})`);
  }
  mkdirSync(join(dir, '..'), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return { path, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

function main(argv: string[]): number {
  const go = goCommand();
  if (go === undefined) {
    console.error('build-go-tools: no Go toolchain found (go on the PATH or /usr/local/go/bin/go)');
    return 1;
  }
  const list = argv.includes('--list');
  const names = argv.filter((a) => !a.startsWith('--')) as GoToolName[];
  const wanted = names.length > 0 ? names : goTools.map((t) => t.name as GoToolName);
  for (const name of wanted) {
    if (list) {
      const path = toolPath(name, go);
      console.log(`${name}\t${existsSync(path) ? path : `${path} (not built)`}`);
      continue;
    }
    const { path, seconds } = buildTool(name, go);
    console.log(seconds === 0 ? `${name}: cached at ${path}` : `${name}: built in ${seconds.toFixed(0)} s at ${path}`);
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
