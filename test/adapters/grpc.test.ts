/**
 * grpcL402Interceptor with a real grpc-js server and client: unary and
 * server-streaming calls, every credential metadata key, challenge as status 13
 * with the challenge in the trailers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GRPC_TOKEN_ID_METADATA_KEY, grpcL402Interceptor, grpcL402Token } from '../../src/adapters/grpc/index.js';
import { toHex } from '../../src/core/bytes.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { TestClock } from '../fixtures/test-clock.js';
import { Gate, type ResponseEvent } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { TEST_SCHEME_TOKEN, TestPaymentScheme } from '../fixtures/test-payment-scheme.js';
import { responseServed } from '../../src/mpp/mpp-payment-scheme.js';

interface Reply {
  tokenId: string | null;
  tokenIdMetadata: string | null;
  n?: number;
}

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
};
const method = (path: string, responseStream: boolean) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
const definition = {
  getQuote: method('/quotes.Quotes/GetQuote', false),
  streamQuotes: method('/quotes.Quotes/StreamQuotes', true),
  health: method('/quotes.Quotes/Health', false),
};
const QuotesClient = grpc.makeGenericClientConstructor(definition, 'Quotes');

function reply(call: { metadata: grpc.Metadata }, extra: Partial<Reply> = {}): Reply {
  const fromMetadata = call.metadata.get(GRPC_TOKEN_ID_METADATA_KEY)[0];
  return {
    tokenId: grpcL402Token(call)?.tokenId ?? null,
    tokenIdMetadata: typeof fromMetadata === 'string' ? fromMetadata : null,
    ...extra,
  };
}

describe('grpcL402Interceptor over grpc-js', () => {
  const invoicer = new DevInvoicer({ onWarning: () => {} });
  const payer = new DevPayer(invoicer);
  const server = new grpc.Server({
    interceptors: [
      grpcL402Interceptor({
        invoicer,
        secrets: new MemorySecretStore(),
        service: 'quotes',
        priceSats: 10,
        freePaths: [/^\/quotes\.Quotes\/Health$/],
      }),
    ],
  });
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  before(async () => {
    server.addService(definition, {
      getQuote: (call: grpc.ServerUnaryCall<unknown, Reply>, callback: grpc.sendUnaryData<Reply>) => callback(null, reply(call)),
      health: (call: grpc.ServerUnaryCall<unknown, Reply>, callback: grpc.sendUnaryData<Reply>) => callback(null, reply(call)),
      streamQuotes: (call: grpc.ServerWritableStream<unknown, Reply>) => {
        for (let n = 0; n < 3; n++) call.write(reply(call, { n }));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    client = new QuotesClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  after(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await invoicer.close();
  });

  const unary = (name: 'getQuote' | 'health', metadata = new grpc.Metadata()): Promise<Reply> =>
    new Promise((resolve, reject) => {
      client[name]?.({}, metadata, (error: grpc.ServiceError | null, value: Reply) => (error ? reject(error) : resolve(value)));
    });

  const stream = (metadata = new grpc.Metadata()): Promise<Reply[]> =>
    new Promise((resolve, reject) => {
      const call = client.streamQuotes?.({}, metadata) as grpc.ClientReadableStream<Reply>;
      const out: Reply[] = [];
      call.on('data', (value: Reply) => out.push(value));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });

  /** Asserts status 13 `payment required` (naming the code of a refused credential) with the challenge in the trailers; returns it. */
  const expectChallenge = async (
    pending: Promise<unknown>,
    refused?: { reason: string; code: string },
  ): Promise<{ macaroon: string; invoice: string }> => {
    const error = await pending.then(
      () => assert.fail('expected the call to fail with payment required'),
      (e: unknown) => e as grpc.ServiceError,
    );
    assert.equal(error.code, grpc.status.INTERNAL);
    assert.equal(error.details, refused === undefined ? 'payment required' : `payment required (${refused.code})`);
    const values = error.metadata.get('www-authenticate').map(String);
    const challenges = parseChallenges(values);
    assert.deepEqual(
      challenges.map((c) => c.scheme),
      ['LSAT', 'L402'],
    );
    assert.deepEqual(
      challenges.map((c) => c.error),
      [refused?.reason, refused?.reason],
    );
    const [first] = challenges as [(typeof challenges)[0]];
    assert.match(first.invoice, /^lnbcrt100n1/);
    return first;
  };

  const buy = async (): Promise<{ macaroon: string; preimage: string; tokenId: string }> => {
    const { macaroon, invoice } = await expectChallenge(unary('getQuote'));
    const { preimage } = await payer.payInvoice(invoice);
    return { macaroon, preimage, tokenId: toHex(decodeIdentifier(Macaroon.fromBase64(macaroon).identifier).tokenId) };
  };
  const withHeader = (key: string, value: string): grpc.Metadata => {
    const metadata = new grpc.Metadata();
    metadata.set(key, value);
    return metadata;
  };

  it('answers a unary call without credentials with status 13 and the challenge in the trailers', async () => {
    await expectChallenge(unary('getQuote'));
  });

  it('lets a paid unary call through; the handler sees the token by getter and metadata', async () => {
    const token = await buy();
    const value = await unary('getQuote', withHeader('authorization', formatAuthorization(token.macaroon, token.preimage)));
    assert.deepEqual(value, { tokenId: token.tokenId, tokenIdMetadata: token.tokenId });
  });

  it('reads a hex macaroon with a preimage caveat from the macaroon and token metadata', async () => {
    const token = await buy();
    const hex = Macaroon.fromBase64(token.macaroon).withFirstPartyCaveat(`preimage=${token.preimage}`).toHex();
    assert.equal((await unary('getQuote', withHeader('macaroon', hex))).tokenId, token.tokenId);
    assert.equal((await unary('getQuote', withHeader('token', hex))).tokenId, token.tokenId);
  });

  it('answers a wrong preimage with a fresh challenge', async () => {
    const token = await buy();
    const fresh = await expectChallenge(
      unary('getQuote', withHeader('authorization', formatAuthorization(token.macaroon, 'ab'.repeat(32)))),
      {
        reason: 'bad_preimage',
        code: 'L402_ERR_TOKEN_BAD_PREIMAGE',
      },
    );
    assert.notEqual(fresh.macaroon, token.macaroon);
  });

  it('gates server-streaming calls before any message', async () => {
    await expectChallenge(stream());
    const token = await buy();
    const values = await stream(withHeader('authorization', formatAuthorization(token.macaroon, token.preimage)));
    assert.deepEqual(
      values.map((v) => [v.n, v.tokenId]),
      [
        [0, token.tokenId],
        [1, token.tokenId],
        [2, token.tokenId],
      ],
    );
  });

  it('lets a free method through without a token and drops a client-sent token ID', async () => {
    const value = await unary('health', withHeader(GRPC_TOKEN_ID_METADATA_KEY, 'f'.repeat(64)));
    assert.deepEqual(value, { tokenId: null, tokenIdMetadata: null });
  });
});

/**
 * The conformance cases the HTTP adapters run (test/adapters/conformance-suite.ts),
 * over gRPC: an injected clock for expiry, a route function giving another
 * service and a required capability per method.
 */
describe('grpcL402Interceptor conformance: expiry, other service, capabilities, token in the handler', () => {
  const clock = new TestClock(Date.UTC(2030, 0, 1));
  const invoicer = new DevInvoicer({ clock, onWarning: () => {} });
  const payer = new DevPayer(invoicer);
  const conformanceDefinition = {
    getQuote: method('/quotes.Quotes/GetQuote', false),
    admin: method('/quotes.Quotes/Admin', false),
    other: method('/other.Other/Get', false),
  };
  const Client = grpc.makeGenericClientConstructor(conformanceDefinition, 'Conformance');
  const server = new grpc.Server({
    interceptors: [
      grpcL402Interceptor({
        invoicer,
        secrets: new MemorySecretStore(),
        clock,
        service: 'quotes',
        priceSats: 10,
        capabilities: ['read'],
        timeoutSeconds: 60,
        route: (request) => {
          if (request.path === '/quotes.Quotes/Admin') return { capabilities: ['write'], requiredCapability: 'write' };
          if (request.path.startsWith('/other.Other/'))
            return { service: 'other', priceSats: () => 5, capabilities: [], timeoutSeconds: 0 };
          return undefined;
        },
      }),
    ],
  });
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  interface Seen {
    tokenId: string | null;
    caveats: readonly string[];
  }
  const seen = (call: { metadata: grpc.Metadata }, callback: grpc.sendUnaryData<Seen>): void => {
    const token = grpcL402Token(call);
    callback(null, { tokenId: token?.tokenId ?? null, caveats: token?.caveats ?? [] });
  };

  before(async () => {
    server.addService(conformanceDefinition, { getQuote: seen, admin: seen, other: seen });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  after(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await invoicer.close();
  });

  const call = (name: 'getQuote' | 'admin' | 'other', authorization?: string): Promise<Seen> =>
    new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (authorization !== undefined) metadata.set('authorization', authorization);
      client[name]?.({}, metadata, (error: grpc.ServiceError | null, value: Seen) => (error ? reject(error) : resolve(value)));
    });

  /** Status 13 with a fresh LSAT + L402 challenge in the trailers (and the refusal, if any); returns the L402 one. */
  const expectChallenge = async (
    pending: Promise<unknown>,
    refused?: { reason: string; code: string },
  ): Promise<{ macaroon: string; invoice: string }> => {
    const error = await pending.then(
      () => assert.fail('expected payment required'),
      (e: unknown) => e as grpc.ServiceError,
    );
    assert.equal(error.code, grpc.status.INTERNAL, error.message);
    assert.equal(error.details, refused === undefined ? 'payment required' : `payment required (${refused.code})`);
    const challenges = parseChallenges(error.metadata.get('www-authenticate').map(String));
    assert.deepEqual(
      challenges.map((c) => c.scheme),
      ['LSAT', 'L402'],
    );
    assert.deepEqual(
      challenges.map((c) => c.error),
      [refused?.reason, refused?.reason],
    );
    return challenges[1] as (typeof challenges)[1] & object;
  };

  const buy = async (name: 'getQuote' | 'admin' | 'other'): Promise<{ authorization: string; tokenId: string; macaroon: string }> => {
    const { macaroon, invoice } = await expectChallenge(call(name));
    const { preimage } = await payer.payInvoice(invoice);
    return {
      authorization: formatAuthorization(macaroon, preimage),
      tokenId: toHex(decodeIdentifier(Macaroon.fromBase64(macaroon).identifier).tokenId),
      macaroon,
    };
  };

  it('the handler sees the verified token (ID and caveats) through grpcL402Token', async () => {
    const token = await buy('getQuote');
    const value = await call('getQuote', token.authorization);
    assert.equal(value.tokenId, token.tokenId);
    assert.ok(value.caveats.includes('services=quotes:0'), JSON.stringify(value.caveats));
    assert.ok(value.caveats.includes('quotes_capabilities=read'), JSON.stringify(value.caveats));
    assert.ok(
      value.caveats.some((c) => c.startsWith('quotes_valid_until=')),
      JSON.stringify(value.caveats),
    );
  });

  it('answers an expired token (injected clock) with a fresh challenge', async () => {
    const token = await buy('getQuote');
    assert.equal((await call('getQuote', token.authorization)).tokenId, token.tokenId);
    clock.advance(61_000);
    try {
      const fresh = await expectChallenge(call('getQuote', token.authorization), { reason: 'expired', code: 'L402_ERR_TOKEN_EXPIRED' });
      assert.notEqual(fresh.macaroon, token.macaroon);
    } finally {
      clock.advance(-61_000);
    }
    assert.equal((await call('getQuote', token.authorization)).tokenId, token.tokenId, 'valid again before its expiry');
  });

  it('answers a token of another service with a challenge for that service', async () => {
    const token = await buy('getQuote');
    const { invoice } = await expectChallenge(call('other', token.authorization), {
      reason: 'wrong_service',
      code: 'L402_ERR_TOKEN_WRONG_SERVICE',
    });
    assert.equal(decodeInvoice(invoice).amountMsat, 5_000n, 'price from the route function');
    const other = await buy('other');
    const value = await call('other', other.authorization);
    assert.equal(value.tokenId, other.tokenId);
    // Priced by a function: the token opens the method it was priced for (the gRPC path), as the reference's dynamic prices.
    assert.ok(value.caveats.includes('services=other/other.Other/Get:0'), JSON.stringify(value.caveats));
  });

  it('answers a token without the required capability with a fresh challenge', async () => {
    const read = await buy('getQuote');
    const fresh = await expectChallenge(call('admin', read.authorization), {
      reason: 'missing_capability',
      code: 'L402_ERR_TOKEN_MISSING_CAPABILITY',
    });
    assert.notEqual(fresh.macaroon, read.macaroon);
    const write = await buy('admin');
    const value = await call('admin', write.authorization);
    assert.equal(value.tokenId, write.tokenId);
    assert.ok(value.caveats.includes('quotes_capabilities=write'), JSON.stringify(value.caveats));
  });
});

describe('grpcL402Interceptor with a second payment scheme', () => {
  const invoicer = new DevInvoicer({ onWarning: () => {} });
  const secrets = new MemorySecretStore();
  const other = new TestPaymentScheme();
  const events: ResponseEvent[] = [];
  const gate = new Gate({
    schemes: [new L402Scheme({ minter: new Minter({ invoicer, secrets }), verifier: new Verifier({ secrets }) }), other],
    afterResponse: (event) => events.push(event),
  });
  const server = new grpc.Server({ interceptors: [grpcL402Interceptor({ gate, service: 'quotes', priceSats: 10 })] });
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  before(async () => {
    server.addService(definition, {
      getQuote: (call: grpc.ServerUnaryCall<unknown, Reply>, callback: grpc.sendUnaryData<Reply>) => callback(null, reply(call)),
      health: (call: grpc.ServerUnaryCall<unknown, Reply>, callback: grpc.sendUnaryData<Reply>) => callback(null, reply(call)),
      streamQuotes: (call: grpc.ServerWritableStream<unknown, Reply>) => {
        // `x-hold`: one message, then nothing until the call is cancelled or its deadline passes.
        if (call.metadata.get('x-hold').length > 0) call.write(reply(call));
        else call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    client = new QuotesClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  after(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await invoicer.close();
  });

  /** A unary call: its answer (or error) and the response metadata. */
  const call = (metadata: grpc.Metadata): Promise<{ error: grpc.ServiceError | null; value: Reply | undefined; headers: grpc.Metadata }> =>
    new Promise((resolve) => {
      let headers = new grpc.Metadata();
      const c = client.getQuote?.({}, metadata, (error: grpc.ServiceError | null, value: Reply) =>
        resolve({ error, value, headers }),
      ) as grpc.ClientUnaryCall;
      c.on('metadata', (m: grpc.Metadata) => (headers = m));
    });

  it("challenges with both schemes' lines in the trailers, L402 first", async () => {
    const { error } = await call(new grpc.Metadata());
    assert.equal(error?.code, 13);
    // grpc-js joins repeated metadata values with ", ": the order is what counts.
    const joined = (error?.metadata.get('www-authenticate').map(String) ?? []).join(', ');
    const at = ['LSAT macaroon=', 'L402 macaroon=', 'Test id='].map((start) => joined.indexOf(start));
    assert.ok(
      at.every((i, k) => i >= 0 && (k === 0 || i > (at[k - 1] as number))),
      joined,
    );
    assert.equal(error?.metadata.get('cache-control')[0], 'no-store');
  });

  it("lets the second scheme's credential through with its response headers in the metadata; the Gate hears the call's status", async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-test', 'good');
    const before = events.length;
    const { error, value, headers } = await call(metadata);
    assert.equal(error, null);
    assert.equal(value?.tokenId, TEST_SCHEME_TOKEN.tokenId);
    assert.equal(headers.get('payment-receipt')[0], 'receipt-aaaa');
    assert.equal(events.length, before + 1, 'told before the status went out');
    assert.deepEqual(events[before]?.outcome, { status: 200, completed: true, grpcStatus: 0 });
    assert.equal(other.finished.at(-1)?.outcome.grpcStatus, 0);
  });

  /** A paid streaming call that the handler holds open, ended by the client: cancelled after the first message, or by its deadline. */
  async function held(end: 'cancel' | 'deadline'): Promise<ResponseEvent['outcome'] | undefined> {
    const metadata = new grpc.Metadata();
    metadata.set('x-test', 'good');
    metadata.set('x-hold', '1');
    const before = events.length;
    const options = end === 'deadline' ? { deadline: Date.now() + 300 } : {};
    const stream = client.streamQuotes?.({}, metadata, options) as grpc.ClientReadableStream<Reply>;
    stream.on('error', () => undefined);
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    if (end === 'cancel') stream.cancel();
    for (const until = Date.now() + 5000; events.length === before && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
    return events[before]?.outcome;
  }

  it('a call the client cancels mid-stream is told as the client leaving (its payment kept)', async () => {
    assert.deepEqual(await held('cancel'), { status: 200, completed: false, clientAborted: true });
  });

  it("a call whose deadline passes after the handler began answering is the client's: it counts", async () => {
    // The client's timer and the server's (started when the call arrived) race: the server sees either
    // the deadline pass (DEADLINE_EXCEEDED under the client's deadline) or the client's cancel first.
    const outcome = await held('deadline');
    const forms = [
      { status: 200, completed: false, grpcStatus: 4, clientDeadline: true },
      { status: 200, completed: false, clientAborted: true },
    ];
    assert.ok(
      forms.some((form) => JSON.stringify(form) === JSON.stringify(outcome)),
      JSON.stringify(outcome),
    );
    assert.equal(responseServed(outcome as ResponseEvent['outcome'] & object), true);
  });
});
