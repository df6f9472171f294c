// A grpc-js server with L402: every call of quotes.Quotes costs 10 sats. Run: npx tsx examples/grpc/server.ts
// The service uses JSON messages so the example needs no .proto file.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { grpcL402Interceptor, grpcL402Token } from 'aperture-ts/grpc';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayListener } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const server = new grpc.Server({
  interceptors: [
    grpcL402Interceptor({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 10, timeoutSeconds: 3600 }),
  ],
});

const json = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown };
const getQuote = {
  path: '/quotes.Quotes/GetQuote',
  requestStream: false,
  responseStream: false,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
};
server.addService(
  { getQuote },
  {
    getQuote: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { quote: 'Stay humble, stack sats.', tokenId: grpcL402Token(call)?.tokenId });
    },
  },
);

const port = Number(process.env['PORT'] ?? 50051);
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
  if (error) throw error;
  // The dev backend's "wallet" on a plain HTTP port beside the gRPC one.
  const wallet = createServer(createDevPayListener(invoicer)).listen(0, '127.0.0.1', () => {
    const pay = `http://127.0.0.1:${(wallet.address() as AddressInfo).port}/api/dev/pay`;
    console.log(`gRPC listening on 127.0.0.1:${bound} (h2c), method /quotes.Quotes/GetQuote
  A call without credentials fails with status 13 "payment required"; the trailers carry
  www-authenticate: L402 macaroon="M", invoice="I".
  Pay I:      curl -s -X POST ${pay} -d '{"invoice":"I"}'   # prints the preimage P
  Call again with metadata  authorization: L402 M:P`);
  });
});
