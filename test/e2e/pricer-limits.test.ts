// The dynamic pricer is called only after the masked IP's rate limits pass (every unauthenticated
// request costs a pricer RPC otherwise), and an HTTP/2 body that stalls cannot hold pricing forever.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2Session, startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

const PRICES = `
syntax = "proto3";
package pricesrpc;
message GetPriceRequest { string path = 1; string http_request_text = 2; }
message GetPriceResponse { int64 price_sats = 1; }
service Prices { rpc GetPrice (GetPriceRequest) returns (GetPriceResponse); }
`;
const root = protobuf.parse(PRICES, { keepCase: true }).root;
const Prices = (
  grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String })) as unknown as {
    pricesrpc: { Prices: grpc.ServiceClientConstructor };
  }
).pricesrpc.Prices;

describe('dynamic pricer behind the rate limits', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const priceServer = new grpc.Server();
  const asked: Array<{ path: string; text: string }> = [];

  const baseDir = tempBaseDir();
  before(async () => {
    priceServer.addService(Prices.service, {
      GetPrice: (call: grpc.ServerUnaryCall<{ path: string; http_request_text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        asked.push({ path: call.request.path, text: call.request.http_request_text });
        cb(null, { price_sats: '5' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      priceServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    backend = await startBackend((_req, res) => res.end('ok'));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
readtimeout: 300ms
authenticator:
  backend: dev
services:
  - name: priced
    hostregexp: '.*'
    address: ${backend.address}
    ratelimits:
      - pathregexp: '^/limited'
        requests: 2
        per: 1m
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:${port}
      insecure: true
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    await aperture.close();
    priceServer.forceShutdown();
    await backend.close();
    removeDir(baseDir);
  });

  test('unauthenticated requests over the IP rate limit get 429 without a pricer call', async () => {
    asked.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await h1(`${aperture.url}/limited/x`)).status);
    assert.deepEqual(statuses, [402, 402, 429, 429, 429]);
    assert.equal(asked.filter((a) => a.path === '/limited/x').length, 2);
  });

  test(
    'HTTP/2: a body that stalls is priced on what arrived within three quarters of readtimeout, before the 408',
    { timeout: 10_000 },
    async () => {
      asked.length = 0;
      const session = await h2Session(aperture.url);
      try {
        const stream = session.request({ ':method': 'POST', ':path': '/stalled', 'content-type': 'text/plain' });
        stream.write('first bytes');
        const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
        assert.equal(headers[':status'], 402);
        assert.equal(asked.length, 1);
        assert.match(asked[0]?.text ?? '', /\r\n\r\nfirst bytes$/);
        stream.close();
      } finally {
        session.close();
      }
    },
  );
});
