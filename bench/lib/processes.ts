// Child processes of the benchmark: servers and load generators each run in
// their own Node process (through tsx), report on IPC, and are measured from
// the outside through /proc (peak RSS, CPU time).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench folder, for child scripts. */
export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Where the child scripts are bundled to (inside the repository, so that packages resolve). */
const BUILD_DIR = join(BENCH_DIR, '.build');

/** The child scripts, bundled by {@link bundleChildren}. */
const CHILD_SCRIPTS = [
  'servers/upstream.ts',
  'servers/aperture-server.ts',
  'servers/peer-proxy.ts',
  'servers/minimal-proxy.ts',
  'servers/express-server.ts',
  'load/http-load.ts',
  'load/grpc-load.ts',
];

let bundled = false;

/** util-linux's taskset, which pins a process (and the threads it starts) to CPUs. */
export const TASKSET = '/usr/bin/taskset';

/**
 * Where the processes of a load scenario run. On a machine with two or more
 * CPUs (and taskset), the server under test gets the last CPU to itself and
 * everything else (load generator, upstream behind a proxy, this process)
 * shares the others, so that the compared servers do not fight the load
 * generator for a core and the scheduler does not move them between runs.
 * @param enabled - false to leave placement to the scheduler (`--no-pin`)
 * @returns CPU lists for `server` and `others`, or undefined when not pinning
 */
export function cpuPlan(enabled: boolean): { server: string; others: string } | undefined {
  const count = availableParallelism();
  if (!enabled || count < 2 || !existsSync(TASKSET)) return undefined;
  return { server: String(count - 1), others: count === 2 ? '0' : `0-${count - 2}` };
}

/**
 * Bundles the child scripts (our TypeScript sources included, npm packages
 * left external) to plain JavaScript with esbuild, so that servers run under
 * bare `node` as a built aperture does, without tsx's loader thread and its
 * ~40 MB of RSS. esbuild comes with the dev toolchain (tsup, tsx); without it
 * the children run through tsx and the run says so.
 * @returns whether the children run bundled
 */
export async function bundleChildren(): Promise<boolean> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return false;
  }
  rmSync(BUILD_DIR, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: CHILD_SCRIPTS.map((s) => join(BENCH_DIR, s)),
    outdir: BUILD_DIR,
    outbase: BENCH_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'error',
  });
  bundled = true;
  return true;
}

/** A running child with its first `ready` message. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the first message of `type`. */
  message(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Asks the child to stop and waits for it to exit (killed after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link spawnChild}. */
export interface SpawnOptions {
  /** Extra Node flags, e.g. `--cpu-prof`. */
  nodeFlags?: readonly string[];
  /** Working directory (where `--cpu-prof` writes). */
  cwd?: string;
  /** CPU list for `taskset -c` (e.g. `1`), or undefined to let the scheduler place it. */
  cpus?: string;
}

/**
 * Forks `bench/<script>` with its parameters as one JSON argument.
 * @param script - path under bench/, e.g. `servers/upstream.ts`
 * @param params - serialisable parameters
 */
export function spawnChild(script: string, params: object, options: SpawnOptions = {}): Child {
  const path = bundled ? join(BUILD_DIR, script.replace(/\.ts$/, '.mjs')) : join(BENCH_DIR, script);
  const nodeArgs = [...(bundled ? [] : ['--import', 'tsx']), ...(options.nodeFlags ?? [])];
  // Pinned children run as `taskset -c <cpus> node …`: fork keeps the IPC channel through the exec.
  const pinned = options.cpus === undefined ? {} : { execPath: TASKSET, execArgv: ['-c', options.cpus, process.execPath, ...nodeArgs] };
  const child = fork(path, [JSON.stringify(params)], {
    execArgv: nodeArgs,
    ...pinned,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const inbox: Record<string, unknown>[] = [];
  const waiting: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.on('message', (m: Record<string, unknown>) => {
    const i = waiting.findIndex((w) => w.type === m['type']);
    if (i >= 0) waiting.splice(i, 1)[0]?.resolve(m);
    else inbox.push(m);
  });
  return {
    process: child,
    pid: child.pid as number,
    message(type, timeoutMs = 120_000) {
      const i = inbox.findIndex((m) => m['type'] === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as Record<string, unknown>);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no '${type}' message within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({
          type,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${script} exited (code ${String(code)}) before sending '${type}'`));
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The child may exit on its own between the check above and the send
      // (a load generator does once it has reported): a refused send then
      // falls back to a signal instead of an unhandled 'error' event.
      if (child.connected)
        child.send({ type: 'stop' }, (error) => {
          if (error !== null) child.kill('SIGTERM');
        });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Peak and current resident set size of a process, in MB (from /proc/<pid>/status). */
export function memoryOf(pid: number): { peakMb: number; currentMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakMb: kb('VmHWM') / 1024, currentMb: kb('VmRSS') / 1024 };
}

/** CPU seconds (user + system) a process has used so far (from /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
