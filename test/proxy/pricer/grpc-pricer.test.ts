// The dynamic pricer client against a real grpc-js price server on loopback,
// speaking the reference's pricesrpc.Prices wire format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { GrpcPricer } from '../../../src/proxy/pricer/grpc-pricer.js';
import { L402Error } from '../../../src/core/errors.js';
import { startPriceServer as startSessionServer } from '../../fixtures/fake-price-server.js';

// The server side is defined independently here (same field numbers as the
// reference's prices.proto), so a wrong number in the client would show.
const SERVER_PROTO = `
syntax = "proto3";
package pricesrpc;
service Prices { rpc GetPrice (GetPriceRequest) returns (GetPriceResponse); }
message GetPriceRequest { string path = 1; string http_request_text = 2; }
message GetPriceResponse { int64 price_sats = 1; }
`;

async function startPriceServer(
  price: (path: string, text: string) => number | Error,
): Promise<{ address: string; seen: Array<{ path: string; text: string }>; stop: () => Promise<void> }> {
  const root = protobuf.parse(SERVER_PROTO, { keepCase: true }).root;
  const def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { pricesrpc: { Prices: grpc.ServiceClientConstructor } };
  const server = new grpc.Server();
  const seen: Array<{ path: string; text: string }> = [];
  server.addService(pkg.pricesrpc.Prices.service, {
    GetPrice(call: grpc.ServerUnaryCall<{ path: string; http_request_text: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      seen.push({ path: call.request.path, text: call.request.http_request_text });
      const result = price(call.request.path, call.request.http_request_text);
      if (result instanceof Error) callback({ code: grpc.status.INTERNAL, details: result.message });
      else callback(null, { price_sats: String(result) });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    seen,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

test('GetPrice sends path and request text and returns the price', async () => {
  const server = await startPriceServer((path) => (path === '/v1/cheap' ? 3 : 250));
  const pricer = new GrpcPricer({ address: server.address, insecure: true });
  try {
    assert.equal(await pricer.getPrice('/v1/cheap', 'GET /v1/cheap HTTP/1.1\r\n\r\n'), 3);
    assert.equal(await pricer.getPrice('/v1/dear', 'POST /v1/dear HTTP/1.1\r\n\r\n{"model":"big"}'), 250);
    assert.deepEqual(server.seen[1], { path: '/v1/dear', text: 'POST /v1/dear HTTP/1.1\r\n\r\n{"model":"big"}' });
  } finally {
    pricer.close();
    await server.stop();
  }
});

test('a failing price server gives a coded 503 error', async () => {
  const server = await startPriceServer(() => new Error('database down'));
  const pricer = new GrpcPricer({ address: server.address, insecure: true });
  try {
    await assert.rejects(pricer.getPrice('/x', ''), (err: unknown) => {
      assert.ok(err instanceof L402Error);
      assert.equal(err.code, 'L402_ERR_PRICER_UNAVAILABLE');
      assert.equal(err.status, 503);
      assert.match(err.message, /database down/);
      return true;
    });
  } finally {
    pricer.close();
    await server.stop();
  }
});

test('an unreachable price server fails within the deadline', async () => {
  const server = await startPriceServer(() => 1);
  const address = server.address;
  await server.stop();
  const pricer = new GrpcPricer({ address, insecure: true, timeoutMs: 300 });
  try {
    await assert.rejects(pricer.getPrice('/x', ''), { code: 'L402_ERR_PRICER_UNAVAILABLE' });
  } finally {
    pricer.close();
  }
});

test('a missing certificate file is a coded error', () => {
  assert.throws(() => new GrpcPricer({ address: '127.0.0.1:1', tlsCertPath: '/nonexistent/tls.cert' }), {
    code: 'L402_ERR_PRICER_TLS',
  });
});

const USAGE = {
  sessionId: 'ab'.repeat(32),
  path: '/v1/chat',
  serviceName: 'llm',
  httpStatus: 200,
  contentType: 'text/event-stream',
  contentEncoding: '',
  complete: false,
  responseTail: Buffer.from('data: {"usage":{"tokens":42}}\n\n'),
  estimateSats: 5,
  requestText: 'POST /v1/chat HTTP/1.1\r\n\r\n{"model":"m"}',
};

test('QuoteSession and SettleSession carry every field and return the quote and the cost', async () => {
  const seen: Array<Record<string, unknown>> = [];
  const server = await startSessionServer({
    QuoteSession(call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) {
      seen.push(call.request);
      callback(null, { unit_price_sats: '7', deposit_sats: '300' });
    },
    SettleSession(call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) {
      seen.push(call.request);
      callback(null, { cost_sats: '42' });
    },
  });
  const pricer = new GrpcPricer({ address: server.address, insecure: true });
  try {
    const quote = await pricer.quoteSession({ path: '/v1/chat', requestText: 'GET / HTTP/1.1\r\n\r\n', serviceName: 'llm', sessionId: '' });
    assert.deepEqual(quote, { unitSats: 7, depositSats: 300 });
    assert.deepEqual(seen[0], { path: '/v1/chat', http_request_text: 'GET / HTTP/1.1\r\n\r\n', service_name: 'llm', session_id: '' });
    assert.equal(await pricer.settleSession(USAGE), 42);
    assert.deepEqual(seen[1], {
      session_id: USAGE.sessionId,
      path: '/v1/chat',
      service_name: 'llm',
      http_status: 200,
      content_type: 'text/event-stream',
      content_encoding: '',
      complete: false,
      response_tail: USAGE.responseTail,
      estimate_sats: '5',
      http_request_text: USAGE.requestText,
    });
  } finally {
    pricer.close();
    await server.stop();
  }
});

test('a price server without the session RPCs answers UNIMPLEMENTED: no quote, no cost, no error', async () => {
  const server = await startSessionServer({
    GetPrice(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(null, { price_sats: '1' });
    },
  });
  const pricer = new GrpcPricer({ address: server.address, insecure: true });
  try {
    assert.equal(await pricer.quoteSession({ path: '/', requestText: '', serviceName: 's', sessionId: '' }), undefined);
    assert.equal(await pricer.settleSession(USAGE), undefined);
  } finally {
    pricer.close();
    await server.stop();
  }
});

test('a failing, negative or unreachable session pricer is a coded 503 error', async () => {
  const server = await startSessionServer({
    QuoteSession(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(null, { unit_price_sats: '-1', deposit_sats: '0' });
    },
    SettleSession(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback({ code: grpc.status.INTERNAL, details: 'meter broke' });
    },
  });
  const pricer = new GrpcPricer({ address: server.address, insecure: true });
  const unavailable = (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_PRICER_UNAVAILABLE' && e.status === 503;
  try {
    await assert.rejects(pricer.quoteSession({ path: '/', requestText: '', serviceName: 's', sessionId: '' }), unavailable);
    await assert.rejects(pricer.settleSession(USAGE), (e: unknown) => unavailable(e) && /meter broke/.test((e as Error).message));
  } finally {
    pricer.close();
    await server.stop();
  }
  const gone = new GrpcPricer({ address: server.address, insecure: true, timeoutMs: 300 });
  try {
    await assert.rejects(gone.settleSession(USAGE), unavailable);
  } finally {
    gone.close();
  }
});
