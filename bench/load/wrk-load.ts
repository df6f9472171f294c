// Saturating HTTP load with wrk (a C load generator), when it is installed.
//
// autocannon is JavaScript: on the two-core machine the bench is made for, it
// shares CPU 0 with the upstream and spends about as much CPU per request as
// the upstream itself, so above roughly 25,000 req/s CPU 0 runs out before a
// fast proxy on CPU 1 does, and the throughput ratios between proxies shrink
// towards 1. wrk sends the same requests for a fraction of that CPU.
//
// One wrk thread with a fixed set of keep-alive connections, one request in
// flight per connection, the `Authorization` values sent in turn from the
// token file, exactly as the autocannon path does. wrk reports through the
// Lua `done` hook: requests, duration and latency percentiles in
// microseconds, and its error counters.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The wrk binary on the `PATH`, or undefined when none is installed. */
export function findWrk(): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  return dirs.map((d) => join(d, 'wrk')).find((p) => existsSync(p));
}

/** What {@link wrkRun} needs. */
export interface WrkOptions {
  wrk: string;
  url: string;
  connections: number;
  durationSec: number;
  /** A file of `Authorization` values, one per line; none sent when undefined. */
  tokenFile: string | undefined;
}

/** What a wrk run measured. */
export interface WrkOutcome {
  requests: number;
  durationSec: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** Responses with a status outside 2xx and 3xx. */
  nonSuccess: number;
}

// The `request` hook returns prepared request texts in turn (one Lua call and
// no formatting per request); each thread starts at its own random offset.
// No `response` hook: defining one makes wrk parse every response's headers
// into a Lua table, which would cost the load generator more CPU.
const SCRIPT = `
local requests = {}
local count = 0
local next_index = 0

function init(args)
  local path, host, token_file = args[1], args[2], args[3]
  if token_file ~= nil and token_file ~= "" then
    for line in io.lines(token_file) do
      if line ~= "" then
        count = count + 1
        requests[count] = wrk.format("GET", path, { ["Host"] = host, ["Authorization"] = line })
      end
    end
  end
  if count == 0 then
    count = 1
    requests[1] = wrk.format("GET", path, { ["Host"] = host })
  end
  math.randomseed(os.time())
  next_index = math.random(count) - 1
end

function request()
  next_index = next_index + 1
  if next_index > count then next_index = 1 end
  return requests[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/**
 * Runs wrk once against `url`.
 * @param o - binary, target, connections, duration, credentials
 * @returns what wrk counted; rejects when wrk fails or prints no result
 */
export async function wrkRun(o: WrkOptions): Promise<WrkOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const script = join(dir, 'load.lua');
    writeFileSync(script, SCRIPT);
    const url = new URL(o.url);
    const args = [
      '--threads',
      '1',
      '--connections',
      String(o.connections),
      '--duration',
      `${Math.max(1, Math.round(o.durationSec))}s`,
      '--timeout',
      '10s',
      '--script',
      script,
      o.url,
      '--',
      url.pathname,
      url.host,
      o.tokenFile ?? '',
    ];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(o.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${String(code)}: ${text.trim()}`))));
    });
    const line = /^WRK_RESULT (\{.*\})$/m.exec(output)?.[1];
    if (line === undefined) throw new Error(`wrk printed no result: ${output.trim()}`);
    const r = JSON.parse(line) as Record<string, number>;
    const n = (key: string): number => r[key] as number;
    return {
      requests: n('requests'),
      durationSec: n('duration_us') / 1e6,
      p50_ms: n('p50_us') / 1000,
      p99_ms: n('p99_us') / 1000,
      p999_ms: n('p999_us') / 1000,
      errors: n('connect') + n('read') + n('write') + n('timeout'),
      nonSuccess: n('status'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
