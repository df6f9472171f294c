// Servers under test that are not Node processes (the Go aperture anchor,
// nginx): started pinned like the Node ones, ready once they print their port
// or accept a connection, measured through /proc like the others, their own
// children (nginx's worker) included.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASKSET } from './processes.js';

/** A running external server. */
export interface ExternalServer {
  readonly pid: number;
  readonly port: number;
  /** The process and its children (nginx's worker): whose CPU and memory are the server's. */
  processIds(): number[];
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`) and waits for it and its children. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start one. */
export interface ExternalOptions {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** CPU list for `taskset -c`, or undefined to let the scheduler place it. */
  cpus?: string;
  /** Its stderr (a log: go-aperture's access log, nginx's error log) goes to this file. */
  logFile: string;
  /**
   * Ready when a stdout line matches `line` (its first group is the port), or
   * when `port` accepts a connection.
   */
  ready: { line: RegExp } | { port: number };
  /** How long to wait for readiness (default 15 s). */
  timeoutMs?: number;
}

/** The processes whose parent is `pid` (from /proc/<pid>/stat of every process). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** A port free on 127.0.0.1 right now (for servers that cannot report the port they bound). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts an external server and waits until it is ready.
 * @throws Error - when it exits or does not become ready in time (with the tail of its log)
 */
export async function startExternal(o: ExternalOptions): Promise<ExternalServer> {
  const log = openSync(o.logFile, 'w');
  let child: ChildProcess;
  try {
    const [command, args] = o.cpus === undefined ? [o.command, o.args] : [TASKSET, ['-c', o.cpus, o.command, ...o.args]];
    child = spawn(command, args, { stdio: ['ignore', 'pipe', log], env: o.env ?? process.env });
  } finally {
    closeSync(log); // the child has its own descriptor
  }
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal === null ? `code ${String(code)}` : signal)),
  );
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let gone: string | undefined;
  void exited.then((how) => {
    gone = how;
  });
  const name = o.command.split('/').at(-1) ?? o.command;
  const fail = (why: string): Error => new Error(`${name} ${why}${tail(o.logFile) === '' ? '' : `:\n${tail(o.logFile)}`}`);
  const timeoutMs = o.timeoutMs ?? 15_000;
  let port: number;
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  const ready =
    'line' in o.ready
      ? new Promise<number>((resolve) => {
          const pattern = o.ready as { line: RegExp };
          const onData = (chunk: string): void => {
            stdout += chunk;
            const found = pattern.line.exec(stdout)?.[1];
            if (found !== undefined) {
              child.stdout?.off('data', onData);
              child.stdout?.resume(); // anything it prints later is read and dropped
              resolve(Number(found));
            }
          };
          child.stdout?.on('data', onData);
        })
      : (async () => {
          const wanted = (o.ready as { port: number }).port;
          child.stdout?.resume();
          // nginx says nothing when it is ready: try to connect until it accepts.
          while (gone === undefined && !(await accepts(wanted))) await sleep(25);
          return wanted;
        })();
  let timer: NodeJS.Timeout | undefined;
  try {
    port = await Promise.race([
      ready,
      exited.then((how) => Promise.reject(fail(`exited (${how}) before it was ready`))),
      spawnError.then((error) => Promise.reject(fail(`could not be started: ${error.message}`))),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(fail(`was not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await Promise.race([exited, spawnError]);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const pid = child.pid as number;
  let known: number[] = [pid];
  return {
    pid,
    port,
    processIds() {
      known = [pid, ...childrenOf(pid)];
      return known;
    },
    async stop(graceMs = 10_000) {
      const family = gone === undefined ? [pid, ...childrenOf(pid)] : known;
      if (gone === undefined) child.kill('SIGTERM');
      const timer2 = setTimeout(() => {
        for (const p of family) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }, graceMs);
      await exited;
      // Children (nginx's worker) leave with their master; wait until they have
      // (or the grace time is over: they have been killed by then).
      const until = performance.now() + graceMs + 1000;
      while (family.slice(1).some((p) => alive(p)) && performance.now() < until) await sleep(10);
      clearTimeout(timer2);
    },
  };
}

/** Whether a process still runs (a zombie, exited but not yet reaped, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
