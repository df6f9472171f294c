// grpcL402ClientInterceptor against a grpc-js server guarded by the adapters'
// grpcL402Interceptor: unary, server-, client- and bidi-streaming calls are paid
// for and retried; refusals end the call with the client error's code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { grpcL402Interceptor } from '../../src/adapters/grpc/grpc-l402-interceptor.js';
import { grpcL402ClientInterceptor } from '../../src/client/grpc-l402-client-interceptor.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};
function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/test.Quotes/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}
const service = {
  get: method('Get', false, false),
  list: method('List', false, true),
  collect: method('Collect', true, false),
  chat: method('Chat', true, true),
};
const Client = grpc.makeGenericClientConstructor(service, 'Quotes');
type AnyClient = InstanceType<typeof Client> & Record<string, (...args: unknown[]) => unknown>;

let server: grpc.Server;
let invoicer: DevInvoicer;
let address: string;
let payments = 0;
let mismatch = false;
const authorizations: string[] = [];

before(async () => {
  invoicer = new DevInvoicer({ onWarning: () => undefined });
  invoicer.onSettled(() => payments++);
  const guard = grpcL402Interceptor({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 50 });
  server = new grpc.Server({
    interceptors: [
      (methodDescriptor, call) => {
        // Records what the client sent, and (when asked) tampers with challenges.
        return new grpc.ServerInterceptingCall(call, {
          start: (next) => next({
            onReceiveMetadata: (md, nextMd) => {
              const auth = md.get('authorization')[0];
              if (typeof auth === 'string') authorizations.push(auth);
              nextMd(md);
            },
          }),
          sendStatus: (status, next) => {
            const trailers = status.metadata;
            if (mismatch && status.code === grpc.status.INTERNAL && trailers !== undefined && trailers !== null) {
              const values = trailers.get('www-authenticate').map(String);
              void invoicer.createInvoice({ amountSats: 50 }).then((other) => {
                trailers.set('www-authenticate', values[0]?.replace(/invoice="[^"]+"/, `invoice="${other.paymentRequest}"`) ?? '');
                next(status);
              });
              return;
            }
            next(status);
          },
        });
      },
      guard,
    ],
  });
  server.addService(service, {
    get: (call: grpc.ServerUnaryCall<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { echo: call.request.n }),
    list: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
      for (let i = 0; i < call.request.n; i++) call.write({ i });
      call.end();
    },
    collect: (call: grpc.ServerReadableStream<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      let sum = 0;
      call.on('data', (m: { n: number }) => (sum += m.n));
      call.on('end', () => cb(null, { sum }));
    },
    chat: (call: grpc.ServerDuplexStream<{ n: number }, unknown>) => {
      call.on('data', (m: { n: number }) => call.write({ twice: m.n * 2 }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await invoicer.close();
});

function client(extra: Parameters<typeof grpcL402ClientInterceptor>[0] = {}): AnyClient {
  const options = typeof extra === 'object' && !('begin' in extra) ? extra : {};
  return new Client(address, grpc.credentials.createInsecure(), {
    interceptors: [grpcL402ClientInterceptor({ payer: new DevPayer(invoicer), origin: `grpc://${address}`, ...options })],
  }) as AnyClient;
}

function unary(c: AnyClient, n: number, metadata = new grpc.Metadata()): Promise<unknown> {
  return new Promise((resolve, reject) => c['get']!({ n }, metadata, (e: grpc.ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r))));
}

test('unary: pays once, retries with authorization metadata, reuses the token', async () => {
  const before = payments;
  const c = client();
  assert.deepEqual(await unary(c, 7), { echo: 7 });
  assert.deepEqual(await unary(c, 8), { echo: 8 });
  assert.equal(payments - before, 1);
  assert.match(authorizations.at(-1) ?? '', /^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/);
  c.close();
});

test('20 parallel unary calls pay once', async () => {
  const before = payments;
  const c = client();
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(c, i)));
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => ({ echo: i })));
  assert.equal(payments - before, 1);
  c.close();
});

test('server streaming: retried when nothing was received, every message arrives', async () => {
  const before = payments;
  const c = client();
  const got: unknown[] = [];
  await new Promise<void>((resolve, reject) => {
    const stream = c['list']!({ n: 3 }) as grpc.ClientReadableStream<unknown>;
    stream.on('data', (m) => got.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve());
  });
  assert.deepEqual(got, [{ i: 0 }, { i: 1 }, { i: 2 }]);
  assert.equal(payments - before, 1);
  c.close();
});

test('client and bidi streaming: the sent messages are replayed after paying', async () => {
  const before = payments;
  const c = client();
  const sum = await new Promise<unknown>((resolve, reject) => {
    const stream = c['collect']!((e: grpc.ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r))) as grpc.ClientWritableStream<unknown>;
    stream.write({ n: 1 });
    stream.write({ n: 2 });
    stream.end({ n: 3 });
  });
  assert.deepEqual(sum, { sum: 6 });
  assert.equal(payments - before, 1);

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
  assert.equal(payments - before, 2);
  c.close();
  c2.close();
});

test('a refused challenge ends the call with status 13, the code in details and l402-client-error metadata', async () => {
  const before = payments;
  const tooCheap = client({ maxPriceSats: 10 });
  await assert.rejects(unary(tooCheap, 1), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INTERNAL);
    assert.match(e.details, /^L402_ERR_CLIENT_BUDGET_EXCEEDED: /);
    assert.deepEqual(e.metadata.get('l402-client-error'), ['L402_ERR_CLIENT_BUDGET_EXCEEDED']);
    return true;
  });
  mismatch = true;
  try {
    const c = client();
    await assert.rejects(unary(c, 1), (e: grpc.ServiceError) => /^L402_ERR_CLIENT_HASH_MISMATCH: /.test(e.details));
    c.close();
  } finally {
    mismatch = false;
  }
  assert.equal(payments - before, 0);
  tooCheap.close();
});

test('a call with its own authorization metadata is passed through', async () => {
  const before = payments;
  const c = client();
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer nope');
  await assert.rejects(unary(c, 1, md), (e: grpc.ServiceError) => e.code === grpc.status.INTERNAL && e.details === 'payment required');
  assert.equal(payments - before, 0);
  c.close();
});
