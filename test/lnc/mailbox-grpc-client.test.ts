// The LNC mailbox client connection over gRPC against our hashmail server on
// the program's TLS listener (its self-signed certificate): the node side's
// transport creating both streams, the client's opened first and retrying
// `stream not found` until they exist, packets both ways in order and one
// mailbox message per packet; a mailbox restart survived by retrying (the
// streams created again); the certificate verified, skipped (devserver) or
// refused; closing rejects the pending receive.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { HashmailGrpcClient, type MailboxGrpcTransport, type MailboxTls } from '../../src/lnc/mailbox-grpc-client.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { configFrom, deferCleanup, quiet, tempBaseDir, type CleanupScope } from '../e2e/support.js';

async function startMailbox(t: CleanupScope, port = 0, dir = tempBaseDir(t, 'aperture-mailbox-client-')) {
  const yaml =
    `listenaddr: 127.0.0.1:${port}\nauthenticator:\n  disable: true\n` +
    `hashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n`;
  const aperture: RunningAperture = await startAperture(configFrom(yaml, dir), { store: new MemoryStore(), logger: quiet });
  return { aperture, dir, port: aperture.addresses.proxy.port, ca: readFileSync(join(dir, 'tls.cert')) };
}

function client(t: CleanupScope, port: number, tls: MailboxTls): HashmailGrpcClient {
  const c = new HashmailGrpcClient({ address: `localhost:${port}`, tls, retryWaitMs: 100 });
  deferCleanup(t, () => c.close());
  return c;
}

const never = new AbortController().signal;
const within = (ms: number): AbortSignal => AbortSignal.timeout(ms);

/** Sends until the peer receives one (the first packets may be lost while a stream is not there yet). */
async function exchange(from: MailboxGrpcTransport, to: MailboxGrpcTransport, packet: Buffer): Promise<void> {
  const got = to.receive(within(10_000));
  const sending = setInterval(() => void from.send(packet, never).catch(() => {}), 150);
  try {
    assert.deepEqual(Buffer.from(await got), packet);
  } finally {
    clearInterval(sending);
  }
}

function pair(t: CleanupScope, clientSide: HashmailGrpcClient, nodeSide: HashmailGrpcClient) {
  const sid = randomBytes(64);
  const other = Buffer.from(sid);
  other[63] = (other[63] as number) ^ 1;
  const c = clientSide.transport({ send: other, receive: sid });
  const n = nodeSide.transport({ send: sid, receive: other, createStreams: true });
  deferCleanup(t, () => {
    c.close();
    n.close();
  });
  return { c, n };
}

describe('the gRPC mailbox client connection', () => {
  it('the client retries "stream not found" until the node side created the streams; packets then flow in order both ways', async (t) => {
    const { aperture, port, ca } = await startMailbox(t);
    deferCleanup(t, () => aperture.close());
    const clientSide = client(t, port, { mode: 'verify', ca });
    const nodeSide = client(t, port, { mode: 'verify', ca });
    const sid = randomBytes(64);
    const other = Buffer.from(sid);
    other[63] = (other[63] as number) ^ 1;
    const c = clientSide.transport({ send: other, receive: sid });
    deferCleanup(t, () => c.close());
    const first = c.receive(within(10_000));
    // Nobody created the streams yet: the client's receive stream fails and is retried.
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.ok(c.failures >= 2, `failures ${c.failures}`);
    const n = nodeSide.transport({ send: sid, receive: other, createStreams: true });
    deferCleanup(t, () => n.close());
    await n.send(Buffer.from('hello'), never);
    assert.equal(Buffer.from(await first).toString(), 'hello');
    // Client → node: its send stream opens now that the stream exists.
    await exchange(c, n, Buffer.from('syn'));
    // In order, one message per packet, sizes preserved (an empty one too, and 1 MiB).
    const packets = [Buffer.alloc(0), randomBytes(1024 * 1024), ...Array.from({ length: 50 }, (_, i) => Buffer.from(`p${i}`))];
    const received = Promise.all(packets.map(() => n.receive(within(10_000))));
    for (const p of packets) void c.send(p, never);
    assert.deepEqual(
      (await received).map((p) => Buffer.from(p)),
      packets,
    );
    const back = Promise.all(packets.map(() => c.receive(within(10_000))));
    await Promise.all(packets.map((p) => n.send(p, never)));
    assert.deepEqual(
      (await back).map((p) => Buffer.from(p)),
      packets,
    );
  });

  it('a mailbox restart: both sides retry, the node side creates the streams again, and packets flow again', async (t) => {
    const first = await startMailbox(t);
    const clientSide = client(t, first.port, { mode: 'skip-verify' });
    const nodeSide = client(t, first.port, { mode: 'skip-verify' });
    const { c, n } = pair(t, clientSide, nodeSide);
    await exchange(n, c, Buffer.from('before'));
    await exchange(c, n, Buffer.from('up'));
    const failures = n.failures;
    await first.aperture.close();
    const second = await startMailbox(t, first.port, first.dir);
    deferCleanup(t, () => second.aperture.close());
    await exchange(n, c, Buffer.from('after'));
    await exchange(c, n, Buffer.from('again'));
    assert.ok(n.failures > failures, 'the node side saw its streams fail');
  });

  it('a certificate that does not verify is refused (nothing arrives), and close rejects the pending receive', async (t) => {
    const { aperture, port } = await startMailbox(t);
    deferCleanup(t, () => aperture.close());
    const other = await startMailbox(t);
    await other.aperture.close();
    const wrongCa = other.ca;
    const c = client(t, port, { mode: 'verify', ca: wrongCa }).transport({ send: randomBytes(64), receive: randomBytes(64) });
    const pending = c.receive(never);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(c.failures >= 1);
    c.close();
    await assert.rejects(pending, { code: 'L402_ERR_LNC_CONNECTION_CLOSED' });
    await assert.rejects(c.receive(never), { code: 'L402_ERR_LNC_CONNECTION_CLOSED' });
    await assert.rejects(c.send(Buffer.from('x'), never), { code: 'L402_ERR_LNC_CONNECTION_CLOSED' });
  });
});
