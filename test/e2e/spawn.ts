// Spawning the `aperture` CLI and `npm start` as child processes, and waiting on their output.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { deferCleanup, repoRoot, type CleanupScope } from './support.js';

export interface Spawned {
  child: ChildProcess;
  /** Everything written so far to stdout and stderr. */
  output: () => string;
  /** Resolves when the output matches, rejects if the process exits first. */
  waitFor: (pattern: RegExp, limitMs?: number) => Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts a Node script of the repository (through tsx for .ts files). With `t`,
 * the process is killed after the test if it still runs (a failed assertion must
 * not leave it behind: the test file would never end).
 */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}, t?: CleanupScope): Spawned {
  const argv = script.endsWith('.ts') ? ['--import', 'tsx', join(repoRoot, script), ...args] : [join(repoRoot, script), ...args];
  const child = spawn(process.execPath, argv, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of [...waiters]) w();
  });
  const waitFor = (pattern: RegExp, limitMs = 20_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${pattern}; output:\n${text}`));
      }, limitMs);
      const check = (): void => {
        const m = text.match(pattern);
        if (m !== null) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        } else if (done) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`process exited before ${pattern}; output:\n${text}`));
        }
      };
      waiters.add(check);
      check();
    });
  if (t !== undefined) {
    deferCleanup(t, async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
  }
  return { child, output: () => text, waitFor, exited };
}
