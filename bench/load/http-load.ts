// HTTP load generator, run in its own process: a fixed number of keep-alive
// connections, one request in flight per connection, driven by wrk when the
// harness found it (wrk-load.ts) and by autocannon otherwise; at a fixed rate,
// evenly paced requests (paced-load.ts). autocannon's latency is taken from
// its per-response event (hrtime, sub-millisecond) rather than its histogram,
// whose resolution is 1 ms.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { childParams, report, reportAndExit } from '../lib/child.js';
import type { PathFigures } from '../lib/scenarios.js';
import { Samples } from '../lib/percentiles.js';
import { pacedRun } from './paced-load.js';
import { wrkRun } from './wrk-load.js';

interface Params {
  url: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** One `Authorization` value per line, sent round-robin (autocannon: each connection from its own offset; wrk: from one random offset). */
  tokenFile?: string;
  /** Fixed total request rate instead of as fast as possible. */
  rate?: number;
  /** At a fixed rate: paths sent in turn, each reported on its own (`by_path`). */
  paths?: string[];
  /** Send exactly this many requests (after the warm-up) instead of running for `durationSec`. */
  amount?: number;
  /** Status every response must have; others are counted as errors. */
  expectStatus: number;
  /**
   * wrk's path: saturating runs of `expectStatus` 200 use it (wrk counts only
   * statuses outside 2xx/3xx, which is enough there); autocannon when absent.
   */
  wrk?: string;
}

const params = childParams<Params>();
const tokens =
  params.tokenFile === undefined
    ? []
    : readFileSync(params.tokenFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '');

function requests(): autocannon.Request[] {
  if (tokens.length === 0) return [{ method: 'GET', path: new URL(params.url).pathname }];
  let next = Math.floor(Math.random() * tokens.length);
  return [
    {
      method: 'GET',
      path: new URL(params.url).pathname,
      setupRequest: (req) => {
        next = next + 1 === tokens.length ? 0 : next + 1;
        return { ...req, headers: { authorization: tokens[next] as string } };
      },
    },
  ];
}

interface Outcome {
  samples: Samples;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  durationSec: number;
}

function run(durationSec: number, record: boolean, amount?: number): Promise<Outcome> {
  const samples = new Samples();
  const statuses: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const options: autocannon.Options = {
      url: params.url,
      connections: params.connections,
      pipelining: 1,
      ...(amount === undefined ? { duration: durationSec } : { amount }),
      requests: requests(),
      timeout: 10,
    };
    const instance = autocannon(options, (error, result) => {
      if (error !== null && error !== undefined) {
        reject(error);
        return;
      }
      resolve({ samples, statuses, errors: result.errors, timeouts: result.timeouts, durationSec: result.duration });
    });
    if (record) {
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        samples.add(responseTime);
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      });
    }
  });
}

// A fixed rate is paced by our own loop (autocannon's overallRate sends each
// second's quota in one burst); a saturating run of a known length goes to
// wrk when there is one; everything else is autocannon.
const wrk =
  params.wrk !== undefined && params.rate === undefined && params.amount === undefined && params.expectStatus === 200
    ? params.wrk
    : undefined;

interface Measured {
  requests: number;
  durationSec: number;
  percentiles: number[];
  statuses?: Record<string, number>;
  errors: number;
  /** Per path, at a fixed rate with `paths`. */
  byPath?: Record<string, PathFigures>;
}

async function measureRun(durationSec: number, record: boolean, amount?: number): Promise<Measured> {
  if (wrk !== undefined) {
    const r = await wrkRun({ wrk, url: params.url, connections: params.connections, durationSec, tokenFile: params.tokenFile });
    return {
      requests: r.requests,
      durationSec: r.durationSec,
      percentiles: [r.p50_ms, r.p99_ms, r.p999_ms],
      errors: r.errors + r.nonSuccess,
    };
  }
  const paced =
    params.rate === undefined
      ? undefined
      : await pacedRun({
          url: params.url,
          rate: params.rate,
          connections: params.connections,
          durationSec,
          authorizations: tokens,
          record,
          ...(params.paths === undefined ? {} : { paths: params.paths }),
        });
  const o = paced === undefined ? await run(durationSec, record, amount) : { ...paced, timeouts: 0 };
  const wrong = Object.entries(o.statuses)
    .filter(([s]) => Number(s) !== params.expectStatus)
    .reduce((n, [, c]) => n + c, 0);
  const measured: Measured = {
    requests: o.samples.size,
    durationSec: o.durationSec,
    percentiles: o.samples.percentiles([50, 99, 99.9]),
    statuses: o.statuses,
    errors: o.errors + o.timeouts + wrong,
  };
  if (paced !== undefined && params.paths !== undefined) {
    measured.byPath = Object.fromEntries(
      params.paths.map((path, i) => {
        const samples = paced.byPath[i] as Samples;
        const [p50, p99, p999] = samples.percentiles([50, 99, 99.9]) as [number, number, number];
        return [path, { requests: samples.size, p50_ms: p50, p99_ms: p99, p999_ms: p999 }];
      }),
    );
  }
  return measured;
}

if (params.warmupSec > 0) await measureRun(params.warmupSec, false);
report({ type: 'measuring' });
const outcome = await measureRun(params.durationSec, true, params.amount);
const [p50, p99, p999] = outcome.percentiles;
reportAndExit({
  type: 'result',
  generator: wrk === undefined ? 'autocannon' : 'wrk',
  requests: outcome.requests,
  rps: outcome.requests / outcome.durationSec,
  p50_ms: p50,
  p99_ms: p99,
  p999_ms: p999,
  ...(outcome.statuses === undefined ? {} : { statuses: outcome.statuses }),
  ...(outcome.byPath === undefined ? {} : { by_path: outcome.byPath }),
  errors: outcome.errors,
});
