// The Payment scheme (MPP) over HTTP/2 and gRPC through the `aperture` program:
// the challenge is a trailers-only reply carrying the L402 and Payment lines;
// a Payment credential in the `authorization` metadata pays the call; a call
// the backend fails with UNAVAILABLE gives the charge back; a dynamically
// priced service asks its pricer once per request and binds the challenge to
// the path it priced.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { h2, h2Session, startBackend } from '../proxy/support.js';
import { configFrom, quiet, removeDir, tempBaseDir } from './support.js';

const PROTO = `
syntax = "proto3";
package demo;
service Quotes {
  rpc Get (Ask) returns (Quote);
  rpc Flaky (Ask) returns (Quote);
}
message Ask { string symbol = 1; }
message Quote { string symbol = 1; int64 price = 2; }
`;
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
const Quotes = (load(PROTO)['demo'] as { Quotes: grpc.ServiceClientConstructor }).Quotes;
const Prices = (load(PRICES)['pricesrpc'] as { Prices: grpc.ServiceClientConstructor }).Prices;

type Callback = (e: grpc.ServiceError | null, r?: { price: string }) => void;
type QuotesClient = grpc.Client & {
  Get(req: object, md: grpc.Metadata, cb: Callback): grpc.ClientUnaryCall;
  Flaky(req: object, md: grpc.Metadata, cb: Callback): grpc.ClientUnaryCall;
};

async function bind(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return `127.0.0.1:${port}`;
}

/** The charge challenge among `www-authenticate` values (grpc-js joins repeated metadata into one value). */
function chargeOf(values: readonly string[]): PaymentChallenge {
  return parsePaymentChallenges(values).find((c) => c.intent === 'charge') as PaymentChallenge;
}

/** The auth-scheme of each challenge in the values, in order. */
function schemesOf(values: readonly string[]): string[] {
  return [...values.join(', ').matchAll(/(?:^|, )(LSAT|L402|Payment) /g)].map((m) => m[1] as string);
}

function invoiceOf(challenge: PaymentChallenge): string {
  return (JSON.parse(Buffer.from(challenge.request, 'base64url').toString('utf8')) as { methodDetails: { invoice: string } }).methodDetails
    .invoice;
}

describe('aperture serves the Payment scheme over HTTP/2 and gRPC', () => {
  let aperture: RunningAperture;
  let ca: Buffer;
  const backend = new grpc.Server();
  const priceServer = new grpc.Server();
  const asked: string[] = [];
  let failNext = 0;
  let rest: Awaited<ReturnType<typeof startBackend>>;
  const baseDir = tempBaseDir();

  before(async () => {
    backend.addService(Quotes.service, {
      Get: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { symbol: 'BTC', price: '100000' }),
      Flaky: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        if (failNext > 0) {
          failNext--;
          cb({ code: grpc.status.UNAVAILABLE, details: 'database down' });
        } else cb(null, { symbol: 'BTC', price: '1' });
      },
    });
    priceServer.addService(Prices.service, {
      GetPrice: (call: grpc.ServerUnaryCall<{ path: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        asked.push(call.request.path);
        cb(null, { price_sats: '21' });
      },
    });
    const grpcAddress = await bind(backend);
    const priceAddress = await bind(priceServer);
    rest = await startBackend((req, res) => res.end(`rest ${req.url}`));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
  enablempp: true
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/demo\\.Quotes/'
    address: ${grpcAddress}
    price: 5
    authscheme: l402+mpp
  - name: priced
    hostregexp: '.*'
    pathregexp: '^/priced'
    address: ${rest.address}
    authscheme: mpp
    dynamicprice:
      enabled: true
      grpcaddress: ${priceAddress}
      insecure: true
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    ca = readFileSync(join(baseDir, 'tls.cert'));
  });

  after(async () => {
    await aperture?.close();
    backend.forceShutdown();
    priceServer.forceShutdown();
    await rest?.close();
    removeDir(baseDir);
  });

  const client = (): QuotesClient =>
    new Quotes(`localhost:${aperture.addresses.proxy.port}`, grpc.credentials.createSsl(ca)) as unknown as QuotesClient;
  const server = (): DevInvoicer => aperture.invoicer as DevInvoicer;

  function call(
    c: QuotesClient,
    method: 'Get' | 'Flaky',
    md: grpc.Metadata,
  ): Promise<{ error: grpc.ServiceError | null; headers: grpc.Metadata | undefined }> {
    return new Promise((resolve) => {
      let headers: grpc.Metadata | undefined;
      const unary = c[method]({ symbol: 'BTC' }, md, (error) => resolve({ error, headers }));
      unary.on('metadata', (m) => {
        headers = m;
      });
    });
  }

  async function paidMetadata(c: QuotesClient, method: 'Get' | 'Flaky'): Promise<grpc.Metadata> {
    const { error } = await call(c, method, new grpc.Metadata());
    assert.equal(error?.code, grpc.status.INTERNAL);
    assert.equal(error?.details, 'payment required');
    const lines = error?.metadata.get('www-authenticate') as string[];
    assert.deepEqual(schemesOf(lines), ['LSAT', 'L402', 'Payment'], 'trailers-only, L402 first, the charge (no sessions here)');
    const charge = chargeOf(lines);
    const { preimage } = await server().pay(invoiceOf(charge));
    const md = new grpc.Metadata();
    md.set('authorization', `Payment ${encodePaymentCredential({ challenge: charge, payload: { preimage } })}`);
    return md;
  }

  test('gRPC: the challenge in trailers, the Payment credential in the authorization metadata, a receipt, a replay refused', async () => {
    const c = client();
    const md = await paidMetadata(c, 'Get');
    const ok = await call(c, 'Get', md);
    assert.equal(ok.error, null);
    assert.equal(typeof ok.headers?.get('payment-receipt')[0], 'string');
    const replay = await call(c, 'Get', md);
    assert.equal(replay.error?.code, grpc.status.INTERNAL);
    assert.equal(replay.error?.details, 'payment required (L402_ERR_MPP_REPLAYED)');
    c.close();
  });

  test('gRPC: a call the backend fails with UNAVAILABLE gives the charge back', async () => {
    const c = client();
    const md = await paidMetadata(c, 'Flaky');
    failNext = 1;
    const failed = await call(c, 'Flaky', md);
    assert.equal(failed.error?.code, grpc.status.UNAVAILABLE);
    let retry = await call(c, 'Flaky', md);
    // The release runs once the failed call has ended; a retry before it lands is refused and spends nothing.
    for (const until = Date.now() + 10_000; retry.error !== null && Date.now() < until;) {
      await new Promise((r) => setImmediate(r));
      retry = await call(c, 'Flaky', md);
    }
    assert.equal(retry.error, null);
    assert.equal((await call(c, 'Flaky', md)).error?.code, grpc.status.INTERNAL, 'served: spent');
    c.close();
  });

  test('dynamic price: asked once per request, the charge is bound to the path it priced', async () => {
    const session = await h2Session(`https://localhost:${aperture.addresses.proxy.port}`, ca.toString());
    asked.length = 0;
    const first = await h2(session, { ':path': '/priced/a' });
    assert.equal(first.headers[':status'], 402);
    const lines = ([] as string[]).concat(first.headers['www-authenticate'] as string[] | string);
    assert.deepEqual(schemesOf(lines), ['Payment']);
    const charge = chargeOf(lines);
    const { preimage } = await server().pay(invoiceOf(charge));
    const authorization = `Payment ${encodePaymentCredential({ challenge: charge, payload: { preimage } })}`;
    asked.length = 0;
    const ok = await h2(session, { ':path': '/priced/a', authorization });
    assert.equal(ok.headers[':status'], 200);
    assert.equal(ok.body, 'rest /priced/a');
    assert.deepEqual(asked, ['/priced/a'], 'one price per request');
    const elsewhere = await h2(session, { ':path': '/priced/b', authorization });
    assert.equal(elsewhere.headers[':status'], 402);
    assert.match(String(elsewhere.headers['content-type']), /problem\+json/);
    assert.equal(JSON.parse(elsewhere.body).type, 'https://paymentauth.org/problems/lightning/unknown-challenge');
    session.close();
  });
});
