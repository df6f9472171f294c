// The backend every scenario ends at: a minimal node:http server answering a
// small JSON body, or a grpc-js server with one unary echo method (raw bytes,
// no protobuf, so that only transport and proxy costs are measured).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { childParams, onStop, report } from '../lib/child.js';

interface Params {
  kind: 'http' | 'grpc';
}

const BODY = Buffer.from('{"ok":true,"n":42}\n');

const params = childParams<Params>();
if (params.kind === 'http') {
  const server: Server = createServer((req, res) => {
    // Drain any request body before answering, as a real handler would.
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => {
    report({ type: 'ready', port: (server.address() as AddressInfo).port });
  });
  onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
} else {
  const server = new grpc.Server();
  const identity = (b: Buffer): Buffer => b;
  server.addService(
    {
      Ping: {
        path: '/bench.Echo/Ping',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Ping: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
    },
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error !== null) throw error;
    report({ type: 'ready', port });
  });
  onStop(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
}
