// The Noise stream of Lightning Node Connect over in-memory message transports:
// the handshake in both patterns, large streams echoed both ways (also when the
// peer's bytes arrive cut and joined anywhere), backpressure, the refusals (a
// wrong phrase, a silent peer) and closes (orderly, mid-message, failed transport).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { L402Error } from '../../src/core/errors.js';
import { encodeMsgData } from '../../src/lnc/framing.js';
import { openNoiseStream, type NoiseConnection, type NoiseStreamOptions } from '../../src/lnc/noise-stream.js';
import { publicKeyOf } from '../../src/lnc/secp256k1.js';
import { messagePipe, type MessagePipeOptions, type PipeEnd } from '../fixtures/lnc-message-pipe.js';

const clientKey = randomBytes(32);
const nodeKey = randomBytes(32);
const secret = createHash('sha256').update('a stretched pairing secret').digest();
const AUTH = Buffer.from('Macaroon: 0201036c6e64');

interface Pair {
  client: NoiseConnection;
  node: NoiseConnection;
  a: PipeEnd;
  b: PipeEnd;
}

async function connect(
  pipe: MessagePipeOptions = {},
  client: Partial<NoiseStreamOptions> = {},
  node: Partial<NoiseStreamOptions> = {},
): Promise<Pair> {
  const [a, b] = messagePipe(pipe);
  const [c, n] = await Promise.all([
    openNoiseStream(a, { initiator: true, localStaticSecret: clientKey, pairingSecret: secret, ...client }),
    openNoiseStream(b, { initiator: false, localStaticSecret: nodeKey, pairingSecret: secret, authData: AUTH, ...node }),
  ]);
  return { client: c, node: n, a, b };
}

/** Reads a stream until it has `length` bytes, leaving it open. */
function readBytes(stream: Duplex, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got < length) return;
      stream.off('data', onData);
      stream.off('error', reject);
      resolve(Buffer.concat(parts));
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

function echo(stream: Duplex): void {
  stream.on('data', (chunk: Buffer) => {
    if (!stream.write(chunk)) {
      stream.pause();
      stream.once('drain', () => stream.resume());
    }
  });
}

function writeAll(stream: Duplex, data: Buffer): void {
  // Writes of odd sizes, as HTTP/2 frames are.
  for (let offset = 0; offset < data.length; offset += 10_007) stream.write(data.subarray(offset, offset + 10_007));
}

function codeOf(error: unknown): string | undefined {
  return error instanceof L402Error ? error.code : undefined;
}

test('XX pairing: both sides agree on version 2, learn each other’s key, the client gets the auth data', async () => {
  const { client, node } = await connect();
  assert.equal(client.handshake.version, 2);
  assert.equal(node.handshake.version, 2);
  assert.deepEqual(client.handshake.remoteStatic, publicKeyOf(nodeKey));
  assert.deepEqual(node.handshake.remoteStatic, publicKeyOf(clientKey));
  assert.equal(client.handshake.persistRemote, true);
  assert.deepEqual(client.handshake.authData, AUTH);
  client.stream.destroy();
  node.stream.destroy();
});

test('a large stream is echoed both ways, byte for byte (XX and KK)', async () => {
  for (const kk of [false, true]) {
    const keys = kk
      ? { client: { remoteStatic: publicKeyOf(nodeKey) }, node: { remoteStatic: publicKeyOf(clientKey) } }
      : { client: {}, node: {} };
    const { client, node, a } = await connect({}, keys.client, keys.node);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    echo(node.stream);
    const back = readBytes(client.stream, data.length);
    writeAll(client.stream, data);
    assert.ok((await back).equals(data), kk ? 'KK' : 'XX');
    // 32 KiB bodies: one message per 32 KiB, plus the handshake.
    assert.ok(a.sent >= Math.ceil(data.length / (32 * 1024)), `${a.sent} messages`);
    client.stream.destroy();
    await once(node.stream, 'close');
  }
});

test('bytes cut and joined at random places by the transport are reassembled (a reference peer sends header and body apart)', async () => {
  for (const seed of [1, 7, 42]) {
    // The client's bytes to the node are re-cut after the two XX acts it sends.
    const { client, node } = await connect({ recutAfter: 2, seed, maxCut: 50_000 });
    const data = randomBytes(1024 * 1024 + 3);
    const got = readBytes(node.stream, data.length);
    writeAll(client.stream, data);
    assert.ok((await got).equals(data), `seed ${seed}`);
    const reply = randomBytes(200_000);
    const back = readBytes(client.stream, reply.length);
    node.stream.write(reply);
    assert.ok((await back).equals(reply));
    client.stream.destroy();
    node.stream.destroy();
  }
});

test('property: any writes, cut and joined anywhere by the transport, arrive whole and in order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 64, max: 70_000 }),
      async (sizes, seed, maxCut) => {
        const { client, node } = await connect({ recutAfter: 2, seed, maxCut });
        const writes = sizes.map((size) => randomBytes(size));
        const data = Buffer.concat(writes);
        const got = data.length === 0 ? Promise.resolve(Buffer.alloc(0)) : readBytes(node.stream, data.length);
        for (const write of writes) client.stream.write(write);
        const received = await got;
        client.stream.destroy();
        node.stream.destroy();
        return received.equals(data);
      },
    ),
    { numRuns: 12 },
  );
});

test('a reader that stops reading holds the writer back instead of buffering without bound', async () => {
  const { client, node, b } = await connect({ capacity: 4 });
  node.stream.pause();
  const chunk = randomBytes(64 * 1024);
  const count = 100;
  const accepted = [...Array(count).keys()].map(() => client.stream.write(chunk));
  assert.equal(accepted[count - 1], false, 'the writer sees backpressure');
  const written = count * chunk.length;
  // Let the pipe fill up: the node's stream buffers about its high-water mark plus a message, the queue 4 messages.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(b.queued <= 4, `${b.queued} messages queued`);
  assert.ok(node.stream.readableLength <= 200 * 1024, `${node.stream.readableLength} bytes buffered`);
  assert.ok(client.stream.writableLength > 0, 'the rest waits on the writer');
  const all = readBytes(node.stream, written);
  node.stream.resume();
  assert.equal((await all).length, written);
  client.stream.destroy();
  node.stream.destroy();
});

test('a wrong pairing phrase is refused on both sides with coded errors, and both transports close', async () => {
  const [a, b] = messagePipe();
  const other = createHash('sha256').update('another phrase').digest();
  const [client, node] = await Promise.allSettled([
    openNoiseStream(a, { initiator: true, localStaticSecret: clientKey, pairingSecret: secret }),
    openNoiseStream(b, { initiator: false, localStaticSecret: nodeKey, pairingSecret: other, authData: AUTH }),
  ]);
  assert.equal(node.status, 'rejected');
  assert.equal(codeOf(node.status === 'rejected' ? node.reason : undefined), 'L402_ERR_LNC_HANDSHAKE_FAILED');
  assert.equal(client.status, 'rejected');
  // The node side closed the pipe after act 1: the client, waiting for act 2, learns it.
  assert.equal(codeOf(client.status === 'rejected' ? client.reason : undefined), 'L402_ERR_LNC_CONNECTION_CLOSED');
  assert.ok(a.closed && b.closed);
});

test('a stale key (KK with a key the node does not hold) is refused', async () => {
  const [a, b] = messagePipe();
  const results = await Promise.allSettled([
    openNoiseStream(a, { initiator: true, localStaticSecret: clientKey, remoteStatic: publicKeyOf(nodeKey) }),
    openNoiseStream(b, { initiator: false, localStaticSecret: nodeKey, remoteStatic: publicKeyOf(randomBytes(32)), authData: AUTH }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status === 'rejected' && codeOf(r.reason)),
    ['L402_ERR_LNC_CONNECTION_CLOSED', 'L402_ERR_LNC_HANDSHAKE_FAILED'],
  );
});

test('a silent peer times the handshake out (coded), closing the transport', async () => {
  const [a] = messagePipe();
  await assert.rejects(
    openNoiseStream(a, { initiator: true, localStaticSecret: clientKey, pairingSecret: secret, handshakeTimeoutMs: 30 }),
    (error: unknown) => codeOf(error) === 'L402_ERR_LNC_HANDSHAKE_TIMEOUT' && /act 2/.test((error as Error).message),
  );
  assert.ok(a.closed);
});

test('an act that is not a MsgData is refused', async () => {
  const [a, b] = messagePipe();
  const opening = openNoiseStream(b, { initiator: false, localStaticSecret: nodeKey, pairingSecret: secret, authData: AUTH });
  await a.send(Buffer.of(0, 0, 0));
  await assert.rejects(opening, (error: unknown) => codeOf(error) === 'L402_ERR_LNC_PACKET_MALFORMED');
});

test('the peer closing in order ends the stream after everything it sent', async () => {
  const { client, node } = await connect();
  const data = randomBytes(100_000);
  node.stream.end(data);
  await once(node.stream, 'finish');
  node.stream.destroy();
  const parts: Buffer[] = [];
  for await (const chunk of client.stream) parts.push(chunk as Buffer);
  assert.ok(Buffer.concat(parts).equals(data));
  assert.ok(client.stream.destroyed || (await once(client.stream, 'close')));
});

test('the peer closing in the middle of a message destroys the stream with a coded error', async () => {
  const { client, b } = await connect();
  // Half a Noise header, then the close.
  await b.send(encodeMsgData(Buffer.alloc(9)));
  b.close();
  const [error] = (await once(client.stream.resume(), 'error')) as [unknown];
  assert.equal(codeOf(error), 'L402_ERR_LNC_CONNECTION_CLOSED');
  assert.match((error as Error).message, /middle of an encrypted message/);
});

test('altered bytes destroy the stream with L402_ERR_LNC_DECRYPT_FAILED', async () => {
  const { client, b } = await connect();
  await b.send(encodeMsgData(randomBytes(18)));
  const [error] = (await once(client.stream.resume(), 'error')) as [unknown];
  assert.equal(codeOf(error), 'L402_ERR_LNC_DECRYPT_FAILED');
  assert.ok(b.closed, 'the transport is closed');
});

test('a failing transport destroys both streams with its error', async () => {
  const { client, node, a } = await connect();
  a.fail(new Error('no pong received'));
  const [clientError] = (await once(client.stream.resume(), 'error')) as [Error];
  assert.match(clientError.message, /no pong received/);
  const [nodeError] = (await once(node.stream.resume(), 'error')) as [Error];
  assert.match(nodeError.message, /no pong received/);
  assert.ok(client.stream.destroyed && node.stream.destroyed);
});

test('destroying a stream closes its transport, which the peer reads as an orderly end', async () => {
  const { client, node, a } = await connect();
  client.stream.destroy();
  assert.ok(a.closed);
  const parts: Buffer[] = [];
  for await (const chunk of node.stream) parts.push(chunk as Buffer);
  assert.equal(Buffer.concat(parts).length, 0);
});
