// Shared helpers of the end-to-end tests: configurations, temp base dirs, challenges, clocks, free ports.
import { createServer, type AddressInfo } from 'node:net';
import { checkConfig } from '../../src/proxy/config/check-config.js';
import { formatConfigReport } from '../../src/proxy/config/format-config-report.js';
import type { ApertureConfig } from '../../src/proxy/config/aperture-config.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { tempDir, type CleanupScope } from '../fixtures/cleanup.js';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/**
 * A fresh temporary base directory, removed after the test `t` (after what was
 * registered later with `deferCleanup`, such as a process `spawnNode` started in
 * it; a `t.after` of the test's own runs in its own order, so stop an aperture
 * using the directory in the test body). Without `t` (or with only a prefix, the
 * older form) it is removed when the test file's process exits: for directories
 * made in `before` hooks, which remove theirs in `after` with {@link removeDir}.
 */
export function tempBaseDir(t?: CleanupScope | string, prefix = 'aperture-e2e-'): string {
  return typeof t === 'string' ? tempDir(t) : tempDir(prefix, t);
}

export { deferCleanup, removeDir, type CleanupScope } from '../fixtures/cleanup.js';

/**
 * A validated configuration from YAML. The config language refuses port 0, so
 * listen addresses are written as `127.0.0.1:0` here and bound to free ports.
 */
export function configFrom(yaml: string, baseDir: string): ApertureConfig {
  const text = yaml.replace(/127\.0\.0\.1:0\b/g, '127.0.0.1:1');
  const report = checkConfig({ text, baseDir });
  if (!report.ok || report.config === undefined) throw new Error(formatConfigReport(report));
  const config = report.config;
  if (/listenaddr:\s*127\.0\.0\.1:0/.test(yaml)) config.listenAddr = '127.0.0.1:0';
  if (/prometheus:[\s\S]*listenaddr:\s*127\.0\.0\.1:0/.test(yaml)) config.prometheus.listenAddr = '127.0.0.1:0';
  return config;
}

/** A logger that writes nothing. */
export const quiet = createLogger('off');

/** The tests' one clock (test/fixtures/test-clock.ts); the end-to-end tests start it at `Date.now()`. */
export { TestClock } from '../fixtures/test-clock.js';

/** The first L402 challenge of a response's `WWW-Authenticate` values. */
export function challengeOf(values: string | string[] | undefined): { macaroon: string; invoice: string } {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  const c = parseChallenges(list)[0];
  if (c === undefined) throw new Error(`no L402 challenge in ${JSON.stringify(values)}`);
  return { macaroon: c.macaroon, invoice: c.invoice };
}

/** Every `WWW-Authenticate` value of a raw header list. */
export function wwwAuthenticate(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]?.toLowerCase() === 'www-authenticate') out.push(rawHeaders[i + 1] as string);
  return out;
}

/** A port that was free a moment ago (for spawned processes, which need a port in their config). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
