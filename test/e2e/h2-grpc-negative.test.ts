// aperture over TLS (self-signed certificate in a temp basedir): every refusal over HTTP/2 and
// gRPC, the raw trailers-only payment-required answer, and a paid bidirectional gRPC stream.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Minter } from '../../src/core/minter.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, freePort, quiet, removeDir, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

/** An HTTP/2 request whose raw header list is kept (node:http2 joins repeated headers in the object). */
function h2(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
): Promise<{ headers: IncomingHttpHeaders; rawHeaders: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let head: IncomingHttpHeaders = {};
    let raw: string[] = [];
    const chunks: Buffer[] = [];
    stream.on('response', (h: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      head = h;
      raw = rawHeaders;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers: head, rawHeaders: raw, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
    stream.end();
  });
}

const identity = (b: Buffer): Buffer => b;

/** A bidirectional echo method defined by hand: raw bytes in, `echo:<bytes>` out, one reply per message. */
const chatService: grpc.ServiceDefinition = {
  Talk: {
    path: '/demo.Chat/Talk',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Get: {
    path: '/demo.Chat/Get',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

async function bind(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return `127.0.0.1:${port}`;
}

/** A length-prefixed gRPC message frame. */
function grpcFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

describe('aperture over TLS: HTTP/2 and gRPC refusals', () => {
  let aperture: RunningAperture;
  let ca: string;
  let rest: Awaited<ReturnType<typeof startBackend>>;
  let slow: Awaited<ReturnType<typeof startBackend>>;
  const held: (() => void)[] = [];
  const grpcBackend = new grpc.Server();
  const clock = new TestClock(Date.now());

  const baseDir = tempBaseDir();
  before(async () => {
    grpcBackend.addService(chatService, {
      Talk: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => call.write(Buffer.from(`echo:${b.toString()}`)));
        call.on('end', () => {
          const trailer = new grpc.Metadata();
          trailer.set('x-chat-end', 'bye');
          call.end(trailer);
        });
      },
      Get: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('got')),
    });
    const grpcAddress = await bind(grpcBackend);
    rest = await startBackend((req, res) => res.end(`rest ${req.url}`));
    slow = await startBackend((_req, res) => {
      held.push(() => res.end('late'));
    });
    const downPort = await freePort();
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
blocklist: ['203.0.113.0/24']
trustedproxies: ['127.0.0.1']
authenticator:
  backend: dev
services:
  - name: chat
    hostregexp: '.*'
    pathregexp: '^/demo\\.Chat/'
    address: ${grpcAddress}
    price: 5
    authwhitelistpaths: ['^/demo\\.Chat/Get$']
  - name: grpcskip
    hostregexp: '.*'
    pathregexp: '^/demo\\.Skip/'
    address: ${grpcAddress}
    price: 5
    authskipinvoicecreationpaths: ['^/demo\\.Skip/']
  - name: grpcdown
    hostregexp: '.*'
    pathregexp: '^/demo\\.Down/'
    address: 127.0.0.1:${downPort}
    auth: 'off'
  - name: freebie
    hostregexp: '.*'
    pathregexp: '^/freebie'
    address: ${rest.address}
    auth: freebie 1
  - name: down
    hostregexp: '.*'
    pathregexp: '^/down'
    address: 127.0.0.1:${downPort}
    auth: 'off'
  - name: slow
    hostregexp: '.*'
    pathregexp: '^/slow'
    address: ${slow.address}
    auth: 'off'
    upstreamtimeout: 300ms
  - name: rest
    hostregexp: '.*'
    address: ${rest.address}
    price: 3
    timeout: 60
    authwhitelistpaths: ['^/open']
    authskipinvoicecreationpaths: ['^/nochallenge']
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false, challengeRateLimit: false });
    ca = readFileSync(join(baseDir, 'tls.cert')).toString();
  });

  after(async () => {
    for (const release of held) release();
    await aperture.close();
    grpcBackend.forceShutdown();
    await rest.close();
    await slow.close();
    removeDir(baseDir);
  });

  const origin = (): string => `https://localhost:${aperture.addresses.proxy.port}`;

  function grpcClient(): grpc.Client {
    return new grpc.Client(`localhost:${aperture.addresses.proxy.port}`, grpc.credentials.createSsl(Buffer.from(ca)));
  }

  function unary(c: grpc.Client, path: string, md = new grpc.Metadata()): Promise<{ error: grpc.ServiceError | null; reply?: Buffer }> {
    return new Promise((resolve) => {
      c.makeUnaryRequest(path, identity, identity, Buffer.from('ask'), md, (error, reply) =>
        resolve(reply === undefined ? { error } : { error, reply }),
      );
    });
  }

  async function pay(invoice: string): Promise<string> {
    return (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice)).preimage;
  }

  function assertTwoLineChallenge(rawHeaders: string[]): void {
    const lines = wwwAuthenticate(rawHeaders);
    assert.equal(lines.length, 2, `two WWW-Authenticate header fields expected, got ${JSON.stringify(lines)}`);
    assert.match(lines[0] as string, /^LSAT macaroon="[^"]+", invoice="lnbcrt30n1/);
    assert.match(lines[1] as string, /^L402 macaroon="[^"]+", invoice="lnbcrt30n1/);
  }

  /** grpc-js joins repeated metadata into one value: both the LSAT and the L402 challenge must be in it. */
  function assertBothSchemes(md: grpc.Metadata | undefined): void {
    const text = (md?.get('www-authenticate') ?? []).join(', ');
    assert.match(text, /(^|, )LSAT macaroon="[^"]+", invoice="lnbc/);
    assert.match(text, /, L402 macaroon="[^"]+", invoice="lnbc/);
  }

  test('HTTP/2: wrong preimage, foreign macaroon and expired token each get a fresh two-line 402', async () => {
    const session = await h2Session(origin(), ca);
    const first = await h2(session, { ':path': '/x' });
    assert.equal(first.headers[':status'], 402);
    assertTwoLineChallenge(first.rawHeaders);
    const { macaroon, invoice } = challengeOf(first.headers['www-authenticate']);
    const preimage = await pay(invoice);

    const wrong = await h2(session, { ':path': '/x', authorization: `L402 ${macaroon}:${'00'.repeat(32)}` });
    assert.equal(wrong.headers[':status'], 402);
    assertTwoLineChallenge(wrong.rawHeaders);
    assert.notEqual(challengeOf(wrong.headers['www-authenticate']).macaroon, macaroon);

    const otherInvoicer = new DevInvoicer({ onWarning: () => undefined });
    const foreign = await new Minter({ invoicer: otherInvoicer, secrets: new MemorySecretStore() }).mint({
      services: [{ name: 'rest', tier: 0 }],
      priceSats: 3,
    });
    const foreignPaid = await otherInvoicer.pay(foreign.invoice.paymentRequest);
    await otherInvoicer.close();
    const alien = await h2(session, { ':path': '/x', authorization: `L402 ${foreign.macaroonBase64}:${foreignPaid.preimage}` });
    assert.equal(alien.headers[':status'], 402);
    assertTwoLineChallenge(alien.rawHeaders);

    const ok = await h2(session, { ':path': '/x', authorization: `L402 ${macaroon}:${preimage}` });
    assert.equal(ok.headers[':status'], 200);
    assert.equal(ok.body, 'rest /x');
    clock.advance(61_000);
    const expired = await h2(session, { ':path': '/x', authorization: `L402 ${macaroon}:${preimage}` });
    assert.equal(expired.headers[':status'], 402);
    assertTwoLineChallenge(expired.rawHeaders);
    session.close();
  });

  test('HTTP/2: whitelist passes, skip-invoice answers 401, blocklist 403, freebies then 402', async () => {
    const session = await h2Session(origin(), ca);
    const open = await h2(session, { ':path': '/open/a' });
    assert.equal(open.headers[':status'], 200);
    assert.equal(open.body, 'rest /open/a');
    const skip = await h2(session, { ':path': '/nochallenge' });
    assert.equal(skip.headers[':status'], 401);
    assert.equal(skip.body, 'unauthorized\n');
    assert.equal(skip.headers['www-authenticate'], undefined);
    const blocked = await h2(session, { ':path': '/open/a', 'x-forwarded-for': '203.0.113.9' });
    assert.equal(blocked.headers[':status'], 403);
    assert.equal(blocked.body, 'access denied\n');

    const xff = { 'x-forwarded-for': '198.51.100.20' };
    const free = await h2(session, { ':path': '/freebie/a', ...xff });
    assert.equal(free.headers[':status'], 200);
    assert.equal(free.body, 'rest /freebie/a');
    const spent = await h2(session, { ':path': '/freebie/a', ...xff });
    assert.equal(spent.headers[':status'], 402);
    // Another /24 has its own allowance.
    assert.equal((await h2(session, { ':path': '/freebie/a', 'x-forwarded-for': '198.51.101.20' })).headers[':status'], 200);
    session.close();
  });

  test('HTTP/2: upstream down 502, slow upstream 504', async () => {
    const session = await h2Session(origin(), ca);
    const down = await h2(session, { ':path': '/down' });
    assert.equal(down.headers[':status'], 502);
    const late = await h2(session, { ':path': '/slow' });
    assert.equal(late.headers[':status'], 504);
    session.close();
  });

  test('gRPC: payment required (13 + www-authenticate); wrong preimage, foreign macaroon, expired token challenged again', async () => {
    const c = grpcClient();
    const first = await unary(c, '/demo.Chat/Talk');
    assert.equal(first.error?.code, grpc.status.INTERNAL);
    assert.equal(first.error?.details, 'payment required');
    const { macaroon, invoice } = challengeOf(first.error?.metadata.get('www-authenticate') as string[]);
    const preimage = await pay(invoice);
    const withAuth = (value: string): grpc.Metadata => {
      const md = new grpc.Metadata();
      md.set('authorization', value);
      return md;
    };

    const wrong = await unary(c, '/demo.Chat/Talk', withAuth(`L402 ${macaroon}:${'11'.repeat(32)}`));
    assert.equal(wrong.error?.code, grpc.status.INTERNAL);
    assert.equal(wrong.error?.details, 'payment required (L402_ERR_TOKEN_BAD_PREIMAGE)');
    assertBothSchemes(wrong.error?.metadata);

    const otherInvoicer = new DevInvoicer({ onWarning: () => undefined });
    const foreign = await new Minter({ invoicer: otherInvoicer, secrets: new MemorySecretStore() }).mint({
      services: [{ name: 'chat', tier: 0 }],
      priceSats: 5,
    });
    const foreignPaid = await otherInvoicer.pay(foreign.invoice.paymentRequest);
    await otherInvoicer.close();
    const alien = await unary(c, '/demo.Chat/Talk', withAuth(`L402 ${foreign.macaroonBase64}:${foreignPaid.preimage}`));
    assert.equal(alien.error?.code, grpc.status.INTERNAL);
    assert.equal(alien.error?.details, 'payment required (L402_ERR_TOKEN_REVOKED)');

    // The chat service has no timeout: expire the token through a service that has one.
    const session = await h2Session(origin(), ca);
    const restChallenge = await h2(session, { ':path': '/y' });
    const restToken = challengeOf(restChallenge.headers['www-authenticate']);
    const restPreimage = await pay(restToken.invoice);
    session.close();
    const restOk = await unary(c, '/y', withAuth(`L402 ${restToken.macaroon}:${restPreimage}`));
    // A plain REST backend answers gRPC with a non-gRPC reply: what matters is that it was not challenged.
    assert.notEqual(restOk.error?.details, 'payment required');
    clock.advance(61_000);
    const expired = await unary(c, '/y', withAuth(`L402 ${restToken.macaroon}:${restPreimage}`));
    assert.equal(expired.error?.code, grpc.status.INTERNAL);
    assert.equal(expired.error?.details, 'payment required (L402_ERR_TOKEN_EXPIRED)');
    assertBothSchemes(expired.error?.metadata);

    // The paid chat token (the service sets no expiry) still opens a call after the clock moved.
    const md = withAuth(`L402 ${macaroon}:${preimage}`);
    const paidCall = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = c.makeBidiStreamRequest('/demo.Chat/Talk', identity, identity, md);
      call.on('data', () => undefined);
      call.on('error', resolve);
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve(null);
      });
      call.end();
    });
    assert.equal(paidCall, null);
    c.close();
  });

  test('gRPC: whitelisted method passes, skip-invoice is UNAUTHENTICATED, blocklist PERMISSION_DENIED, upstream down UNAVAILABLE', async () => {
    const c = grpcClient();
    const open = await unary(c, '/demo.Chat/Get');
    assert.equal(open.error, null);
    assert.equal(open.reply?.toString(), 'got');

    const skip = await unary(c, '/demo.Skip/Any');
    assert.equal(skip.error?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(skip.error?.metadata.get('www-authenticate').length, 0);

    const xff = new grpc.Metadata();
    xff.set('x-forwarded-for', '203.0.113.50');
    const blocked = await unary(c, '/demo.Chat/Get', xff);
    // A real gRPC reply (grpc-status 7 with its message), not an HTTP 403 that grpc-js would map.
    assert.equal(blocked.error?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(blocked.error?.details, 'access denied');

    const down = await unary(c, '/demo.Down/Any');
    assert.equal(down.error?.code, grpc.status.UNAVAILABLE);
    c.close();
  });

  test('gRPC payment required on the wire: :status 200, trailers-only HEADERS with END_STREAM, no DATA', async () => {
    const session = http2Connect(origin(), { ca });
    session.on('error', () => undefined);
    await once(session, 'connect');
    const stream = session.request({
      ':method': 'POST',
      ':path': '/demo.Chat/Talk',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let dataFrames = 0;
    let trailers = false;
    stream.on('data', () => dataFrames++);
    stream.on('trailers', () => {
      trailers = true;
    });
    stream.end(grpcFrame(Buffer.from('hi')));
    const [headers, flags, rawHeaders] = (await once(stream, 'response')) as [IncomingHttpHeaders, number, string[]];
    // HTTP/2 frame flags of the HEADERS frame: 0x1 END_STREAM.
    const endStream = (flags & 0x1) === 0x1;
    await once(stream, 'close');
    assert.equal(headers[':status'], 200);
    assert.match(String(headers['content-type']), /^application\/grpc/);
    assert.equal(headers['grpc-status'], '13');
    assert.equal(headers['grpc-message'], 'payment required');
    const www = wwwAuthenticate(rawHeaders);
    assert.equal(www.length, 2);
    assert.ok(challengeOf(www).macaroon.length > 0);
    assert.equal(endStream, true, 'the HEADERS frame carries END_STREAM (trailers-only)');
    assert.equal(dataFrames, 0);
    assert.equal(trailers, false);
    session.close();
  });

  test('gRPC bidirectional streaming with a paid token: interleaved messages both ways, trailers arrive', async () => {
    const c = grpcClient();
    const first = await unary(c, '/demo.Chat/Talk');
    const { macaroon, invoice } = challengeOf(first.error?.metadata.get('www-authenticate') as string[]);
    const preimage = await pay(invoice);
    const md = new grpc.Metadata();
    md.set('authorization', `L402 ${macaroon}:${preimage}`);
    const call = c.makeBidiStreamRequest('/demo.Chat/Talk', identity, identity, md);
    const replies: string[] = [];
    let trailer: grpc.Metadata | undefined;
    const status = new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('status', (s: grpc.StatusObject) => {
        trailer = s.metadata;
        resolve(s);
      });
      call.on('error', reject);
    });
    const next = (): Promise<string> => new Promise((resolve) => call.once('data', (b: Buffer) => resolve(b.toString())));
    // Each message is sent only after the previous reply arrived: the stream is truly interleaved.
    for (const word of ['one', 'two', 'three']) {
      const reply = next();
      call.write(Buffer.from(word));
      replies.push(await reply);
    }
    call.on('data', () => undefined);
    call.end();
    const s = await status;
    assert.deepEqual(replies, ['echo:one', 'echo:two', 'echo:three']);
    assert.equal(s.code, grpc.status.OK);
    assert.deepEqual(trailer?.get('x-chat-end'), ['bye']);
    c.close();
  });
});
