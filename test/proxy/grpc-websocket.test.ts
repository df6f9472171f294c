// gRPC passthrough (grpc-js client → proxy → grpc-js backend) over h2c and TLS,
// gRPC challenges, upstream failures, and WebSocket tunnelling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { WebSocket, WebSocketServer } from 'ws';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';
import type { Decision } from '../../src/core/types.js';
import { h1, service, startBackend, startProxy, testPki, until } from './support.js';

const identity = (b: Buffer): Buffer => b;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const definition = {
  unary: method('/test.Echo/Unary', false, false),
  serverStream: method('/test.Echo/ServerStream', false, true),
  clientStream: method('/test.Echo/ClientStream', true, false),
} as unknown as grpc.ServiceDefinition;

const EchoClient = grpc.makeGenericClientConstructor(definition, 'Echo');
type Echo = grpc.Client & {
  unary(req: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): grpc.ClientUnaryCall;
  serverStream(req: Buffer, md: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
  clientStream(md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): grpc.ClientWritableStream<Buffer>;
};

async function startGrpcBackend(): Promise<{ address: string; server: grpc.Server; seen: grpc.Metadata[] }> {
  const server = new grpc.Server();
  const seen: grpc.Metadata[] = [];
  server.addService(definition, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.push(call.metadata);
      if (call.request.toString() === 'fail') {
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'from-backend');
      cb(null, Buffer.from(`echo:${call.request.toString()}`), trailer);
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      // `hold`: one message, then nothing until the client cancels.
      if (call.request.toString() === 'hold') {
        call.write(Buffer.from('held'));
        return;
      }
      // `expire`: one message, then DEADLINE_EXCEEDED, as a backend whose deadline ran out mid-stream ends it.
      if (call.request.toString() === 'expire') {
        call.write(Buffer.from('partial'));
        call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
        return;
      }
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`msg${i}`));
      call.end();
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: string[] = [];
      call.on('data', (b: Buffer) => parts.push(b.toString()));
      call.on('end', () => cb(null, Buffer.from(parts.join('+'))));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, server, seen };
}

function unary(client: Echo, text: string): Promise<{ value?: Buffer; error?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = client.unary(Buffer.from(text), new grpc.Metadata(), (error, value) => {
      setImmediate(() => resolve(error ? { error } : { value: value as Buffer, ...(trailers ? { trailers } : {}) }));
    });
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

test('gRPC unary, server-streaming and client-streaming through the proxy (h2c and TLS), trailers kept', async () => {
  const backend = await startGrpcBackend();
  const pki = await testPki();
  let asked = 0;
  const authorize = () => {
    asked++;
    return { kind: 'allow', reason: 'auth-off' } as const;
  };
  const plain = await startProxy({ services: [service(backend.address, { headers: { 'x-injected': 'yes' } })], authorize });
  const tls = await startProxy({ services: [service(backend.address)], authorize }, { pki });
  try {
    for (const [p, creds] of [
      [plain, grpc.credentials.createInsecure()],
      [tls, grpc.credentials.createSsl(Buffer.from(pki.caCert))],
    ] as const) {
      const client = new EchoClient(`127.0.0.1:${p.port}`, creds) as unknown as Echo;
      const r = await unary(client, 'hi');
      assert.equal(r.value?.toString(), 'echo:hi');
      assert.deepEqual(r.trailers?.get('x-trailer'), ['from-backend']);

      const failed = await unary(client, 'fail');
      assert.equal(failed.error?.code, grpc.status.NOT_FOUND);
      assert.equal(failed.error?.details, 'no such thing');

      const stream = client.serverStream(Buffer.from('5'), new grpc.Metadata());
      const got: string[] = [];
      stream.on('data', (b: Buffer) => got.push(b.toString()));
      await once(stream, 'end');
      assert.deepEqual(got, ['msg0', 'msg1', 'msg2', 'msg3', 'msg4']);

      const joined = await new Promise<string>((resolve, reject) => {
        const w = client.clientStream(new grpc.Metadata(), (e, v) => (e ? reject(e) : resolve((v as Buffer).toString())));
        w.write(Buffer.from('a'));
        w.write(Buffer.from('b'));
        w.write(Buffer.from('c'));
        w.end();
      });
      assert.equal(joined, 'a+b+c');
      client.close();
    }
    assert.ok(asked >= 8);
    const md = backend.seen[0];
    assert.deepEqual(md?.get('x-injected'), ['yes']);
    assert.deepEqual(md?.get('x-forwarded-for'), ['127.0.0.1']);
  } finally {
    await plain.close();
    await tls.close();
    backend.server.forceShutdown();
  }
});

test('a gRPC challenge reaches grpc-js as status 13 "payment required" with www-authenticate metadata', async () => {
  const backend = await startGrpcBackend();
  const challenge: Decision = {
    kind: 'challenge',
    status: 402,
    headers: [
      ['WWW-Authenticate', 'LSAT macaroon="bWFj", invoice="lnbc1"'],
      ['WWW-Authenticate', 'L402 macaroon="bWFj", invoice="lnbc1"'],
      ['Content-Type', 'text/plain'],
    ],
    body: 'payment required\n',
    code: 'L402_ERR_TOKEN_MISSING',
    offers: [],
    paymentHash: '00'.repeat(32),
    tokenId: '11'.repeat(32),
    priceSats: 1,
  };
  const p = await startProxy({ services: [service(backend.address)], authorize: () => challenge });
  try {
    const client = new EchoClient(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
    const r = await unary(client, 'hi');
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    assert.equal(r.error?.details, 'payment required');
    // Two header lines on the wire; Node's HTTP/2 client joins repeated names with ", ".
    assert.deepEqual(r.error?.metadata.get('www-authenticate'), [
      'LSAT macaroon="bWFj", invoice="lnbc1", L402 macaroon="bWFj", invoice="lnbc1"',
    ]);
    assert.equal(r.error?.metadata.get('content-type').includes('text/plain'), false, 'HTTP-only headers are not metadata');
    assert.equal(backend.seen.length, 0, 'the backend must not be called');
    client.close();
  } finally {
    await p.close();
    backend.server.forceShutdown();
  }
});

test('gRPC to a backend that is down gets UNAVAILABLE with the upstream code', async () => {
  const backend = await startGrpcBackend();
  const address = backend.address;
  backend.server.forceShutdown();
  const p = await startProxy({ services: [service(address)] });
  try {
    const client = new EchoClient(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
    const r = await unary(client, 'hi');
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
    assert.match(r.error?.details ?? '', /L402_ERR_UPSTREAM_UNREACHABLE/);
    client.close();
  } finally {
    await p.close();
  }
});

test('WebSocket echo through the proxy; a challenge on upgrade is answered 402', async () => {
  const backend = await startBackend((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server: backend.server });
  let forwardedFor: string | undefined;
  wss.on('connection', (ws, req) => {
    forwardedFor = req.headers['x-forwarded-for'] as string | undefined;
    ws.on('message', (data, binary) => ws.send(data, { binary }));
  });
  const p = await startProxy({
    services: [service(backend.address)],
    authorize: ({ request }) =>
      request.path === '/paid'
        ? {
            kind: 'reject',
            status: 402,
            headers: [['WWW-Authenticate', 'L402 macaroon="x", invoice="y"']],
            body: 'payment required\n',
            code: 'L402_ERR_TOKEN_MISSING',
          }
        : { kind: 'allow', reason: 'auth-off' },
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/ws`);
    await once(ws, 'open');
    ws.send('ping-1');
    const [reply] = (await once(ws, 'message')) as [Buffer];
    assert.equal(reply.toString(), 'ping-1');
    assert.equal(forwardedFor, '127.0.0.1');
    ws.close();
    await once(ws, 'close');

    const denied = new WebSocket(`ws://127.0.0.1:${p.port}/paid`);
    denied.on('error', () => undefined);
    const [, res] = (await once(denied, 'unexpected-response')) as [unknown, { statusCode: number; headers: Record<string, string> }];
    assert.equal(res.statusCode, 402);
    assert.match(res.headers['www-authenticate'] ?? '', /^L402 /);
    assert.equal((await h1(`${p.url}/plain`)).body, 'not a websocket');
  } finally {
    wss.close();
    await p.close();
    await backend.close();
  }
  assert.equal(p.server.connections, 0);
});

test("an allow's response headers reach gRPC and WebSocket clients, and afterResponse hears how each ended", async () => {
  const grpcBackend = await startGrpcBackend();
  const wsBackend = await startBackend((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server: wsBackend.server });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  const outcomes: Array<{ path: string; outcome: ResponseOutcome }> = [];
  const allow: Decision = { kind: 'allow', reason: 'paid', headers: [['Payment-Receipt', 'r-1']] };
  const options = {
    authorize: () => allow,
    afterResponse: (context: { request: { path: string } }, _decision: Decision, outcome: ResponseOutcome) =>
      outcomes.push({ path: context.request.path, outcome }),
  };
  const grpcProxy = await startProxy({ services: [service(grpcBackend.address)], ...options });
  const wsProxy = await startProxy({ services: [service(wsBackend.address)], ...options });
  try {
    const client = new EchoClient(`127.0.0.1:${grpcProxy.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
    const headers = await new Promise<grpc.Metadata>((resolve, reject) => {
      let got: grpc.Metadata | undefined;
      const call = client.unary(Buffer.from('hi'), new grpc.Metadata(), (error) => (error ? reject(error) : resolve(got as grpc.Metadata)));
      call.on('metadata', (m: grpc.Metadata) => (got = m));
    });
    assert.deepEqual(headers.get('payment-receipt'), ['r-1']);
    client.close();
    await until(() => outcomes.length === 1, 'the gRPC call reported');
    assert.deepEqual(outcomes[0], { path: '/test.Echo/Unary', outcome: { status: 200, completed: true, grpcStatus: 0 } });

    // A call the client cancels mid-stream: the client left, the backend had not failed.
    const held = new EchoClient(`127.0.0.1:${grpcProxy.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
    const stream = held.serverStream(Buffer.from('hold'), new grpc.Metadata());
    stream.on('error', () => undefined);
    await once(stream, 'data');
    stream.cancel();
    await until(() => outcomes.length === 2, 'the cancelled call reported');
    held.close();
    assert.deepEqual(outcomes[1], { path: '/test.Echo/ServerStream', outcome: { status: 200, completed: false, clientAborted: true } });
    outcomes.splice(0, 2);

    // DEADLINE_EXCEEDED after a first message: under the client's own deadline (grpc-timeout) it is the
    // client's choice and counts; without one the backend gave up, and it does not.
    const expiring = new EchoClient(`127.0.0.1:${grpcProxy.port}`, grpc.credentials.createInsecure()) as unknown as Echo;
    for (const deadline of [Date.now() + 30_000, undefined]) {
      const call = (expiring as unknown as grpc.Client & { serverStream: Function }).serverStream(
        Buffer.from('expire'),
        new grpc.Metadata(),
        deadline === undefined ? {} : { deadline },
      ) as grpc.ClientReadableStream<Buffer>;
      const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      call.on('data', () => undefined);
      assert.equal((await failed).code, grpc.status.DEADLINE_EXCEEDED);
    }
    await until(() => outcomes.length === 2, 'the expired calls reported');
    expiring.close();
    assert.deepEqual(outcomes[0]?.outcome, { status: 200, completed: true, grpcStatus: 4, clientDeadline: true });
    assert.deepEqual(outcomes[1]?.outcome, { status: 200, completed: true, grpcStatus: 4 });
    outcomes.splice(0, 2);

    const ws = new WebSocket(`ws://127.0.0.1:${wsProxy.port}/ws`);
    const opened = once(ws, 'open');
    const [upgrade] = (await once(ws, 'upgrade')) as [{ headers: Record<string, string> }];
    assert.equal(upgrade.headers['payment-receipt'], 'r-1');
    await opened;
    ws.close();
    await once(ws, 'close');
    await until(() => outcomes.length === 1, 'the tunnel reported');
    assert.deepEqual(outcomes[0], { path: '/ws', outcome: { status: 101, completed: true } });

    // A client that drops its connection mid-tunnel left: it is not the backend's failure.
    const dropped = new WebSocket(`ws://127.0.0.1:${wsProxy.port}/ws`);
    await once(dropped, 'open');
    dropped.terminate();
    await until(() => outcomes.length === 2, 'the dropped tunnel reported');
    assert.deepEqual(outcomes[1], { path: '/ws', outcome: { status: 101, completed: false, clientAborted: true } });
  } finally {
    wss.close();
    await grpcProxy.close();
    await wsProxy.close();
    await wsBackend.close();
    grpcBackend.server.forceShutdown();
  }
});

test('afterResponse hears the 502 of an allowed WebSocket upgrade whose backend cannot be reached, not a 101', async () => {
  const gone = await startBackend((_req, res) => res.end());
  await gone.close();
  const outcomes: ResponseOutcome[] = [];
  const proxy = await startProxy({
    services: [service(gone.address)],
    authorize: (): Decision => ({ kind: 'allow', reason: 'paid' }),
    afterResponse: (_context, _decision, outcome) => outcomes.push(outcome),
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
    ws.on('error', () => undefined);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; resume: () => void }];
    res.resume();
    assert.equal(res.statusCode, 502);
    await until(() => outcomes.length === 1, 'the upgrade reported');
    assert.deepEqual(outcomes[0], { status: 502, completed: true });
  } finally {
    await proxy.close();
  }
});

test('observes picks the decisions afterResponse hears: the others are not watched (HTTP and WebSocket)', async () => {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ noServer: true });
  backend.server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.close()));
  const heard: string[] = [];
  const proxy = await startProxy({
    services: [service(backend.address)],
    authorize: (context): Decision =>
      context.request.path.includes('metered')
        ? { kind: 'allow', reason: 'paid', scheme: 'Metered' }
        : { kind: 'allow', reason: 'auth-off' },
    afterResponse: (context) => heard.push(context.request.path),
    observes: (decision) => decision.kind === 'allow' && decision.scheme === 'Metered',
  });
  try {
    assert.equal((await h1(`http://127.0.0.1:${proxy.port}/free`)).status, 200);
    assert.equal((await h1(`http://127.0.0.1:${proxy.port}/metered`)).status, 200);
    for (const path of ['/free-ws', '/metered-ws']) {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
      ws.on('error', () => undefined);
      await once(ws, 'close');
    }
    await until(() => heard.length === 2, 'the metered requests reported');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(heard.sort(), ['/metered', '/metered-ws']);
  } finally {
    await proxy.close();
    wss.close();
    await backend.close();
  }
});
