// gRPC unary load generator, run in its own process: one grpc-js channel (one
// HTTP/2 connection, as a grpc-js client uses by default), `concurrency`
// calls in flight, each restarted when it completes.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { childParams, report, reportAndExit } from '../lib/child.js';
import { Samples } from '../lib/percentiles.js';

interface Params {
  target: string;
  concurrency: number;
  durationSec: number;
  warmupSec: number;
  tokenFile?: string;
}

const params = childParams<Params>();
const tokens =
  params.tokenFile === undefined
    ? []
    : readFileSync(params.tokenFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '');
const identity = (b: Buffer): Buffer => b;
const Client = grpc.makeGenericClientConstructor(
  {
    Ping: {
      path: '/bench.Echo/Ping',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  'Echo',
);
const client = new Client(params.target, grpc.credentials.createInsecure());
const ping = (client as unknown as Record<string, (req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void>)[
  'Ping'
] as (req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void;
const payload = Buffer.from('ping-0123456789');
let nextToken = 0;

function metadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  if (tokens.length > 0) {
    nextToken = nextToken + 1 === tokens.length ? 0 : nextToken + 1;
    md.set('authorization', tokens[nextToken] as string);
  }
  return md;
}

async function run(durationSec: number): Promise<{ samples: Samples; errors: number; seconds: number; firstError?: string }> {
  const samples = new Samples();
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + durationSec * 1000;
  await Promise.all(
    Array.from(
      { length: params.concurrency },
      () =>
        new Promise<void>((resolve) => {
          const once = (): void => {
            if (performance.now() >= end) {
              resolve();
              return;
            }
            const t0 = performance.now();
            ping.call(client, payload, metadata(), (error) => {
              if (error === null) samples.add(performance.now() - t0);
              else {
                errors++;
                firstError ??= `${error.code} ${error.details}`;
              }
              once();
            });
          };
          once();
        }),
    ),
  );
  const out: { samples: Samples; errors: number; seconds: number; firstError?: string } = {
    samples,
    errors,
    seconds: (performance.now() - start) / 1000,
  };
  if (firstError !== undefined) out.firstError = firstError;
  return out;
}

await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e === undefined ? resolve() : reject(e))));
if (params.warmupSec > 0) await run(params.warmupSec);
report({ type: 'measuring' });
const outcome = await run(params.durationSec);
const [p50, p99, p999] = outcome.samples.percentiles([50, 99, 99.9]);
client.close();
reportAndExit({
  type: 'result',
  requests: outcome.samples.size,
  rps: outcome.samples.size / outcome.seconds,
  p50_ms: p50,
  p99_ms: p99,
  p999_ms: p999,
  errors: outcome.errors,
  ...(outcome.firstError !== undefined ? { firstError: outcome.firstError } : {}),
});
