// Helpers of the aperturecli tests: run main() in this process with captured
// streams (stdout not a terminal, so output is JSON, as for an agent), and
// parse what it wrote.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/aperturecli.js';
import { bakeAdminMacaroon, type BakeAdminMacaroonOptions } from '../../src/admin/admin-macaroon.js';
import type { AdminServer } from '../admin/support.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as JSON. */
  json(): Record<string, unknown>;
  /** The last JSON line of stderr (the error object). */
  error(): Record<string, unknown>;
}

export async function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, tty = false): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: {
      write: (c) => {
        stdout += String(c);
        return true;
      },
      isTTY: tty,
    },
    stderr: {
      write: (c) => {
        stderr += String(c);
        return true;
      },
      isTTY: tty,
    },
    env: { HOME: '/nonexistent-home', ...env },
  });
  return {
    code,
    stdout,
    stderr,
    json: () => JSON.parse(stdout) as Record<string, unknown>,
    error: () => {
      const lines = stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      return JSON.parse(lines[lines.length - 1] ?? 'null') as Record<string, unknown>;
    },
  };
}

/** The connection flags for a test admin server: TLS with its certificate, or --insecure (h2c). */
export function connection(server: AdminServer, macaroonPath = server.macaroonPath): string[] {
  const base = ['--host', `127.0.0.1:${server.port}`, '--macaroon', macaroonPath];
  if (server.cert === undefined) return [...base, '--insecure'];
  const certPath = join(server.dir, 'tls.cert');
  return [...base, '--tls-cert', certPath];
}

/** Writes a macaroon baked from the server's root key with only some methods. */
export function scopedMacaroon(server: AdminServer, name: string, methods: BakeAdminMacaroonOptions['methods']): string {
  const path = join(server.dir, `${name}.macaroon`);
  writeFileSync(path, bakeAdminMacaroon(server.rootKey, { methods: methods ?? 'all' }).toBinary());
  return path;
}
