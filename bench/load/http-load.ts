// HTTP load generator, run in its own process: autocannon with a fixed number
// of keep-alive connections, one request in flight per connection; at a fixed
// rate, evenly paced requests (paced-load.ts). Latency is
// taken from autocannon's per-response event (hrtime, sub-millisecond) rather
// than its histogram, whose resolution is 1 ms.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { childParams, report, reportAndExit } from '../lib/child.js';
import { Samples } from '../lib/percentiles.js';
import { pacedRun } from './paced-load.js';

interface Params {
  url: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** One `Authorization` value per line, sent round-robin (each connection starts at its own offset). */
  tokenFile?: string;
  /** Fixed total request rate instead of as fast as possible. */
  rate?: number;
  /** Send exactly this many requests (after the warm-up) instead of running for `durationSec`. */
  amount?: number;
  /** Status every response must have; others are counted as errors. */
  expectStatus: number;
}

const params = childParams<Params>();
const tokens = params.tokenFile === undefined ? [] : readFileSync(params.tokenFile, 'utf8').split('\n').filter((l) => l !== '');

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
// second's quota in one burst); everything else is autocannon.
const measureRun = (durationSec: number, record: boolean, amount?: number): Promise<Outcome> =>
  params.rate === undefined
    ? run(durationSec, record, amount)
    : pacedRun({ url: params.url, rate: params.rate, connections: params.connections, durationSec, authorizations: tokens, record })
      .then((o) => ({ ...o, timeouts: 0 }));
if (params.warmupSec > 0) await measureRun(params.warmupSec, false);
report({ type: 'measuring' });
const outcome = await measureRun(params.durationSec, true, params.amount);
const [p50, p99, p999] = outcome.samples.percentiles([50, 99, 99.9]);
const wrong = Object.entries(outcome.statuses).filter(([s]) => Number(s) !== params.expectStatus).reduce((n, [, c]) => n + c, 0);
reportAndExit({
  type: 'result',
  requests: outcome.samples.size,
  rps: outcome.samples.size / outcome.durationSec,
  p50_ms: p50,
  p99_ms: p99,
  p999_ms: p999,
  statuses: outcome.statuses,
  errors: outcome.errors + outcome.timeouts + wrong,
});
