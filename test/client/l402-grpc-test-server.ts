// The gRPC twin of l402-test-server.ts for the client tests: a grpc-js server
// guarded by the adapters' grpcL402Interceptor and the dev Lightning backend,
// with the same switches to misbehave (dialects, a mismatched invoice, refusing
// every token, forgetting every root key) and the same counters.
import * as grpc from '@grpc/grpc-js';
import { grpcL402Interceptor, grpcL402Token } from '../../src/adapters/grpc/grpc-l402-interceptor.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import type { TestServerOptions } from './l402-test-server.js';

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

/**
 * The service: `get` (unary: `{ n }` → `{ echo: n, text: "paid content for <token id>" }`),
 * `list` (server streaming: `{ n }` → `{ i }` × n), `collect` (client streaming: the sum of
 * the `n`s) and `chat` (bidi: `{ twice: 2n }` per `{ n }`).
 */
export const quotesService = {
  get: method('Get', false, false),
  list: method('List', false, true),
  collect: method('Collect', true, false),
  chat: method('Chat', true, true),
};

/** A client of {@link quotesService}, methods by name. */
export const QuotesClient = grpc.makeGenericClientConstructor(quotesService, 'Quotes');
export type AnyQuotesClient = InstanceType<typeof QuotesClient> & Record<string, (...args: unknown[]) => unknown>;

export interface GrpcTestServer {
  /** `host:port`. */
  address: string;
  invoicer: DevInvoicer;
  /** Invoices settled so far (payments made). */
  payments(): number;
  /** Challenges sent so far. */
  challenges(): number;
  /** Calls that reached a handler. */
  served(): number;
  /** `authorization` metadata seen, per call in order (undefined for none). */
  authorizations: Array<string | undefined>;
  /** Forget every root key: tokens issued so far are refused from now on. */
  rotate(): void;
  options: TestServerOptions;
  close(): Promise<void>;
}

export async function startGrpcTestServer(options: TestServerOptions = {}): Promise<GrpcTestServer> {
  const invoicer = new DevInvoicer({ onWarning: () => undefined });
  const priceSats = options.priceSats ?? 100;
  let payments = 0;
  let challenges = 0;
  let served = 0;
  invoicer.onSettled(() => payments++);
  const authorizations: Array<string | undefined> = [];
  // Rotating builds a new guard: new root keys, and a verifier without the old one's cache.
  const build = (): grpc.ServerInterceptor =>
    grpcL402Interceptor({
      invoicer,
      secrets: new MemorySecretStore(),
      service: 'quotes',
      priceSats,
      challengeForm: options.form ?? 'reference',
    });
  let guard = build();

  /** What the client sent, and what the switches do to it and to the challenges. */
  const switches: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            const auth = metadata.get('authorization')[0];
            authorizations.push(typeof auth === 'string' ? auth : undefined);
            if (options.alwaysChallenge === true) metadata.remove('authorization');
            forward(metadata);
          },
        }),
      sendStatus: (status, next) => {
        const trailers = status.metadata;
        const values = trailers?.get('www-authenticate').map(String) ?? [];
        if (status.code !== grpc.status.INTERNAL || trailers === undefined || trailers === null || values.length === 0) {
          next(status);
          return;
        }
        challenges++;
        void (async () => {
          let lines = values.map((v): [string, string] => ['WWW-Authenticate', v]);
          if (options.mismatchedInvoice === true) {
            const other = await invoicer.createInvoice({ amountSats: priceSats });
            lines = lines.map(([n, v]) => [n, v.replace(/invoice="[^"]+"/, `invoice="${other.paymentRequest}"`)]);
          }
          if (options.rewrite !== undefined) lines = options.rewrite(lines);
          trailers.remove('www-authenticate');
          for (const [, value] of lines) trailers.add('www-authenticate', value);
          next(status);
        })();
      },
    });

  const server = new grpc.Server({ interceptors: [switches, (method, call) => guard(method, call)] });
  const content = (call: { metadata: grpc.Metadata }): string => `paid content for ${grpcL402Token(call)?.tokenId ?? '?'}\n`;
  server.addService(quotesService, {
    get: (call: grpc.ServerUnaryCall<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      served++;
      cb(null, { echo: call.request.n, text: content(call) });
    },
    list: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
      served++;
      for (let i = 0; i < call.request.n; i++) call.write({ i });
      call.end();
    },
    collect: (call: grpc.ServerReadableStream<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      served++;
      let sum = 0;
      call.on('data', (m: { n: number }) => (sum += m.n));
      call.on('end', () => cb(null, { sum }));
    },
    chat: (call: grpc.ServerDuplexStream<{ n: number }, unknown>) => {
      served++;
      call.on('data', (m: { n: number }) => call.write({ twice: m.n * 2 }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    invoicer,
    payments: () => payments,
    challenges: () => challenges,
    served: () => served,
    authorizations,
    options,
    rotate: () => {
      guard = build();
    },
    close: async () => {
      server.forceShutdown();
      await invoicer.close();
    },
  };
}
