// issue 14 item 2: with dynamicprice.enabled, a token bought for a cheap path must not open an
// expensive one. Tokens are scoped as the reference's are (`services=<service><path>:0`), over
// HTTP/1.1, HTTP/2 and gRPC, and the reference's own tokens keep working here.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { Macaroon } from '../../src/core/macaroon.js';
import { Minter } from '../../src/core/minter.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2, h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

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

/** Sats by path; anything else costs 50. */
const PRICE_OF: Record<string, number> = { '/dyn/cheap': 1, '/dyn/expensive': 1000, '/demo.Q/Cheap': 1, '/demo.Q/Dear': 1000 };

const identity = (b: Buffer): Buffer => b;
const unaryMethod = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

describe('dynamic prices: a token opens the resource it was priced for', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const priceServer = new grpc.Server();
  const grpcBackend = new grpc.Server();
  const clock = new TestClock(Date.now());
  const baseDir = tempBaseDir();

  before(async () => {
    priceServer.addService(Prices.service, {
      GetPrice: (call: grpc.ServerUnaryCall<{ path: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        cb(null, { price_sats: String(PRICE_OF[call.request.path] ?? 50) });
      },
    });
    const pricePort = await new Promise<number>((resolve, reject) =>
      priceServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    grpcBackend.addService(
      { Cheap: unaryMethod('/demo.Q/Cheap'), Dear: unaryMethod('/demo.Q/Dear') },
      {
        Cheap: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('cheap')),
        Dear: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('dear')),
      },
    );
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcBackend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    backend = await startBackend((req, res) => res.end(`${req.method} ${req.url}`));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: grpcdyn
    hostregexp: '.*'
    pathregexp: '^/demo\\.Q/'
    address: 127.0.0.1:${grpcPort}
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:${pricePort}
      insecure: true
  - name: dyn
    hostregexp: '.*'
    pathregexp: '^/dyn/'
    address: ${backend.address}
    timeout: 60
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:${pricePort}
      insecure: true
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false, challengeRateLimit: false });
  });

  after(async () => {
    await aperture.close();
    priceServer.forceShutdown();
    grpcBackend.forceShutdown();
    await backend.close();
    rmSync(baseDir, { recursive: true, force: true });
  });

  const pay = async (invoice: string): Promise<string> =>
    (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice)).preimage;

  /** Asks for `path`'s challenge and pays it. */
  async function buy(path: string): Promise<{ authorization: string; macaroon: string }> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402);
    const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
    return { authorization: `L402 ${macaroon}:${await pay(invoice)}`, macaroon };
  }

  /** A 402 refusing the credential as bought for another resource, with a fresh invoice of `invoicePrefix`. */
  function assertWrongResource(res: { status: number; rawHeaders: string[]; body: string }, invoicePrefix: RegExp): void {
    assert.equal(res.status, 402);
    assert.equal(res.body, 'payment required (L402_ERR_TOKEN_WRONG_RESOURCE)\n');
    const lines = wwwAuthenticate(res.rawHeaders);
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /, error="wrong_resource"$/);
    assert.match(challengeOf(lines).invoice, invoicePrefix);
  }

  test('1 sat on /dyn/cheap opens /dyn/cheap (any query) and is refused on /dyn/expensive (priced 1000)', async () => {
    const cheap = await buy('/dyn/cheap');
    // Twice: the second answer comes from the verifier's cache, which must not widen the scope either.
    for (const path of ['/dyn/cheap', '/dyn/cheap', '/dyn/cheap?page=2']) {
      const ok = await h1(`${aperture.url}${path}`, { headers: { authorization: cheap.authorization } });
      assert.equal(ok.status, 200, path);
      assert.equal(ok.body, `GET ${path}`);
    }
    assertWrongResource(await h1(`${aperture.url}/dyn/expensive`, { headers: { authorization: cheap.authorization } }), /^lnbcrt10u1/);
    // The same over HTTP/2.
    const session = await h2Session(aperture.url);
    try {
      const dear = await h2(session, { ':path': '/dyn/expensive', authorization: cheap.authorization });
      assert.equal(dear.headers[':status'], 402);
      assert.equal(dear.body, 'payment required (L402_ERR_TOKEN_WRONG_RESOURCE)\n');
      const ok = await h2(session, { ':path': '/dyn/cheap', authorization: cheap.authorization });
      assert.equal(ok.headers[':status'], 200);
    } finally {
      session.close();
    }
    // The reference's scope (services=<service><path>), and the service's own expiry.
    const caveats = Macaroon.fromBase64(cheap.macaroon).firstPartyCaveats();
    assert.equal(caveats[0], 'services=dyn/dyn/cheap:0');
    assert.match(caveats[1] as string, /^dyn_valid_until=\d+$/);
    // Paying the expensive challenge opens the expensive path.
    const expensive = await buy('/dyn/expensive');
    assert.equal((await h1(`${aperture.url}/dyn/expensive`, { headers: { authorization: expensive.authorization } })).status, 200);
  });

  test('the token still expires with the service timeout', async () => {
    const cheap = await buy('/dyn/cheap');
    assert.equal((await h1(`${aperture.url}/dyn/cheap`, { headers: { authorization: cheap.authorization } })).status, 200);
    clock.advance(61_000);
    try {
      const late = await h1(`${aperture.url}/dyn/cheap`, { headers: { authorization: cheap.authorization } });
      assert.equal(late.status, 402);
      assert.equal(late.body, 'payment required (L402_ERR_TOKEN_EXPIRED)\n');
    } finally {
      clock.advance(-61_000);
    }
  });

  test("a token in the reference's form opens its resource only; a whole-service token opens none", async () => {
    // What the Go aperture mints for GET /dyn/cheap on service `dyn` (proxy.Service.ResourceName).
    const minter = new Minter({ invoicer: aperture.invoicer as DevInvoicer, secrets: aperture.store, clock });
    const reference = await minter.mint({ services: [{ name: 'dyn/dyn/cheap', tier: 0 }], priceSats: 1 });
    const authorization = `L402 ${reference.macaroonBase64}:${await pay(reference.invoice.paymentRequest)}`;
    assert.equal((await h1(`${aperture.url}/dyn/cheap`, { headers: { authorization } })).status, 200);
    assertWrongResource(await h1(`${aperture.url}/dyn/expensive`, { headers: { authorization } }), /^lnbcrt10u1/);

    const whole = await minter.mint({ services: [{ name: 'dyn', tier: 0 }], priceSats: 1 });
    const wholeAuth = `L402 ${whole.macaroonBase64}:${await pay(whole.invoice.paymentRequest)}`;
    const refused = await h1(`${aperture.url}/dyn/cheap`, { headers: { authorization: wholeAuth } });
    assert.equal(refused.status, 402);
    assert.equal(refused.body, 'payment required (L402_ERR_TOKEN_WRONG_SERVICE)\n');
  });

  test('gRPC: a token priced for one method does not open a dearer one', async () => {
    const client = new grpc.Client(`127.0.0.1:${aperture.addresses.proxy.port}`, grpc.credentials.createInsecure());
    const call = (path: string, md = new grpc.Metadata()): Promise<{ error: grpc.ServiceError | null; reply?: Buffer }> =>
      new Promise((resolve) =>
        client.makeUnaryRequest(path, identity, identity, Buffer.from('q'), md, (error, reply) =>
          resolve(reply === undefined ? { error } : { error, reply }),
        ),
      );
    try {
      const first = await call('/demo.Q/Cheap');
      assert.equal(first.error?.code, grpc.status.INTERNAL);
      const { macaroon, invoice } = challengeOf(first.error?.metadata.get('www-authenticate') as string[]);
      assert.match(invoice, /^lnbcrt10n1/);
      assert.equal(Macaroon.fromBase64(macaroon).firstPartyCaveats()[0], 'services=grpcdyn/demo.Q/Cheap:0');
      const md = new grpc.Metadata();
      md.set('authorization', `L402 ${macaroon}:${await pay(invoice)}`);
      assert.equal((await call('/demo.Q/Cheap', md)).reply?.toString(), 'cheap');
      const dear = await call('/demo.Q/Dear', md);
      assert.equal(dear.error?.code, grpc.status.INTERNAL);
      assert.equal(dear.error?.details, 'payment required (L402_ERR_TOKEN_WRONG_RESOURCE)');
      const challenge = challengeOf(dear.error?.metadata.get('www-authenticate') as string[]);
      assert.match(challenge.invoice, /^lnbcrt10u1/);
    } finally {
      client.close();
    }
  });
});
