// The client helpers against this project's own `aperture` proxy on real sockets
// (dev Lightning backend, paid through aperture's POST /api/dev/pay): wrapFetch,
// the undici interceptor, the grpc-js client interceptor (aperture proxying a
// grpc-js backend over h2c) and `aperturecli fetch --payer dev`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { main, type CliIo } from '../../src/cli/aperturecli.js';
import { clientErrorContext } from '../../src/client/client-error-context.js';
import { grpcL402ClientInterceptor } from '../../src/client/grpc-l402-client-interceptor.js';
import { L402Client } from '../../src/client/l402-client.js';
import { MemoryTokenStore } from '../../src/client/memory-token-store.js';
import { decodeTokenFile } from '../../src/client/token-file-codec.js';
import type { PayInvoiceLike } from '../../src/client/to-payer.js';
import { undiciL402Interceptor } from '../../src/client/undici-l402-interceptor.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { BudgetExceededError } from '../../src/core/errors.js';
import { DevHttpPayer } from '../../src/lightning/dev/dev-http-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from '../e2e/support.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};
function method(name: string, responseStream: boolean): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/demo.Quotes/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}
const quotesService = { get: method('Get', false), watch: method('Watch', true) };
const QuotesClient = grpc.makeGenericClientConstructor(quotesService, 'Quotes');
type AnyClient = InstanceType<typeof QuotesClient> & Record<string, (...args: unknown[]) => unknown>;

/** A DevHttpPayer against aperture's /api/dev/pay that counts the invoices it is asked to pay. */
function countingPayer(aperture: RunningAperture): PayInvoiceLike & { paid: () => number } {
  const inner = new DevHttpPayer({ url: `${aperture.url}/api/dev/pay` });
  let paid = 0;
  return {
    payInvoice: (invoice, options) => {
      paid++;
      return inner.payInvoice(invoice, options);
    },
    trackPayment: (hash) => inner.trackPayment(hash),
    paid: () => paid,
  };
}

describe('client helpers against aperture (dev backend)', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const grpcBackend = new grpc.Server();
  /** Authorization headers the HTTP backend saw (aperture forwards the credential). */
  const seen: string[] = [];
  let settlements = 0;
  const dir = mkdtempSync(join(tmpdir(), 'client-aperture-'));

  before(async () => {
    backend = await startBackend((req, res) => {
      // Every Authorization line, in order (Node's req.headers keeps the first one only).
      seen.push(req.rawHeaders.filter((_, i) => i % 2 === 1 && req.rawHeaders[i - 1]?.toLowerCase() === 'authorization').join('\n'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, method: req.method }));
    });
    grpcBackend.addService(quotesService, {
      get: (call: grpc.ServerUnaryCall<{ symbol: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { symbol: call.request.symbol, price: 100_000 }),
      watch: (call: grpc.ServerWritableStream<{ symbol: string }, unknown>) => {
        for (let i = 1; i <= 3; i++) call.write({ symbol: call.request.symbol, price: i });
        call.end();
      },
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcBackend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const baseDir = tempBaseDir();
    aperture = await startAperture(
      configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/demo\\.Quotes/'
    address: 127.0.0.1:${grpcPort}
    price: 5
  - name: api
    hostregexp: '.*'
    pathregexp: '^/api/'
    address: ${backend.address}
    price: 21
`,
        baseDir,
      ),
      { logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
    );
    aperture.invoicer?.onSettled(() => settlements++);
  });

  after(async () => {
    await aperture.close();
    grpcBackend.forceShutdown();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('wrapFetch + DevHttpPayer: 402 → pay → 200, the token is reused, 10 parallel requests on a fresh client make one payment', async () => {
    const payer = countingPayer(aperture);
    const before = settlements;
    const fetch402 = wrapFetch(fetch, { payer });
    const first = await fetch402(`${aperture.url}/api/quote`);
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { path: '/api/quote', method: 'GET' });
    assert.equal(payer.paid(), 1);
    assert.equal(settlements - before, 1, 'aperture saw exactly one invoice settled');
    // As the reference forwards it: "LSAT <m>:<p>" then "L402 <m>:<p>".
    assert.match(seen.at(-1) ?? '', /^LSAT ([A-Za-z0-9+/=_-]+:[0-9a-f]{64})\nL402 \1$/, 'the backend received the paid credential');

    const second = await fetch402(`${aperture.url}/api/other`, { method: 'POST', body: 'x' });
    assert.equal(second.status, 200);
    assert.deepEqual(await second.json(), { path: '/api/other', method: 'POST' });
    assert.equal(payer.paid(), 1, 'the stored token was reused');
    assert.equal(seen.at(-1), seen.at(-2), 'the same token was sent again');

    const parallelPayer = countingPayer(aperture);
    const parallel = wrapFetch(fetch, { payer: parallelPayer });
    const settledBefore = settlements;
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => parallel(`${aperture.url}/api/p${i}`)));
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.deepEqual(
      await Promise.all(responses.map(async (r) => ((await r.json()) as { path: string }).path)),
      Array.from({ length: 10 }, (_, i) => `/api/p${i}`),
    );
    assert.equal(parallelPayer.paid(), 1, 'ten concurrent challenges, one payment');
    assert.equal(settlements - settledBefore, 1);
    assert.equal(new Set(seen.slice(-10)).size, 1, 'all ten retried with the same token');
  });

  test('undici interceptor + DevHttpPayer: 402 → pay → 200, reuse, 10 parallel requests make one payment', async () => {
    const payer = countingPayer(aperture);
    const agent = new Agent();
    try {
      const dispatcher = agent.compose(undiciL402Interceptor({ payer }));
      const first = await request(`${aperture.url}/api/u`, { dispatcher });
      assert.equal(first.statusCode, 200);
      assert.deepEqual(await first.body.json(), { path: '/api/u', method: 'GET' });
      const second = await request(`${aperture.url}/api/u2`, { dispatcher, method: 'PUT', body: 'again' });
      assert.equal(second.statusCode, 200);
      assert.deepEqual(await second.body.json(), { path: '/api/u2', method: 'PUT' });
      assert.equal(payer.paid(), 1);

      const parallelPayer = countingPayer(aperture);
      const parallel = agent.compose(undiciL402Interceptor({ payer: parallelPayer }));
      const before = settlements;
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) => request(`${aperture.url}/api/q${i}`, { dispatcher: parallel })),
      );
      assert.deepEqual(
        responses.map((r) => r.statusCode),
        Array(10).fill(200),
      );
      await Promise.all(responses.map((r) => r.body.text()));
      assert.equal(parallelPayer.paid(), 1);
      assert.equal(settlements - before, 1);
      assert.equal(new Set(seen.slice(-10)).size, 1);
    } finally {
      await agent.close();
    }
  });

  test('grpc-js client interceptor through aperture (h2c) to a grpc-js backend: unary and server streaming, one payment', async () => {
    const payer = countingPayer(aperture);
    const address = `127.0.0.1:${aperture.addresses.proxy.port}`;
    const store = new MemoryTokenStore();
    const client = new QuotesClient(address, grpc.credentials.createInsecure(), {
      interceptors: [grpcL402ClientInterceptor({ payer, store, origin: `grpc://${address}` })],
    }) as AnyClient;
    try {
      const before = settlements;
      const reply = await new Promise((resolve, reject) =>
        client['get']!({ symbol: 'BTC' }, new grpc.Metadata(), (e: grpc.ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r))),
      );
      assert.deepEqual(reply, { symbol: 'BTC', price: 100_000 });
      assert.equal(payer.paid(), 1);
      assert.equal(settlements - before, 1);
      assert.deepEqual(await store.keys(), [`grpc://${address}`]);

      const messages: unknown[] = [];
      const stream = client['watch']!({ symbol: 'ETH' }) as grpc.ClientReadableStream<unknown>;
      stream.on('data', (m: unknown) => messages.push(m));
      const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
        stream.on('status', resolve);
        stream.on('error', reject);
      });
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(
        messages,
        [1, 2, 3].map((price) => ({ symbol: 'ETH', price })),
      );
      assert.equal(payer.paid(), 1, "the streaming call reused the unary call's token");

      // A fresh client: the streaming call is the one challenged, paid and retried.
      const freshPayer = countingPayer(aperture);
      const fresh = new QuotesClient(address, grpc.credentials.createInsecure(), {
        interceptors: [grpcL402ClientInterceptor({ payer: freshPayer, origin: `grpc://${address}` })],
      }) as AnyClient;
      try {
        const got: unknown[] = [];
        const s = fresh['watch']!({ symbol: 'LTC' }) as grpc.ClientReadableStream<unknown>;
        s.on('data', (m: unknown) => got.push(m));
        const end = await new Promise<grpc.StatusObject>((resolve, reject) => {
          s.on('status', resolve);
          s.on('error', reject);
        });
        assert.equal(end.code, grpc.status.OK);
        assert.deepEqual(
          got,
          [1, 2, 3].map((price) => ({ symbol: 'LTC', price })),
        );
        assert.equal(freshPayer.paid(), 1);
      } finally {
        fresh.close();
      }
    } finally {
      client.close();
    }
  });

  test('aperturecli fetch --payer dev (main in process) pays aperture, prints the body, then reuses the token', async () => {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: { write: (c) => (stdout += Buffer.from(c).toString('utf8')), isTTY: false },
      stderr: { write: (c) => (stderr += Buffer.from(c).toString('utf8')) },
      env: { HOME: dir },
    };
    const tokenFile = join(dir, 'aperture.token');
    const before = settlements;
    const code = await main(['fetch', `${aperture.url}/api/cli`, '--payer', 'dev', '--token-file', tokenFile], io);
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { path: '/api/cli', method: 'GET' });
    const summary = JSON.parse(stderr.trim()) as Record<string, unknown>;
    assert.equal(summary['status'], 200);
    assert.equal(summary['paid'], true);
    assert.equal(summary['paidSats'], 21);
    assert.equal(settlements - before, 1);
    const token = decodeTokenFile(readFileSync(tokenFile));
    assert.equal(summary['paymentHash'], token.paymentHash);
    assert.ok(token.preimage !== undefined && !stderr.includes(token.preimage), 'a paid token, its preimage never printed');

    stdout = '';
    stderr = '';
    const again = await main(['fetch', `${aperture.url}/api/cli2`, '--payer', 'dev', '--token-file', tokenFile], io);
    assert.equal(again, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { path: '/api/cli2', method: 'GET' });
    const reused = JSON.parse(stderr.trim()) as Record<string, unknown>;
    assert.equal(reused['paid'], false);
    assert.equal(reused['reusedToken'], true);
    assert.equal(settlements - before, 1, 'no second payment');
  });

  test("a refused challenge from aperture: the error carries the request method and aperture's 402 response", async () => {
    const payer = countingPayer(aperture);
    const error = await wrapFetch(fetch, { payer, maxPriceSats: 20 })(`${aperture.url}/api/too-dear`, { method: 'POST', body: '{}' }).then(
      () => assert.fail('a 21-sat invoice over maxPriceSats 20 must be refused'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BudgetExceededError);
    const ctx = clientErrorContext(error);
    assert.equal(ctx?.url, `${aperture.url}/api/too-dear`);
    assert.equal(ctx.requestMethod, 'POST');
    assert.equal(ctx.responseStatus, 402);
    assert.match(ctx.responseHeaders?.['www-authenticate'] ?? '', /L402 /);
    assert.equal(ctx.response?.status, 402);
    assert.match(ctx.response.headers.get('www-authenticate') ?? '', /L402 /);
    assert.match(await ctx.response.text(), /payment required/i);
    assert.equal(payer.paid(), 0);
  });

  test('a token aperture refuses is dropped and paid for again, once; the reason reaches the hooks and the error', async () => {
    const payer = countingPayer(aperture);
    const seenChallenges: { tokenId: string; refusal: string | undefined }[] = [];
    let revokeOnPay = false;
    const client = new L402Client({
      payer,
      onChallenge: (info) => {
        seenChallenges.push({ tokenId: info.tokenId, refusal: info.refusal });
      },
      afterPay: async (info) => {
        if (revokeOnPay) await aperture.store.revokeToken(info.tokenId);
      },
    });
    const fetch402 = wrapFetch(fetch, client);
    assert.equal((await fetch402(`${aperture.url}/api/r1`)).status, 200);
    assert.deepEqual(
      seenChallenges.map((c) => c.refusal),
      [undefined],
    );
    // Revoked behind the client's back: the next request is refused as revoked, the client pays once more and goes on.
    assert.equal(await aperture.store.revokeToken(seenChallenges[0]!.tokenId), true);
    assert.equal((await fetch402(`${aperture.url}/api/r2`)).status, 200);
    assert.deepEqual(
      seenChallenges.map((c) => c.refusal),
      [undefined, 'revoked'],
    );
    assert.equal(payer.paid(), 2);
    assert.equal((await fetch402(`${aperture.url}/api/r3`)).status, 200);
    assert.equal(payer.paid(), 2, 'the new token is reused');
    // A token refused right after it was paid for: no loop, one payment, the error says why.
    revokeOnPay = true;
    await aperture.store.revokeToken(seenChallenges[1]!.tokenId);
    const error = await fetch402(`${aperture.url}/api/r4`).then(
      () => assert.fail('a token refused right after payment must fail the call'),
      (e: unknown) => e as Error & { code?: string },
    );
    assert.equal(error.code, 'L402_ERR_CLIENT_TOKEN_REJECTED');
    assert.match(error.message, /the server says: "revoked"/);
    assert.equal(payer.paid(), 3);
  });

  test('an L402Client shared by wrapFetch and the undici interceptor pays aperture once for both', async () => {
    const payer = countingPayer(aperture);
    const client = new L402Client({ payer });
    const agent = new Agent();
    try {
      const viaFetch = await wrapFetch(fetch, client)(`${aperture.url}/api/shared`);
      assert.equal(viaFetch.status, 200);
      await viaFetch.text();
      const viaUndici = await request(`${aperture.url}/api/shared`, { dispatcher: agent.compose(undiciL402Interceptor(client)) });
      assert.equal(viaUndici.statusCode, 200);
      await viaUndici.body.text();
      assert.equal(payer.paid(), 1);
      assert.deepEqual(client.spent().byOrigin, { [new URL(aperture.url).origin]: 21 });
    } finally {
      await agent.close();
    }
  });
});
