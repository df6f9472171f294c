// The load-test scenarios: which processes to start, what to send, and which
// process is "the server" whose memory and CPU are reported. Every scenario
// starts fresh processes, so peak RSS belongs to that scenario alone.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANCHOR_CACHE_DIR,
  GO_ANCHOR_FLAGS,
  GO_ANCHOR_ROWS,
  NGINX_ROWS,
  REFERENCE_ROWS,
  buildGoAnchor,
  goAnchorArgs,
  decideGoAnchor,
  decideNginx,
  decideReferenceAperture,
  nginxInfo,
  probeAnchors,
  referenceApertureConfig,
  type GoAnchorBuild,
} from './anchors.js';
import { copyRootKeysToGoSecrets, mintIntoSqlite, writeTokenFile } from './bench-tokens.js';
import { buildTool } from '../../scripts/build-go-tools.js';
import { FakeLnd } from '../../test/fixtures/fake-lnd.js';
import { freePort, startExternal, type ExternalServer } from './external.js';
import { medianOf } from './percentiles.js';
import { findWrk } from '../load/wrk-load.js';
import { nginxConfig } from '../servers/nginx-config.js';
import { BENCH_DIR, bundleChildren, cpuPlan, cpuSecondsOf, memoryOf, spawnChild, type Child } from './processes.js';

/** Parameters of a load run. */
export interface LoadSettings {
  /** Measured seconds per scenario. */
  durationSec: number;
  /** Unmeasured seconds before it (JIT, connection set-up). */
  warmupSec: number;
  /** HTTP keep-alive connections of the load generator. */
  connections: number;
  /** gRPC calls in flight on one channel. */
  grpcConcurrency: number;
  /** Distinct valid tokens in the ordinary L402 scenarios. */
  tokens: number;
  /** Distinct tokens and total requests of the memory scenario. */
  memTokens: number;
  memRequests: number;
  /** Fixed request rate and connections of the latency scenarios. */
  fixedRate: number;
  fixedConnections: number;
  /** Runs of the throughput scenarios (direct, peer-proxy, proxy-auth-off, proxy-l402); the median is reported. */
  repeat: number;
  /** Extra Node flags of the aperture process (experiments, e.g. `--max-semi-space-size=4`). */
  serverNodeFlags?: readonly string[];
  /** Pin the server under test to its own CPU (see `cpuPlan`); default true. */
  pin?: boolean;
  /**
   * The saturating HTTP load generator: `wrk` when installed (default), or
   * `autocannon` (`--load-generator autocannon`; always used when wrk is missing).
   */
  loadGenerator?: 'wrk' | 'autocannon';
  /** Write a CPU profile of the aperture process of these scenarios into `profileDir`. */
  profile?: { scenarios: readonly string[]; dir: string };
  /**
   * The Go aperture anchor's folder (`--go-anchor`; else `APERTURE_BENCH_GO_ANCHOR`,
   * else ../shared/anchors/go-aperture beside the repository when it exists).
   */
  goAnchor?: string;
}

/** A row that was selected but not run, and why. */
export interface SkippedRow {
  name: string;
  reason: string;
}

/** The anchors this run can start (see bench/lib/anchors.ts). */
interface AnchorRuntime {
  go?: GoAnchorBuild;
  /** The reference aperture's binary and its version (from test/go/aperture/go.mod). */
  reference?: { binary: string; version: string };
  nginx?: { binary: string; version: string; without: Set<string> };
}

/** One measured scenario, before baselines are applied. */
export interface Measurement {
  name: string;
  kind: 'http' | 'grpc';
  description: string;
  baseline: string | undefined;
  requests: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  rss_mb: number;
  rss_end_mb: number;
  server_cpu_s: number;
  params: Record<string, unknown>;
  statuses?: Record<string, number>;
}

interface ScenarioContext {
  settings: LoadSettings;
  workDir: string;
  /** Authorization values valid for the shared aperture base directory. */
  tokenFile: string;
  apertureBaseDir: string;
  /** Authorization values valid for the memory scenario's base directory. */
  memTokenFile: string;
  memBaseDir: string;
  /** CPU lists of the server under test and of the other processes; undefined when not pinned. */
  cpus: { server: string; others: string } | undefined;
  /** wrk's path when saturating HTTP runs use it. */
  wrk: string | undefined;
  anchors: AnchorRuntime;
}

/** A scenario: how to run it. */
export interface Scenario {
  name: string;
  description: string;
  baseline?: string;
  run(ctx: ScenarioContext): Promise<Measurement>;
}

async function started(child: Child): Promise<number> {
  const ready = await child.message('ready');
  return ready['port'] as number;
}

/** Which CPUs a process runs on: the server under test's, or the one the others share. */
type Role = 'server' | 'other';

function placement(ctx: ScenarioContext, role: Role): { cpus?: string } {
  const plan = ctx.cpus;
  if (plan === undefined) return {};
  return { cpus: role === 'server' ? plan.server : plan.others };
}

/** The upstream: the server under test in the direct scenarios, a bystander behind a proxy. */
function upstream(ctx: ScenarioContext, kind: 'http' | 'grpc', role: Role = 'other'): Child {
  return spawnChild('servers/upstream.ts', { kind }, placement(ctx, role));
}

function aperture(ctx: ScenarioContext, name: string, params: object, baseDir = ctx.apertureBaseDir): Child {
  const profile = ctx.settings.profile;
  const flags = ctx.settings.serverNodeFlags ?? [];
  if (profile !== undefined && profile.scenarios.includes(name)) {
    // tsx's loader thread writes a profile too; the default file names keep
    // them apart (…<pid>.<thread id>…; the main thread is 0).
    const dir = join(profile.dir, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return spawnChild(
      'servers/aperture-server.ts',
      { baseDir, ...params },
      {
        nodeFlags: [...flags, '--cpu-prof', `--cpu-prof-dir=${dir}`],
        ...placement(ctx, 'server'),
      },
    );
  }
  return spawnChild('servers/aperture-server.ts', { baseDir, ...params }, { nodeFlags: flags, ...placement(ctx, 'server') });
}

interface LoadRun {
  script: 'load/http-load.ts' | 'load/grpc-load.ts';
  params: Record<string, unknown>;
}

/** CPU seconds of a set of processes (an external server and its children). */
function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/**
 * Runs the load generator against a started server and measures the server
 * process: a Node child, or an external server (with its children, such as
 * nginx's worker: their CPU and peak RSS are added up).
 */
async function measure(
  ctx: ScenarioContext,
  scenario: Pick<Scenario, 'name' | 'description' | 'baseline'>,
  kind: 'http' | 'grpc',
  server: Child | ExternalServer,
  load: LoadRun,
): Promise<Measurement> {
  const node = 'process' in server ? server : undefined;
  const generator = spawnChild(load.script, load.params, placement(ctx, 'other'));
  await generator.message('measuring');
  const pids = node === undefined ? (server as ExternalServer).processIds() : [server.pid];
  const cpu0 = cpuOf(pids);
  const result = await generator.message('result', 1_800_000);
  const cpu1 = cpuOf(pids);
  const memory = pids.map(memoryOf).reduce((a, b) => ({ peakMb: a.peakMb + b.peakMb, currentMb: a.currentMb + b.currentMb }));
  let usage: Record<string, unknown> | undefined;
  if (node !== undefined) {
    node.process.send({ type: 'memory' });
    usage = await node.message('memory', 10_000);
  }
  await generator.stop();
  const m: Measurement = {
    name: scenario.name,
    kind,
    description: scenario.description,
    baseline: scenario.baseline,
    requests: result['requests'] as number,
    errors: result['errors'] as number,
    rps: result['rps'] as number,
    p50_ms: result['p50_ms'] as number,
    p99_ms: result['p99_ms'] as number,
    p999_ms: result['p999_ms'] as number,
    rss_mb: memory.peakMb,
    rss_end_mb: memory.currentMb,
    server_cpu_s: cpu1 - cpu0,
    params: Object.fromEntries(Object.entries(load.params).filter(([k]) => k !== 'tokenFile' && k !== 'url' && k !== 'target')),
  };
  if (usage !== undefined) {
    const mb = (v: unknown): number => Math.round((v as number) / 1048576);
    m.params['heap_used_mb'] = mb(usage['heapUsed']);
    m.params['heap_total_mb'] = mb(usage['heapTotal']);
    m.params['external_mb'] = mb(usage['external']);
  }
  if (result['statuses'] !== undefined) m.statuses = result['statuses'] as Record<string, number>;
  if (result['firstError'] !== undefined) m.params['firstError'] = result['firstError'];
  if (result['generator'] !== undefined) m.params['generator'] = result['generator'];
  if (result['by_path'] !== undefined) m.params['by_path'] = result['by_path'];
  return m;
}

function httpLoad(ctx: ScenarioContext, port: number, extra: Record<string, unknown> = {}): LoadRun {
  const s = ctx.settings;
  return {
    script: 'load/http-load.ts',
    params: {
      url: `http://127.0.0.1:${port}/`,
      connections: s.connections,
      durationSec: s.durationSec,
      warmupSec: s.warmupSec,
      tokenFile: ctx.tokenFile,
      expectStatus: 200,
      ...(ctx.wrk === undefined ? {} : { wrk: ctx.wrk }),
      ...extra,
    },
  };
}

function grpcLoad(ctx: ScenarioContext, port: number): LoadRun {
  const s = ctx.settings;
  return {
    script: 'load/grpc-load.ts',
    params: {
      target: `127.0.0.1:${port}`,
      concurrency: s.grpcConcurrency,
      durationSec: s.durationSec,
      warmupSec: s.warmupSec,
      tokenFile: ctx.tokenFile,
    },
  };
}

/** Starts `children` in order, runs `body`, and always stops them in reverse order. */
async function withChildren<T>(children: Child[], body: (ports: number[]) => Promise<T>): Promise<T> {
  try {
    const ports: number[] = [];
    for (const c of children) ports.push(await started(c));
    return await body(ports);
  } finally {
    for (const c of [...children].reverse()) await c.stop();
  }
}

/** The two paths of `proxy-mixed-fixed-rate`: the paid service answers every path but `/free…`. */
export const MIXED_PAID_PATH = '/paid';
export const MIXED_FREE_PATH = '/free';

/**
 * The scenarios, in run order. Every HTTP scenario except `proxy-challenge`
 * sends the same request: `GET /` with an `Authorization: L402 …` header
 * rotating over the token set, so that the load generator does the same work
 * in each and a server that ignores the header (the upstream, a peer proxy,
 * aperture with auth off) forwards the same bytes.
 */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'direct',
    description: 'the upstream node:http server, no proxy',
    run: (ctx) => {
      const up = upstream(ctx, 'http', 'server');
      return withChildren([up], ([port]) => measure(ctx, scenario('direct'), 'http', up, httpLoad(ctx, port as number)));
    },
  },
  {
    name: 'peer-proxy',
    description: 'http-proxy-3 1.23 (keep-alive agent, xfwd) in front of the upstream',
    baseline: 'direct',
    run: (ctx) => peer(ctx, 'peer-proxy', 'http-proxy-3'),
  },
  {
    name: 'peer-proxy-fastify',
    description: 'Fastify 5 + @fastify/reply-from (undici) in front of the upstream',
    baseline: 'direct',
    run: (ctx) => peer(ctx, 'peer-proxy-fastify', 'fastify-reply-from'),
  },
  {
    name: 'minimal-proxy',
    description:
      'a floor, not a proxy: node:http + one undici Pool, hop-by-hop filter, the X-Forwarded-* and CORS headers aperture adds; nothing else',
    baseline: 'direct',
    run: (ctx) => {
      const up = upstream(ctx, 'http');
      return withChildren([up], async ([upPort]) => {
        const proxy = spawnChild('servers/minimal-proxy.ts', { upstreamPort: upPort }, placement(ctx, 'server'));
        return withChildren([proxy], ([port]) => measure(ctx, scenario('minimal-proxy'), 'http', proxy, httpLoad(ctx, port as number)));
      });
    },
  },
  {
    name: 'proxy-auth-off',
    description: 'aperture, service `auth: off`: routing, pipeline, metrics, forwarding',
    baseline: 'peer-proxy',
    run: (ctx) => proxied(ctx, 'proxy-auth-off', 'off'),
  },
  {
    name: 'proxy-l402',
    description: 'aperture, every request with a valid L402 token (verified, then forwarded)',
    baseline: 'proxy-auth-off',
    run: (ctx) => proxied(ctx, 'proxy-l402', 'l402'),
  },
  {
    name: 'go-aperture',
    description:
      "the Go aperture's per-request path (../shared/anchors/go-aperture) as the reference runs it: Go's 2 idle upstream connections per host, an access-log line and a SQLite root-key read per request; same tokens and upstream, GOMAXPROCS=1",
    baseline: 'proxy-l402',
    run: (ctx) => goAperture(ctx, 'go-aperture', GO_ANCHOR_FLAGS['go-aperture']),
  },
  {
    name: 'go-aperture-tuned',
    description:
      'the same Go path tuned: 256 idle upstream connections per host, no access log (`-idle-per-host 256 -accesslog=false`), still a SQLite read per request',
    baseline: 'proxy-l402',
    run: (ctx) => goAperture(ctx, 'go-aperture-tuned', GO_ANCHOR_FLAGS['go-aperture-tuned']),
  },
  {
    name: 'reference-aperture',
    description:
      'the reference aperture program itself (v0.5.0 from its Go module, test/go/aperture), as shipped: its access log, its upstream pool, a SQLite root-key read per request; lnd faked in the bench process (asked nothing per request: strictverify off, as by default); same tokens and upstream, GOMAXPROCS=1',
    baseline: 'proxy-l402',
    run: (ctx) => referenceAperture(ctx, 'reference-aperture'),
  },
  {
    name: 'nginx',
    description:
      'nginx `proxy_pass`, one worker, keep-alive to the upstream, no access log, no authentication (it cannot verify L402): the ceiling of a C proxy',
    baseline: 'proxy-l402',
    run: (ctx) => nginx(ctx, 'nginx'),
  },
  {
    name: 'proxy-auth-off-fixed-rate',
    description: 'aperture with auth off at a fixed request rate (latency without queueing)',
    baseline: 'direct-fixed-rate',
    run: (ctx) => proxied(ctx, 'proxy-auth-off-fixed-rate', 'off', true),
  },
  {
    name: 'proxy-l402-fixed-rate',
    description: 'aperture with valid L402 tokens at the same fixed rate',
    baseline: 'proxy-auth-off-fixed-rate',
    run: (ctx) => proxied(ctx, 'proxy-l402-fixed-rate', 'l402', true),
  },
  {
    name: 'proxy-mixed-fixed-rate',
    description:
      "one aperture at the same fixed rate, requests alternating between a paid path (valid L402 token) and a free one (`auth: off`) on the same connections: what verification adds, with the machine's noise shared",
    run: (ctx) => {
      const up = upstream(ctx, 'http');
      const s = ctx.settings;
      return withChildren([up], async ([upPort]) => {
        const proxy = aperture(ctx, 'proxy-mixed-fixed-rate', { auth: 'mixed', httpPort: upPort });
        return withChildren([proxy], ([port]) =>
          measure(
            ctx,
            scenario('proxy-mixed-fixed-rate'),
            'http',
            proxy,
            httpLoad(ctx, port as number, {
              rate: s.fixedRate,
              connections: s.fixedConnections,
              paths: [MIXED_PAID_PATH, MIXED_FREE_PATH],
            }),
          ),
        );
      });
    },
  },
  {
    name: 'direct-fixed-rate',
    description: 'the upstream alone at the same fixed rate',
    run: (ctx) => {
      const up = upstream(ctx, 'http', 'server');
      const s = ctx.settings;
      return withChildren([up], ([port]) =>
        measure(
          ctx,
          scenario('direct-fixed-rate'),
          'http',
          up,
          httpLoad(ctx, port as number, { rate: s.fixedRate, connections: s.fixedConnections }),
        ),
      );
    },
  },
  {
    name: 'proxy-challenge',
    description: 'aperture answering 402: mint (dev backend invoice, SQLite root key and ledger row) and challenge',
    baseline: 'proxy-auth-off',
    run: (ctx) => {
      const up = upstream(ctx, 'http');
      return withChildren([up], async ([upPort]) => {
        const proxy = aperture(ctx, 'proxy-challenge', { auth: 'l402', httpPort: upPort });
        return withChildren([proxy], ([port]) => {
          const load = httpLoad(ctx, port as number, { expectStatus: 402 });
          delete load.params['tokenFile'];
          return measure(ctx, scenario('proxy-challenge'), 'http', proxy, load);
        });
      });
    },
  },
  {
    name: 'grpc-direct',
    description: 'grpc-js unary call to the grpc-js upstream, no proxy',
    run: (ctx) => {
      const up = upstream(ctx, 'grpc', 'server');
      return withChildren([up], ([port]) => measure(ctx, scenario('grpc-direct'), 'grpc', up, grpcLoad(ctx, port as number)));
    },
  },
  {
    name: 'grpc-proxy',
    description: 'the same call through aperture (h2c), valid L402 token in `authorization` metadata',
    baseline: 'grpc-direct',
    run: (ctx) => {
      const up = upstream(ctx, 'grpc');
      return withChildren([up], async ([upPort]) => {
        const proxy = aperture(ctx, 'grpc-proxy', { auth: 'l402', grpcPort: upPort });
        return withChildren([proxy], ([port]) => measure(ctx, scenario('grpc-proxy'), 'grpc', proxy, grpcLoad(ctx, port as number)));
      });
    },
  },
  {
    name: 'express-bare',
    description: 'Express 5, one route, no middleware',
    baseline: 'direct',
    run: (ctx) => express(ctx, 'express-bare', false),
  },
  {
    name: 'express-l402',
    description: 'Express 5 with expressL402() on every request, valid token',
    baseline: 'express-bare',
    run: (ctx) => express(ctx, 'express-l402', true),
  },
  {
    name: 'proxy-l402-100k-tokens',
    description: 'aperture, valid tokens round-robin over a large token set (verifier cache of 10,000 entries defeated): memory',
    baseline: 'proxy-l402',
    run: (ctx) => {
      const s = ctx.settings;
      const up = upstream(ctx, 'http');
      return withChildren([up], async ([upPort]) => {
        const proxy = aperture(ctx, 'proxy-l402-100k-tokens', { auth: 'l402', httpPort: upPort }, ctx.memBaseDir);
        return withChildren([proxy], ([port]) => {
          const load = httpLoad(ctx, port as number, { amount: s.memRequests, tokenFile: ctx.memTokenFile });
          return measure(ctx, scenario('proxy-l402-100k-tokens'), 'http', proxy, load).then((m) => {
            m.params['tokens'] = s.memTokens;
            return m;
          });
        });
      });
    },
  },
];

/** Latency of one path of a run that interleaved several (see `paths` in http-load.ts). */
export interface PathFigures {
  requests: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
}

/** Scenarios run `repeat` times (the throughput targets compare them); the others once. */
const REPEATED = new Set([
  'direct',
  'peer-proxy',
  'minimal-proxy',
  'proxy-auth-off',
  'proxy-l402',
  ...GO_ANCHOR_ROWS,
  ...REFERENCE_ROWS,
  ...NGINX_ROWS,
  'proxy-auth-off-fixed-rate',
  'proxy-l402-fixed-rate',
  'proxy-mixed-fixed-rate',
  'direct-fixed-rate',
]);

/**
 * The run with the median throughput, its latency percentiles replaced by the
 * medians of every run's (at a fixed rate the throughputs are all equal), with
 * every run's figures kept in `params.runs`.
 */
function median(list: readonly Measurement[]): Measurement {
  const sorted = [...list].sort((a, b) => a.rps - b.rps);
  const m = { ...(sorted[Math.floor((sorted.length - 1) / 2)] as Measurement) };
  m.p50_ms = medianOf(list.map((x) => x.p50_ms));
  m.p99_ms = medianOf(list.map((x) => x.p99_ms));
  m.p999_ms = medianOf(list.map((x) => x.p999_ms));
  m.errors = list.reduce((n, x) => n + x.errors, 0);
  m.rss_mb = Math.max(...list.map((x) => x.rss_mb));
  const byPath = list.map((x) => x.params['by_path'] as Record<string, PathFigures> | undefined);
  if (list.length > 1 && byPath.every((b) => b !== undefined)) {
    const paths = Object.keys(byPath[0] as Record<string, PathFigures>);
    m.params = {
      ...m.params,
      by_path: Object.fromEntries(
        paths.map((path) => {
          const of = (field: keyof PathFigures): number =>
            medianOf(byPath.map((b) => (b as Record<string, PathFigures>)[path]?.[field] ?? Number.NaN));
          return [path, { requests: of('requests'), p50_ms: of('p50_ms'), p99_ms: of('p99_ms'), p999_ms: of('p999_ms') }];
        }),
      ),
    };
  }
  if (list.length > 1) {
    m.params = {
      ...m.params,
      runs: list.map((x) => ({
        rps: Math.round(x.rps),
        p50_ms: x.p50_ms,
        p99_ms: x.p99_ms,
        cpu_us_per_req: (x.server_cpu_s * 1e6) / Math.max(1, x.requests),
        ...(x.params['by_path'] === undefined ? {} : { by_path: x.params['by_path'] }),
      })),
    };
  }
  return m;
}

function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`unknown scenario ${name}`);
  return s;
}

function proxied(ctx: ScenarioContext, name: string, auth: 'off' | 'l402', fixedRate = false): Promise<Measurement> {
  const up = upstream(ctx, 'http');
  const s = ctx.settings;
  return withChildren([up], async ([upPort]) => {
    const proxy = aperture(ctx, name, { auth, httpPort: upPort });
    return withChildren([proxy], ([port]) =>
      measure(
        ctx,
        scenario(name),
        'http',
        proxy,
        httpLoad(ctx, port as number, fixedRate ? { rate: s.fixedRate, connections: s.fixedConnections } : {}),
      ),
    );
  });
}

function peer(ctx: ScenarioContext, name: string, kind: 'http-proxy-3' | 'fastify-reply-from'): Promise<Measurement> {
  const up = upstream(ctx, 'http');
  return withChildren([up], async ([upPort]) => {
    const proxy = spawnChild('servers/peer-proxy.ts', { kind, upstreamPort: upPort }, placement(ctx, 'server'));
    return withChildren([proxy], ([port]) => measure(ctx, scenario(name), 'http', proxy, httpLoad(ctx, port as number)));
  });
}

/**
 * The Go aperture anchor in front of the upstream (see goAnchorArgs), with the
 * same tokens as aperture's rows, pinned to the server CPU with GOMAXPROCS=1.
 */
function goAperture(ctx: ScenarioContext, name: string, flags: readonly string[]): Promise<Measurement> {
  const build = ctx.anchors.go;
  if (build === undefined) throw new Error(`${name}: the Go aperture anchor was not built`);
  const up = upstream(ctx, 'http');
  return withChildren([up], async ([upPort]) => {
    const server = await startExternal({
      command: build.binary,
      args: goAnchorArgs({ upstreamPort: upPort as number, db: join(ctx.apertureBaseDir, 'aperture.db'), flags }),
      env: { ...process.env, GOMAXPROCS: '1' },
      ...placement(ctx, 'server'),
      logFile: join(ctx.workDir, `${name}.log`),
      ready: { line: /go-aperture listening on \S*:(\d+)/ },
    });
    try {
      const m = await measure(ctx, scenario(name), 'http', server, httpLoad(ctx, server.port));
      m.params['anchor'] = { flags: flags.join(' '), go: build.goVersion, modules: build.modules, GOMAXPROCS: 1 };
      return m;
    } finally {
      await server.stop();
    }
  });
}

/**
 * The reference aperture (see referenceApertureConfig) in front of the
 * upstream, with aperture's tokens: once it listens (its schema is in place),
 * the root keys are copied into its `secrets` table, and one token must pass
 * before the load starts.
 */
function referenceAperture(ctx: ScenarioContext, name: string): Promise<Measurement> {
  const found = ctx.anchors.reference;
  if (found === undefined) throw new Error(`${name}: the reference aperture was not built`);
  const up = upstream(ctx, 'http');
  return withChildren([up], async ([upPort]) => {
    const dir = join(ctx.workDir, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const port = await freePort();
    const lnd = await FakeLnd.start();
    const macDir = join(dir, 'lnd');
    mkdirSync(macDir);
    writeFileSync(join(macDir, 'invoice.macaroon'), lnd.invoiceMacaroon);
    writeFileSync(join(macDir, 'tls.cert'), lnd.cert);
    const config = join(dir, 'aperture.yaml');
    writeFileSync(
      config,
      referenceApertureConfig({
        port,
        upstreamPort: upPort as number,
        dir,
        lnd: { host: lnd.host, tlsPath: join(macDir, 'tls.cert'), macDir },
      }),
    );
    const server = await startExternal({
      command: found.binary,
      args: [`--configfile=${config}`, `--basedir=${dir}`],
      env: { ...process.env, GOMAXPROCS: '1' },
      ...placement(ctx, 'server'),
      logFile: join(dir, 'stderr.log'),
      ready: { port },
      timeoutMs: 60_000,
    }).catch(async (error: unknown) => {
      await lnd.stop();
      throw error;
    });
    try {
      await copyRootKeysToGoSecrets(join(ctx.apertureBaseDir, 'aperture.db'), join(dir, 'aperture.db'));
      await expectTokenAccepted(`http://127.0.0.1:${String(port)}/`, ctx.tokenFile, name);
      const m = await measure(ctx, scenario(name), 'http', server, httpLoad(ctx, port));
      m.params['anchor'] = { aperture: found.version, GOMAXPROCS: 1 };
      return m;
    } finally {
      await server.stop();
      await lnd.stop();
    }
  });
}

/** One request with the first token of `tokenFile` must be answered 200, or the row would measure refusals. */
async function expectTokenAccepted(url: string, tokenFile: string, name: string): Promise<void> {
  const first = readFileSync(tokenFile, 'utf8').split('\n')[0] ?? '';
  const res = await fetch(url, { headers: { authorization: first } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${name}: a valid token was answered ${String(res.status)}, not 200`);
}

/** nginx in front of the upstream, from a generated nginx.conf in a temporary prefix (bench/servers/nginx-config.ts). */
function nginx(ctx: ScenarioContext, name: string): Promise<Measurement> {
  const found = ctx.anchors.nginx;
  if (found === undefined) throw new Error(`${name}: nginx was not found`);
  const up = upstream(ctx, 'http');
  return withChildren([up], async ([upPort]) => {
    const prefix = join(ctx.workDir, name);
    rmSync(prefix, { recursive: true, force: true });
    mkdirSync(prefix);
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, nginxConfig({ prefix, port, upstreamPort: upPort as number, without: found.without }));
    const server = await startExternal({
      command: found.binary,
      args: ['-p', prefix, '-c', conf, '-e', 'stderr'],
      ...placement(ctx, 'server'),
      logFile: join(prefix, 'error.log'),
      ready: { port },
    });
    try {
      const m = await measure(ctx, scenario(name), 'http', server, httpLoad(ctx, server.port));
      m.params['anchor'] = { nginx: found.version, workers: 1 };
      return m;
    } finally {
      await server.stop();
    }
  });
}

function express(ctx: ScenarioContext, name: string, l402: boolean): Promise<Measurement> {
  const tokenFile = join(ctx.workDir, `${name}.tokens`);
  const app = spawnChild('servers/express-server.ts', { l402, tokens: ctx.settings.tokens, tokenFile }, placement(ctx, 'server'));
  return withChildren([app], ([port]) =>
    measure(ctx, scenario(name), 'http', app, httpLoad(ctx, port as number, l402 ? { tokenFile } : {})),
  );
}

/**
 * Finds (and for Go, builds) the anchors of the selected anchor rows, and
 * removes from `wanted` the rows that cannot run, each with its reason. Under
 * `CI=true` a missing Go or nginx, or a Go anchor that does not build, is an
 * error instead; a missing anchor folder is not (see decideGoAnchor).
 */
async function prepareAnchors(
  settings: LoadSettings,
  wanted: Set<string>,
  log: (line: string) => void,
): Promise<{ anchors: AnchorRuntime; skipped: SkippedRow[] }> {
  const anchors: AnchorRuntime = {};
  const skipped: SkippedRow[] = [];
  const skip = (rows: readonly string[], reason: string): void => {
    for (const name of rows.filter((r) => wanted.has(r))) {
      wanted.delete(name);
      skipped.push({ name, reason });
      log(`skipped ${name}: ${reason}`);
    }
  };
  const wantGo = GO_ANCHOR_ROWS.some((r) => wanted.has(r));
  const wantNginx = NGINX_ROWS.some((r) => wanted.has(r));
  const wantReference = REFERENCE_ROWS.some((r) => wanted.has(r));
  if (!wantGo && !wantNginx && !wantReference) return { anchors, skipped };
  const probe = probeAnchors(settings.goAnchor);
  if (wantGo) {
    const decision = decideGoAnchor(probe);
    if ('skip' in decision) {
      skip(GO_ANCHOR_ROWS, decision.skip);
    } else {
      try {
        anchors.go = await buildGoAnchor(decision.run.dir, decision.run.go, ANCHOR_CACHE_DIR, log);
        log(
          `Go aperture anchor: ${anchors.go.binary} (${anchors.go.goVersion}${anchors.go.built ? ', built now' : ', cached'}; from ${decision.run.dir})`,
        );
      } catch (error) {
        if (probe.ci) throw error;
        skip(GO_ANCHOR_ROWS, `the Go aperture anchor did not build: ${(error as Error).message}`);
      }
    }
  }
  if (wantReference) {
    const decision = decideReferenceAperture(probe);
    if ('skip' in decision) {
      skip(REFERENCE_ROWS, decision.skip);
    } else {
      try {
        const built = buildTool('aperture', decision.run.go);
        const version =
          /^\s*github\.com\/lightninglabs\/aperture (\S+)/m.exec(
            readFileSync(join(BENCH_DIR, '..', 'test', 'go', 'aperture', 'go.mod'), 'utf8'),
          )?.[1] ?? 'unknown';
        anchors.reference = { binary: built.path, version };
        log(`reference aperture ${version}: ${built.path}${built.seconds > 0 ? `, built in ${built.seconds.toFixed(0)} s` : ', cached'}`);
      } catch (error) {
        if (probe.ci) throw error;
        skip(REFERENCE_ROWS, `the reference aperture did not build: ${(error as Error).message}`);
      }
    }
  }
  if (wantNginx) {
    const decision = decideNginx(probe);
    if ('skip' in decision) {
      skip(NGINX_ROWS, decision.skip);
    } else {
      const info = await nginxInfo(decision.run.nginx);
      anchors.nginx = { binary: decision.run.nginx, ...info };
      log(`nginx: ${decision.run.nginx} (${info.version})`);
    }
  }
  return { anchors, skipped };
}

/**
 * Runs the selected scenarios in order (their baselines too, unless told not to).
 * @param settings - durations, connections, token counts
 * @param only - scenario names; all when empty
 * @param log - progress lines
 * @param withBaselines - also run the baselines of the selected scenarios
 * @returns the measurements, and the selected rows that were skipped (anchors whose tools are missing)
 * @throws Error - under `CI=true`, when Go or nginx is missing for a selected anchor row
 */
export async function runScenarios(
  settings: LoadSettings,
  only: readonly string[],
  log: (line: string) => void,
  withBaselines = true,
): Promise<{ measurements: Measurement[]; skipped: SkippedRow[] }> {
  const wanted = new Set(only.length === 0 ? SCENARIOS.map((s) => s.name) : only);
  for (const name of withBaselines ? [...wanted] : []) {
    let s: Scenario | undefined = scenario(name);
    while (s?.baseline !== undefined) {
      wanted.add(s.baseline);
      s = scenario(s.baseline);
    }
  }
  const { anchors, skipped } = await prepareAnchors(settings, wanted, log);
  const workDir = mkdtempSync(join(tmpdir(), 'aperture-bench-'));
  try {
    const apertureBaseDir = join(workDir, 'aperture');
    const memBaseDir = join(workDir, 'aperture-mem');
    mkdirSync(apertureBaseDir);
    mkdirSync(memBaseDir);
    const tokenFile = join(workDir, 'tokens');
    const memTokenFile = join(workDir, 'mem-tokens');
    const runtime = (await bundleChildren()) ? 'node (esbuild bundle)' : 'node --import tsx';
    log(`children run as: ${runtime}`);
    const t0 = performance.now();
    // Valid for both services of aperture-server.ts: `bench` (REST) and `bench-grpc`.
    writeTokenFile(tokenFile, await mintIntoSqlite(join(apertureBaseDir, 'aperture.db'), ['bench', 'bench-grpc'], settings.tokens));
    if (wanted.has('proxy-l402-100k-tokens')) {
      writeTokenFile(memTokenFile, await mintIntoSqlite(join(memBaseDir, 'aperture.db'), 'bench', settings.memTokens));
    }
    log(`minted tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const cpus = cpuPlan(settings.pin ?? true);
    const placement =
      cpus === undefined
        ? 'not pinned: the scheduler places them'
        : `the server under test pinned to CPU ${cpus.server}, the load generator and the upstream behind a proxy to CPU ${cpus.others}`;
    log(`processes: ${placement}`);
    const wrk = settings.loadGenerator === 'autocannon' ? undefined : findWrk();
    if (wrk === undefined && settings.loadGenerator === 'wrk')
      throw new Error('--load-generator wrk: wrk is not installed (Debian: apt install wrk; macOS: brew install wrk)');
    log(
      `saturating HTTP load: ${wrk === undefined ? `autocannon${settings.loadGenerator === 'autocannon' ? '' : ' (wrk not installed)'}` : `wrk (${wrk})`}; fixed-rate rows paced by bench/load/paced-load.ts`,
    );
    const ctx: ScenarioContext = { settings, workDir, tokenFile, apertureBaseDir, memTokenFile, memBaseDir, cpus, wrk, anchors };
    const runs = new Map<string, Measurement[]>();
    const rounds = Math.max(1, settings.repeat);
    for (let round = 1; round <= rounds; round++) {
      // Repeated scenarios run in interleaved rounds, so that a burst of load
      // from elsewhere on the machine hits the compared scenarios alike.
      for (const s of SCENARIOS) {
        if (!wanted.has(s.name) || (round > 1 && !REPEATED.has(s.name))) continue;
        const started = performance.now();
        const m = await s.run(ctx);
        m.params['runtime'] = runtime;
        m.params['placement'] = placement;
        runs.set(s.name, [...(runs.get(s.name) ?? []), m]);
        const ms = (v: number | null): string => (typeof v === 'number' ? v.toFixed(2) : '-');
        const firstError = m.params['firstError'] === undefined ? '' : ` first error: ${String(m.params['firstError'])}`;
        log(
          `${s.name.padEnd(28)} ${Math.round(m.rps).toString().padStart(7)} req/s  p50 ${ms(m.p50_ms)} ms  p99 ${ms(m.p99_ms)} ms  rss ${m.rss_mb.toFixed(0)} MB  ` +
            `cpu ${((m.server_cpu_s * 1e6) / Math.max(1, m.requests)).toFixed(0)} us/req  errors ${m.errors}${firstError}  (${((performance.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
    }
    const out: Measurement[] = [];
    for (const s of SCENARIOS) {
      const list = runs.get(s.name);
      if (list !== undefined) out.push(median(list));
    }
    return { measurements: out, skipped };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
