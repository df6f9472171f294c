// Child processes of the regtest tests: each in its own process group, its output
// in a log file, stopped with SIGTERM (SIGKILL after a grace period), and
// killed when the test process exits however it exits, so that nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A spawned program. */
export interface Proc {
  readonly name: string;
  readonly logPath: string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** Whether it is still running. */
  alive(): boolean;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the process group at once (a crash, for the tests that need one). */
  kill(): Promise<void>;
  /** The last lines of its log. */
  tail(lines?: number): string;
}

/**
 * Starts `binary` with `args` in its own process group, its stdout and stderr
 * appended to `logPath`.
 */
export function startProcess(name: string, binary: string, args: string[], logPath: string): Proc {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const child of running) killGroup(child, 'SIGKILL');
    });
  }
  const log = openSync(logPath, 'a');
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  running.add(child);
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (error) => {
      alive = false;
      running.delete(child);
      resolve(error.message);
    });
  });
  const tail = (lines = 30): string => {
    try {
      return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  return {
    name,
    logPath,
    exited,
    alive: () => alive,
    async stop(graceMs = 15_000) {
      if (!alive) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Anything it started is in the same group.
      killGroup(child, 'SIGKILL');
    },
    async kill() {
      if (!alive) return;
      killGroup(child, 'SIGKILL');
      await exited;
    },
    tail,
  };
}

/**
 * Calls `probe` until it returns something other than undefined, or fails
 * with the last error and `proc`'s log once `limitMs` has passed or `proc` exited.
 * Starting programs announce readiness only by answering, so this polls.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { limitMs?: number; proc?: Proc | undefined; everyMs?: number } = {},
): Promise<T> {
  const limit = Date.now() + (options.limitMs ?? 60_000);
  let last: unknown;
  for (;;) {
    if (options.proc !== undefined && !options.proc.alive()) {
      throw new Error(`${options.proc.name} exited while waiting for ${what}; its log ends:\n${options.proc.tail()}`);
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > limit) {
      const detail = last instanceof Error ? last.message : String(last ?? 'not yet');
      const log = options.proc === undefined ? '' : `; ${options.proc.name}'s log ends:\n${options.proc.tail()}`;
      throw new Error(`timed out waiting for ${what} (${detail})${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 100));
  }
}
