// aperture over TLS with its self-signed certificate: HTTP/2 REST, gRPC unary and
// server-streaming (grpc-js client → proxy → grpc-js backend), and dynamic prices.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h2, h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, removeDir, tempBaseDir } from './support.js';

const PROTO = `
syntax = "proto3";
package demo;
service Quotes {
  rpc Get (Ask) returns (Quote);
  rpc Watch (Ask) returns (stream Quote);
}
message Ask { string symbol = 1; }
message Quote { string symbol = 1; int64 price = 2; }
`;
// The reference's pricesrpc wire format, defined independently of the client.
const PRICES = `
syntax = "proto3";
package pricesrpc;
message GetPriceRequest { string path = 1; string http_request_text = 2; }
message GetPriceResponse { int64 price_sats = 1; }
service Prices { rpc GetPrice (GetPriceRequest) returns (GetPriceResponse); }
`;

function load(text: string): Record<string, Record<string, grpc.ServiceClientConstructor>> {
  const root = protobuf.parse(text, { keepCase: true }).root;
  return grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String })) as unknown as Record<
    string,
    Record<string, grpc.ServiceClientConstructor>
  >;
}
const demo = load(PROTO)['demo'] as { Quotes: grpc.ServiceClientConstructor };
const prices = load(PRICES)['pricesrpc'] as { Prices: grpc.ServiceClientConstructor };
const pkg = { demo: { Quotes: demo.Quotes, Prices: prices.Prices } };

type QuotesClient = grpc.Client & {
  Get(req: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: { price: string }) => void): void;
  Watch(req: object, md: grpc.Metadata): grpc.ClientReadableStream<{ price: string }>;
};

async function bind(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return `127.0.0.1:${port}`;
}

describe('aperture over TLS: HTTP/2 and gRPC', () => {
  let aperture: RunningAperture;
  let ca: Buffer;
  const grpcBackend = new grpc.Server();
  const priceServer = new grpc.Server();
  const asked: string[] = [];
  let rest: Awaited<ReturnType<typeof startBackend>>;

  const baseDir = tempBaseDir();
  before(async () => {
    grpcBackend.addService(pkg.demo.Quotes.service, {
      Get: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { symbol: 'BTC', price: '100000' }),
      Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        for (let i = 1; i <= 3; i++) call.write({ symbol: 'BTC', price: String(i) });
        call.end();
      },
    });
    priceServer.addService(pkg.demo.Prices.service, {
      GetPrice: (call: grpc.ServerUnaryCall<{ path: string; http_request_text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        asked.push(call.request.http_request_text);
        cb(null, { price_sats: call.request.path.startsWith('/priced/free') ? '0' : '21' });
      },
    });
    const grpcAddress = await bind(grpcBackend);
    const priceAddress = await bind(priceServer);
    rest = await startBackend((req, res) => res.end(`rest ${req.url}`));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/demo\\.Quotes/'
    address: ${grpcAddress}
    price: 5
    authskipinvoicecreationpaths: ['^/demo\\.Quotes/Watch$']
  - name: priced
    hostregexp: '.*'
    pathregexp: '^/priced'
    address: ${rest.address}
    dynamicprice:
      enabled: true
      grpcaddress: ${priceAddress}
      insecure: true
  - name: rest
    hostregexp: '.*'
    address: ${rest.address}
    price: 3
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    ca = readFileSync(join(baseDir, 'tls.cert'));
  });

  after(async () => {
    await aperture.close();
    grpcBackend.forceShutdown();
    priceServer.forceShutdown();
    await rest.close();
    removeDir(baseDir);
  });

  function client(): QuotesClient {
    return new pkg.demo.Quotes(`localhost:${aperture.addresses.proxy.port}`, grpc.credentials.createSsl(ca)) as unknown as QuotesClient;
  }

  async function pay(invoice: string): Promise<string> {
    return (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice)).preimage;
  }

  test('HTTP/2 over TLS: 402, pay, 200', async () => {
    const session = await h2Session(`https://localhost:${aperture.addresses.proxy.port}`, ca.toString());
    const first = await h2(session, { ':path': '/x' });
    assert.equal(first.headers[':status'], 402);
    const { macaroon, invoice } = challengeOf(first.headers['www-authenticate'] as string[] | string);
    const preimage = await pay(invoice);
    const ok = await h2(session, { ':path': '/x', authorization: `L402 ${macaroon}:${preimage}` });
    assert.equal(ok.headers[':status'], 200);
    assert.equal(ok.body, 'rest /x');
    session.close();
  });

  test('gRPC unary: payment required (status 13 + www-authenticate), pay, then OK; streaming with the token', async () => {
    const c = client();
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      c.Get({ symbol: 'BTC' }, new grpc.Metadata(), (e) => resolve(e as grpc.ServiceError)),
    );
    assert.equal(err.code, grpc.status.INTERNAL);
    assert.equal(err.details, 'payment required');
    const { macaroon, invoice } = challengeOf(err.metadata.get('www-authenticate') as string[]);
    const preimage = await pay(invoice);
    const md = new grpc.Metadata();
    md.set('authorization', `L402 ${macaroon}:${preimage}`);
    const reply = await new Promise<{ price: string }>((resolve, reject) =>
      c.Get({ symbol: 'BTC' }, md, (e, r) => (e ? reject(e) : resolve(r as { price: string }))),
    );
    assert.equal(reply.price, '100000');

    const noToken = c.Watch({ symbol: 'BTC' }, new grpc.Metadata());
    const denied = await new Promise<grpc.ServiceError>((resolve) => noToken.on('error', resolve));
    assert.equal(denied.code, grpc.status.UNAUTHENTICATED);

    const prices: string[] = [];
    const stream = c.Watch({ symbol: 'BTC' }, md);
    stream.on('data', (q: { price: string }) => prices.push(q.price));
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    assert.deepEqual(prices, ['1', '2', '3']);
    c.close();
  });

  test('dynamic price: the pricer decides (21 sats), 0 is a free pass; no credential reaches the pricer', async () => {
    const session = await h2Session(`https://localhost:${aperture.addresses.proxy.port}`, ca.toString());
    const priced = await h2(session, { ':path': '/priced/a', authorization: `L402 AAAA:${'00'.repeat(32)}` });
    assert.equal(priced.headers[':status'], 402);
    assert.match(challengeOf(priced.headers['www-authenticate'] as string[] | string).invoice, /^lnbcrt210n1/);
    const free = await h2(session, { ':path': '/priced/free' });
    assert.equal(free.headers[':status'], 200);
    assert.match(asked[0] as string, /^GET \/priced\/a HTTP\/2\.0\r\n/);
    assert.doesNotMatch(asked[0] as string, /authorization/i);
    session.close();
  });
});
