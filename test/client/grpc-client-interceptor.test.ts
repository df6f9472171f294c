// grpcL402ClientInterceptor against a grpc-js server guarded by the adapters'
// grpcL402Interceptor: the client conformance suite on unary calls (dialects,
// token reuse, paying again once, single flight, limits, budgets, hooks, payer
// failures: the call ends with status 13, the code in details and in the
// l402-client-error metadata), then server-, client- and bidi-streaming calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { grpcL402ClientInterceptor } from '../../src/client/grpc-l402-client-interceptor.js';
import { L402Client } from '../../src/client/l402-client.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { deferCleanup } from '../fixtures/cleanup.js';
import { runClientConformance, type Outcome } from './client-conformance.js';
import { QuotesClient, startGrpcTestServer, type AnyQuotesClient, type GrpcTestServer } from './l402-grpc-test-server.js';

function metadataRecord(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(metadata.toJSON())) out[name] = values.map(String).join(', ');
  return out;
}

/** A failed call as an outcome: a client error carries its code in `l402-client-error` and as the prefix of the details. */
function outcomeOf(error: grpc.ServiceError): Outcome {
  const code = error.metadata.get('l402-client-error')[0];
  if (code === undefined) return { kind: 'unpaid', status: error.code, body: error.details };
  assert.equal(typeof code, 'string');
  assert.ok(error.details.startsWith(`${String(code)}: `), error.details);
  return {
    kind: 'error',
    code: String(code),
    message: error.details.slice(String(code).length + 2),
    status: error.code,
    headers: metadataRecord(error.metadata),
    url: undefined,
    error,
  };
}

runClientConformance({
  name: 'gRPC client interceptor',
  challengeStatus: grpc.status.INTERNAL,
  challengeBody: 'payment required',
  typedErrors: false,
  reportsUrl: false,
  async start(t, options) {
    const s = await startGrpcTestServer(options);
    deferCleanup(t, () => s.close());
    return {
      ...s,
      url: `grpc://${s.address}/test.Quotes/Get`,
      helper: (clientOptions) => {
        // Options name the server; a shared L402Client keys its tokens as grpc://default.
        const interceptor = grpcL402ClientInterceptor(
          clientOptions instanceof L402Client ? clientOptions : { ...clientOptions, origin: `grpc://${s.address}` },
        );
        const client = new QuotesClient(s.address, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as AnyQuotesClient;
        deferCleanup(t, () => client.close());
        return (call) =>
          new Promise<Outcome>((resolve) => {
            const metadata = new grpc.Metadata();
            if (call?.authorization !== undefined) metadata.set('authorization', call.authorization);
            client['get']!({ n: 1 }, metadata, (error: grpc.ServiceError | null, reply: { text: string }) =>
              resolve(error === null ? { kind: 'ok', body: reply.text } : outcomeOf(error)),
            );
          });
      },
    };
  },
});

let server: GrpcTestServer;

before(async () => {
  server = await startGrpcTestServer({ priceSats: 50 });
});

after(async () => {
  await server.close();
});

function client(): AnyQuotesClient {
  return new QuotesClient(server.address, grpc.credentials.createInsecure(), {
    interceptors: [grpcL402ClientInterceptor({ payer: new DevPayer(server.invoicer), origin: `grpc://${server.address}` })],
  }) as AnyQuotesClient;
}

test('server streaming: retried when nothing was received, every message arrives', async () => {
  const before = server.payments();
  const c = client();
  const got: unknown[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = c['list']!({ n: 3 }) as grpc.ClientReadableStream<unknown>;
    stream.on('data', (m) => got.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve());
  });
  assert.deepEqual(got, [{ i: 0 }, { i: 1 }, { i: 2 }]);
  assert.equal(server.payments() - before, 1);
  c.close();
});

test('client and bidi streaming: the sent messages are replayed after paying', async () => {
  const before = server.payments();
  const c = client();
  const sum = await new Promise<unknown>((resolve, reject) => {
    const stream = c['collect']!((e: grpc.ServiceError | null, r: unknown) =>
      e ? reject(e) : resolve(r),
    ) as grpc.ClientWritableStream<unknown>;
    stream.write({ n: 1 });
    stream.write({ n: 2 });
    stream.end({ n: 3 });
  });
  assert.deepEqual(sum, { sum: 6 });
  assert.equal(server.payments() - before, 1);

  const c2 = client();
  const echoes: unknown[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = c2['chat']!() as grpc.ClientDuplexStream<unknown, unknown>;
    stream.on('data', (m) => echoes.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve());
    stream.write({ n: 5 });
    stream.end({ n: 6 });
  });
  assert.deepEqual(echoes, [{ twice: 10 }, { twice: 12 }]);
  assert.equal(server.payments() - before, 2);
  c.close();
  c2.close();
});
