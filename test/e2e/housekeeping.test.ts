// Background jobs of the running aperture: garbage collection of unpaid, expired challenges
// on its own timer (paid tokens stay valid), and the gRPC answer of a rate-limited call.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { Macaroon } from '../../src/core/macaroon.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture } from '../../src/app/start-aperture.js';
import { watchedLogger } from './log-support.js';
import { h1, startBackend } from '../proxy/support.js';
import { ledgerRow, settledInLedger } from './lnd-support.js';
import { challengeOf, configFrom, quiet, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';

function idHashOf(macaroonBase64: string): Uint8Array {
  return createHash('sha256').update(Macaroon.fromBase64(macaroonBase64).identifier).digest();
}

test(
  'garbage collection on its timer: unpaid expired challenges lose root key and ledger row; paid tokens stay valid',
  { timeout: 30_000 },
  async (t) => {
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const clock = new TestClock(Date.now());
    const { logger, next } = watchedLogger();
    const dir = tempBaseDir(t);
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: api
    pathregexp: '^/api'
    address: ${backend.address}
    price: 10
`,
      dir,
    );
    const aperture = await startAperture(config, { logger, clock, gcIntervalMs: 20, gcGraceMs: 1000, defaultMetrics: false });
    try {
      const unpaidRes = await h1(`${aperture.url}/api/x`);
      assert.equal(unpaidRes.status, 402);
      const unpaid = challengeOf(wwwAuthenticate(unpaidRes.rawHeaders));
      const unpaidHash = decodeInvoice(unpaid.invoice).paymentHash;
      const expiresAt = (await ledgerRow(aperture, unpaidHash))?.expiresAt;
      assert.ok(expiresAt !== undefined && expiresAt > clock.now(), 'pending row with its invoice expiry');
      assert.ok((await aperture.store.getSecret(idHashOf(unpaid.macaroon))) !== undefined);

      const paidRes = await h1(`${aperture.url}/api/x`);
      const paidChallenge = challengeOf(wwwAuthenticate(paidRes.rawHeaders));
      const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(paidChallenge.invoice);
      await settledInLedger(aperture, paid.paymentHash);
      const authorization = `L402 ${paidChallenge.macaroon}:${paid.preimage}`;
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status, 200);

      // The timer has been running all along without collecting anything; now the invoice is past expiry + grace.
      const collected = next('garbage collected');
      clock.advance(expiresAt - clock.now() + 1001);
      const report = await collected;
      assert.equal(report['rootKeys'], 1);
      assert.equal(report['transactions'], 1);

      assert.equal(await ledgerRow(aperture, unpaidHash), undefined, 'pending row removed');
      assert.equal(await aperture.store.getSecret(idHashOf(unpaid.macaroon)), undefined, 'root key removed');
      assert.equal((await ledgerRow(aperture, paid.paymentHash))?.state, 'settled', 'settled row kept');
      // The verifier cache has long expired on the test clock: this reads the kept root key.
      assert.equal((await h1(`${aperture.url}/api/x`, { headers: { authorization } })).status, 200);
    } finally {
      await aperture.close();
      await backend.close();
    }
  },
);

const PROTO = `
syntax = "proto3";
package demo;
service Quotes { rpc Get (Ask) returns (Quote); }
message Ask { string symbol = 1; }
message Quote { string symbol = 1; int64 price = 2; }
`;

type QuotesClient = grpc.Client & {
  Get(req: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: { price: string }) => void): void;
};

test('gRPC through the proxy: a rate-limited call ends RESOURCE_EXHAUSTED "rate limit exceeded" with retry-after', async (t) => {
  const root = protobuf.parse(PROTO, { keepCase: true }).root;
  const pkg = grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String })) as unknown as {
    demo: { Quotes: grpc.ServiceClientConstructor };
  };
  const server = new grpc.Server();
  let served = 0;
  server.addService(pkg.demo.Quotes.service, {
    Get: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      served++;
      cb(null, { symbol: 'BTC', price: '100000' });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const dir = tempBaseDir(t);
  const config = configFrom(
    `
listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/demo\\.Quotes/'
    address: 127.0.0.1:${port}
    auth: 'off'
    ratelimits:
      - requests: 2
        per: 1m
`,
    dir,
  );
  const aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  const client = new pkg.demo.Quotes(
    `localhost:${aperture.addresses.proxy.port}`,
    grpc.credentials.createSsl(readFileSync(join(dir, 'tls.cert'))),
  ) as unknown as QuotesClient;
  const call = (): Promise<{ error: grpc.ServiceError | null; price: string | undefined }> =>
    new Promise((resolve) => client.Get({ symbol: 'BTC' }, new grpc.Metadata(), (error, reply) => resolve({ error, price: reply?.price })));
  try {
    for (let i = 0; i < 2; i++) {
      const ok = await call();
      assert.equal(ok.error, null);
      assert.equal(ok.price, '100000');
    }
    const denied = await call();
    assert.ok(denied.error !== null);
    assert.equal(denied.error.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(denied.error.details, 'rate limit exceeded');
    const retryAfter = denied.error.metadata.get('retry-after');
    assert.equal(retryAfter.length, 1, `retry-after metadata in ${JSON.stringify(denied.error.metadata.getMap())}`);
    assert.ok(Number(retryAfter[0]) >= 1 && Number(retryAfter[0]) <= 60, String(retryAfter[0]));
    assert.equal(served, 2, 'the denied call never reached the backend');
  } finally {
    client.close();
    await aperture.close();
    server.forceShutdown();
  }
});
