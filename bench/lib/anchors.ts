// The anchor rows: what users compare aperture with, measured in the same run
// on the same upstream and tokens. The Go aperture's per-request path (a
// measuring instrument kept outside the repository, in
// ../shared/anchors/go-aperture, built here with Go in module mode) and nginx
// `proxy_pass` (the ceiling of a C proxy). This file decides whether they run
// (or why not) and builds the Go one; bench/lib/scenarios.ts runs them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { BENCH_DIR } from './processes.js';

/** The anchor rows, each compared with `proxy-l402` (see `proxy_l402_ratio` in results.ts). */
export const GO_ANCHOR_ROWS = ['go-aperture', 'go-aperture-tuned'] as const;
export const NGINX_ROWS = ['nginx'] as const;
/** The reference aperture program itself (v0.5.0, built from test/go/aperture by scripts/build-go-tools.ts). */
export const REFERENCE_ROWS = ['reference-aperture'] as const;
export const ANCHOR_ROWS: readonly string[] = [...GO_ANCHOR_ROWS, ...REFERENCE_ROWS, ...NGINX_ROWS];

/**
 * What `proxy-l402 / <anchor>` was when the rows were added (issue 15: one core
 * each, wrk, 64 connections, same upstream and tokens: aperture 9,400 req/s
 * with L402; the Go path 3,100 as the reference runs it and 4,400 tuned; nginx
 * 21,700). The restructure must not lower these ratios; results.ts reports
 * each as a target.
 */
export const ANCHOR_REFERENCE_RATIOS: Readonly<Record<string, { ratio: number; note: string }>> = {
  'go-aperture': { ratio: 3.0, note: '9,400 vs 3,100 req/s' },
  'go-aperture-tuned': { ratio: 2.1, note: '9,400 vs 4,400 req/s' },
  nginx: { ratio: 0.43, note: '9,400 vs 21,700 req/s' },
};

/**
 * The Go anchor's flags per row: the reference's defaults (Go's 2 idle
 * upstream connections per host, an access-log line per request), and tuned
 * ("a Go proxy done right", the anchor's README).
 */
export const GO_ANCHOR_FLAGS: Readonly<Record<(typeof GO_ANCHOR_ROWS)[number], readonly string[]>> = {
  'go-aperture': [],
  'go-aperture-tuned': ['-idle-per-host', '256', '-accesslog=false'],
};

/**
 * The command line of the Go anchor in front of the bench upstream: L402 for
 * service `bench` (the tokens' `services` caveat), root keys read per request
 * from the SQLite file aperture's rows use (its default table is our store's
 * `root_keys`), the port chosen by the system and printed.
 */
export function goAnchorArgs(o: { upstreamPort: number; db: string; flags: readonly string[] }): string[] {
  return [
    '-listen',
    '127.0.0.1:0',
    '-upstream',
    `127.0.0.1:${String(o.upstreamPort)}`,
    '-mode',
    'l402',
    '-service',
    'bench',
    '-db',
    o.db,
    ...o.flags,
  ];
}

/** The wrk connections of the reference ratios (the bench's default is 32; `--connections 64` compares like for like). */
export const ANCHOR_REFERENCE_CONNECTIONS = 64;

/** The environment variable naming the Go anchor's folder (same as `--go-anchor`). */
export const GO_ANCHOR_ENV = 'APERTURE_BENCH_GO_ANCHOR';

/** The repository's root (bench/..). */
const REPO_ROOT = resolve(BENCH_DIR, '..');

/** Where a checkout finds the Go anchor when nothing names it: beside the repository, in the shared folder. */
export const DEFAULT_GO_ANCHOR_DIR = resolve(REPO_ROOT, '..', 'shared', 'anchors', 'go-aperture');

/** Where built anchors are kept between runs (ignored by git). */
export const ANCHOR_CACHE_DIR = join(BENCH_DIR, '.cache');

/**
 * The first executable called `name` on the `PATH`, then in `fallbacks`.
 * @param name - program name
 * @param fallbacks - folders tried after the PATH (where the program is usually installed outside it)
 */
export function findExecutable(name: string, fallbacks: readonly string[] = []): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...fallbacks];
  return dirs
    .map((d) => join(d, name))
    .find((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** Go: on the PATH, else where the go.dev tarball installs it. */
export function findGo(): string | undefined {
  const goroot = process.env['GOROOT'];
  return findExecutable('go', [...(goroot === undefined ? [] : [join(goroot, 'bin')]), '/usr/local/go/bin']);
}

/** nginx: on the PATH, else in the sbin folders that a user's PATH often lacks. */
export function findNginx(): string | undefined {
  return findExecutable('nginx', ['/usr/sbin', '/usr/local/sbin']);
}

/** A row group runs with what it needs, or is skipped with a reason. */
export type AnchorDecision<T> = { run: T } | { skip: string };

/** What {@link decideGoAnchor} and {@link decideNginx} look at (passed in, so tests can vary it). */
export interface AnchorProbe {
  /** `CI=true`: a missing Go or nginx is an error instead of a skip. */
  ci: boolean;
  /** The folder named by `--go-anchor` or `APERTURE_BENCH_GO_ANCHOR`, when one is. */
  goAnchorOption: string | undefined;
  /** The folder used when none is named ({@link DEFAULT_GO_ANCHOR_DIR}). */
  defaultGoAnchorDir: string;
  /** The Go tool, or undefined when not installed. */
  go: string | undefined;
  /** The nginx binary, or undefined when not installed. */
  nginx: string | undefined;
  /** Whether a folder holds the anchor (its main.go). */
  isGoAnchor(dir: string): boolean;
}

/**
 * Whether the reference aperture row runs: it needs Go (the binary is built
 * from the pinned module in test/go/aperture, once per machine, by
 * scripts/build-go-tools.ts' `buildTool`), so it is skipped without Go, or an
 * error under `CI=true`. Unlike the anchor folder, the module is part of the
 * repository: a clean clone has it.
 * @throws Error - Go missing under `CI=true`
 */
export function decideReferenceAperture(p: Pick<AnchorProbe, 'ci' | 'go'>): AnchorDecision<{ go: string }> {
  if (p.go === undefined) {
    const reason =
      'Go is not installed (https://go.dev/doc/install; the reference aperture is built from test/go/aperture through the Go module proxy)';
    if (p.ci) throw new Error(`bench: ${reason}, and CI=true requires it`);
    return { skip: reason };
  }
  return { run: { go: p.go } };
}

/**
 * The aperture.yaml of the reference row: one L402 service `bench` (the
 * tokens' `services` caveat) in front of the bench upstream, SQLite in `dir`,
 * plaintext, lnd at `lnd` (the bench's fake lnd: the reference verifies
 * tokens without asking lnd, as `strictverify` is off by default, but it
 * cannot start without a Lightning backend, and with `authenticator.disable`
 * it dereferences a nil challenger on every request). Everything else is the
 * reference's default, its access log included.
 */
export function referenceApertureConfig(o: {
  port: number;
  upstreamPort: number;
  dir: string;
  lnd: { host: string; tlsPath: string; macDir: string };
}): string {
  return [
    `listenaddr: 127.0.0.1:${String(o.port)}`,
    'insecure: true',
    'dbbackend: sqlite',
    'sqlite:',
    `  databasefilename: ${o.dir}/aperture.db`,
    'authenticator:',
    `  lndhost: ${o.lnd.host}`,
    `  tlspath: ${o.lnd.tlsPath}`,
    `  macdir: ${o.lnd.macDir}`,
    '  network: regtest',
    'services:',
    '  - name: bench',
    "    hostregexp: '.*'",
    "    pathregexp: '^/.*$'",
    `    address: 127.0.0.1:${String(o.upstreamPort)}`,
    '    protocol: http',
    '    price: 10',
    '',
  ].join('\n');
}

/**
 * Whether the Go aperture rows run.
 *
 * - A folder named by `--go-anchor`/`APERTURE_BENCH_GO_ANCHOR` must hold the
 *   anchor: an error otherwise, always (it was asked for).
 * - No folder named and none beside the repository (a clean clone, as in CI):
 *   skipped with that reason, also under `CI=true`, since a clone alone cannot
 *   have it.
 * - The anchor there but no Go: skipped, or an error under `CI=true`.
 * @throws Error - in the cases above that are errors
 */
export function decideGoAnchor(p: AnchorProbe): AnchorDecision<{ dir: string; go: string }> {
  let dir: string;
  if (p.goAnchorOption !== undefined) {
    dir = resolve(p.goAnchorOption);
    if (!p.isGoAnchor(dir))
      throw new Error(`bench: the Go aperture anchor was named (--go-anchor / ${GO_ANCHOR_ENV}) but ${dir} holds no main.go`);
  } else {
    dir = p.defaultGoAnchorDir;
    if (!p.isGoAnchor(dir)) {
      return {
        skip: `no Go aperture anchor beside the repository (${dir} does not exist; a clone alone has none): name one with --go-anchor DIR or ${GO_ANCHOR_ENV}`,
      };
    }
  }
  if (p.go === undefined) {
    const reason = 'Go is not installed (https://go.dev/doc/install; the anchor is built in module mode through the Go module proxy)';
    if (p.ci) throw new Error(`bench: ${reason}, and CI=true requires it`);
    return { skip: reason };
  }
  return { run: { dir, go: p.go } };
}

/**
 * Whether the nginx row runs: skipped when nginx is not installed, an error
 * under `CI=true`.
 * @throws Error - nginx missing under `CI=true`
 */
export function decideNginx(p: AnchorProbe): AnchorDecision<{ nginx: string }> {
  if (p.nginx === undefined) {
    const reason = 'nginx is not installed (Debian: apt-get install nginx-light; macOS: brew install nginx)';
    if (p.ci) throw new Error(`bench: ${reason}, and CI=true requires it`);
    return { skip: reason };
  }
  return { run: { nginx: p.nginx } };
}

/** The probe of this machine and process. */
export function probeAnchors(goAnchorOption: string | undefined): AnchorProbe {
  const named = goAnchorOption ?? process.env[GO_ANCHOR_ENV];
  return {
    ci: process.env['CI'] === 'true',
    goAnchorOption: named === '' ? undefined : named,
    defaultGoAnchorDir: DEFAULT_GO_ANCHOR_DIR,
    go: findGo(),
    nginx: findNginx(),
    isGoAnchor: (dir) => existsSync(join(dir, 'main.go')),
  };
}

function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { ...options, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error === null) resolvePromise(stdout);
      else
        reject(
          new Error(
            `${[command, ...args].join(' ')} failed: ${`${stderr}${stdout}`.trim().split('\n').slice(-15).join('\n') || error.message}`,
          ),
        );
    });
  });
}

/** A built Go anchor. */
export interface GoAnchorBuild {
  binary: string;
  /** `go env GOVERSION` of the build. */
  goVersion: string;
  /** The module versions it was built with (`path version`), from its go.mod. */
  modules: string[];
  /** Whether this run built it (false: taken from the cache). */
  built: boolean;
}

/** The third-party packages main.go imports (the same list as the anchor's build.sh). */
const GO_ANCHOR_PACKAGES = ['gopkg.in/macaroon.v2', 'github.com/mattn/go-sqlite3', 'golang.org/x/net/http2'];

/**
 * Builds the Go anchor as a Go module (what its build.sh falls back to; the
 * Debian-packages path of build.sh installs packages, which a benchmark should
 * not do) into `cacheDir`, keyed by main.go and the Go version, so that later
 * runs reuse it. main.go is copied into the cache only, never into the
 * repository. The first build fetches the modules through the Go module proxy
 * and compiles SQLite (cgo, so a C compiler is needed): a minute or two.
 * @param dir - the anchor's folder (main.go)
 * @param go - the Go tool
 * @param cacheDir - where builds are kept
 * @returns the binary and what it was built with
 * @throws Error - with the tail of Go's output when the build fails
 */
export async function buildGoAnchor(
  dir: string,
  go: string,
  cacheDir = ANCHOR_CACHE_DIR,
  log: (line: string) => void = () => undefined,
): Promise<GoAnchorBuild> {
  const env = { ...process.env, GO111MODULE: 'on', GOWORK: 'off', CGO_ENABLED: '1', GOFLAGS: '-mod=mod -buildvcs=false' };
  const goVersion = (await run(go, ['env', 'GOVERSION'], { env })).trim();
  const source = readFileSync(join(dir, 'main.go'));
  const key = createHash('sha256').update(source).update(`\0${goVersion}`).digest('hex').slice(0, 16);
  const home = join(cacheDir, `go-aperture-${key}`);
  const binary = join(home, 'go-aperture');
  const info = join(home, 'build.json');
  if (existsSync(binary) && existsSync(info)) {
    return { ...(JSON.parse(readFileSync(info, 'utf8')) as Omit<GoAnchorBuild, 'built'>), binary, built: false };
  }
  log(`building the Go aperture anchor from ${dir} with ${goVersion} (module mode; the first build compiles SQLite, a minute or two)…`);
  const work = `${home}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    copyFileSync(join(dir, 'main.go'), join(work, 'main.go'));
    await run(go, ['mod', 'init', 'go-aperture'], { cwd: work, env });
    await run(go, ['get', ...GO_ANCHOR_PACKAGES], { cwd: work, env });
    await run(go, ['build', '-o', 'go-aperture', '.'], { cwd: work, env });
    const modules = [...readFileSync(join(work, 'go.mod'), 'utf8').matchAll(/^\s+(\S+) (v\S+)/gm)].map(
      (m) => `${m[1] as string} ${m[2] as string}`,
    );
    const built: Omit<GoAnchorBuild, 'built' | 'binary'> = { goVersion, modules };
    writeFileSync(join(work, 'build.json'), `${JSON.stringify(built, null, 2)}\n`);
    rmSync(home, { recursive: true, force: true });
    renameSync(work, home);
    return { ...built, binary, built: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** nginx's version (`nginx -v` prints it on stderr) and the modules it was built without (`nginx -V`). */
export async function nginxInfo(nginx: string): Promise<{ version: string; without: Set<string> }> {
  const text = await new Promise<string>((resolvePromise, reject) => {
    execFile(nginx, ['-V'], (error, stdout, stderr) => (error === null ? resolvePromise(`${stdout}${stderr}`) : reject(error)));
  });
  const version = /nginx version: nginx\/(\S+)/.exec(text)?.[1] ?? 'unknown';
  const without = new Set([...text.matchAll(/--without-http_(\w+)_module/g)].map((m) => m[1] as string));
  return { version, without };
}
