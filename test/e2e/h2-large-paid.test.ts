// HTTP/2 over TLS through the whole aperture pipeline with a paid token: 10 MB up and 10 MB
// down intact, and a gRPC server-streaming call of many messages read by a client that keeps
// pausing (HTTP/2 flow control on both legs), all messages in order.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h2, h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, removeDir, tempBaseDir } from './support.js';

const PROTO = `
syntax = "proto3";
package bulk;
service Feed { rpc Stream (Ask) returns (stream Item); }
message Ask { int32 count = 1; }
message Item { int32 seq = 1; bytes data = 2; }
`;
const root = protobuf.parse(PROTO, { keepCase: true }).root;
const Feed = (
  grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true })) as unknown as {
    bulk: { Feed: grpc.ServiceClientConstructor };
  }
).bulk.Feed;
type FeedClient = grpc.Client & { Stream(req: object, md: grpc.Metadata): grpc.ClientReadableStream<{ seq: number; data: Buffer }> };

const SIZE = 10 * 1024 * 1024;
const payload = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i += 4) payload.writeUInt32BE(i, i);
const payloadHash = createHash('sha256').update(payload).digest('hex');
const MESSAGES = 5000;
const ITEM = Buffer.alloc(2048, 7);

describe('HTTP/2 and gRPC, 10 MB with a paid token', { timeout: 120_000 }, () => {
  let aperture: RunningAperture;
  let ca: string;
  let rest: Awaited<ReturnType<typeof startBackend>>;
  const feed = new grpc.Server();
  const baseDir = tempBaseDir();

  before(async () => {
    rest = await startBackend((req, res) => {
      if (req.url === '/big/down') {
        res.setHeader('content-length', SIZE);
        res.end(payload);
        return;
      }
      const h = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        length += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ sha256: h.digest('hex'), length })));
    });
    feed.addService(Feed.service, {
      Stream: (call: grpc.ServerWritableStream<{ count: number }, unknown>) => {
        let seq = 0;
        const next = (): void => {
          while (seq < call.request.count) {
            if (!call.write({ seq: seq++, data: ITEM })) {
              call.once('drain', next);
              return;
            }
          }
          call.end();
        };
        next();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      feed.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    aperture = await startAperture(
      configFrom(
        `
listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: feed
    hostregexp: '.*'
    pathregexp: '^/bulk\\.Feed/'
    address: 127.0.0.1:${port}
    price: 2
  - name: big
    hostregexp: '.*'
    address: ${rest.address}
    price: 3
`,
        baseDir,
      ),
      { logger: quiet, gcIntervalMs: 0, defaultMetrics: false },
    );
    ca = readFileSync(join(baseDir, 'tls.cert'), 'utf8');
  });

  after(async () => {
    await aperture.close();
    feed.forceShutdown();
    await rest.close();
    removeDir(baseDir);
  });

  async function paidAuthorization(session: ClientHttp2Session, path: string): Promise<string> {
    const first = await h2(session, { ':path': path });
    assert.equal(first.headers[':status'], 402);
    const { macaroon, invoice } = challengeOf(first.headers['www-authenticate'] as string | string[]);
    const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    return `L402 ${macaroon}:${paid.preimage}`;
  }

  test('HTTP/2: 10 MB upload and 10 MB download with a paid token arrive intact', async () => {
    const session = await h2Session(`https://localhost:${aperture.addresses.proxy.port}`, ca);
    const authorization = await paidAuthorization(session, '/big/up');

    const up = await new Promise<{ status: unknown; body: string }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/big/up', authorization });
      let status: unknown;
      let body = '';
      stream.on('response', (h) => (status = h[':status']));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
      stream.end(payload);
    });
    assert.equal(up.status, 200);
    assert.deepEqual(JSON.parse(up.body), { sha256: payloadHash, length: SIZE });

    const down = await new Promise<{ status: unknown; sha256: string; length: number }>((resolve, reject) => {
      const stream = session.request({ ':path': '/big/down', authorization });
      let status: unknown;
      const h = createHash('sha256');
      let length = 0;
      stream.on('response', (headers) => (status = headers[':status']));
      stream.on('data', (c: Buffer) => {
        h.update(c);
        length += c.length;
      });
      stream.on('end', () => resolve({ status, sha256: h.digest('hex'), length }));
      stream.on('error', reject);
      stream.end();
    });
    assert.deepEqual(down, { status: 200, sha256: payloadHash, length: SIZE });
    session.close();
  });

  test(`gRPC server streaming: ${MESSAGES} messages of 2 KiB with a paid token, paused reader, all in order`, async () => {
    const client = new Feed(
      `localhost:${aperture.addresses.proxy.port}`,
      grpc.credentials.createSsl(Buffer.from(ca)),
    ) as unknown as FeedClient;
    const denied = client.Stream({ count: 1 }, new grpc.Metadata());
    const challenge = await new Promise<grpc.ServiceError>((resolve) => denied.on('error', resolve));
    assert.equal(challenge.code, grpc.status.INTERNAL);
    const { macaroon, invoice } = challengeOf(challenge.metadata.get('www-authenticate') as string[]);
    const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    const md = new grpc.Metadata();
    md.set('authorization', `L402 ${macaroon}:${paid.preimage}`);

    const call = client.Stream({ count: MESSAGES }, md);
    let expected = 0;
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      call.on('data', (item: { seq: number; data: Buffer }) => {
        assert.equal(item.seq, expected++);
        bytes += item.data.length;
        // Stop reading every 500 messages until the next turn of the event loop, so that the
        // windows of both HTTP/2 legs fill and the backend has to wait for them.
        if (expected % 500 === 0) {
          call.pause();
          setImmediate(() => call.resume());
        }
      });
      call.on('end', resolve);
      call.on('error', reject);
    });
    assert.equal(expected, MESSAGES);
    assert.equal(bytes, MESSAGES * ITEM.length);
    client.close();
  });
});
