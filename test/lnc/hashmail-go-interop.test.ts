// The Go LNC code (lightning-node-connect's mailbox package, the one litd,
// litcli and lnc-web's WASM run) through our hashmail server, unchanged: the
// node side over gRPC (mailbox.NewServer, as litd) and the client side over
// gRPC and over WebSockets pair with a fresh pairing phrase (gbn, then the
// Noise XX handshake with the SPAKE2 mask) and echo 300 KB both ways; and our
// client (mailbox client, gbn, Noise: LncDialer) pairs with the Go node side
// alone, receives its auth data and has 200 KB echoed. The
// program (test/go/aperture/cmd/lnc-mailbox-peer) is built by
// scripts/build-go-tools.ts; without Go, or before it is built, this skips
// with the reason, except under CI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { LncDialer } from '../../src/lnc/lnc-dialer.js';
import { HashmailGrpcClient } from '../../src/lnc/mailbox-grpc-client.js';
import { pairingPhraseToEntropy } from '../../src/lnc/pairing-phrase.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { configFrom, quiet, removeDir, tempBaseDir } from '../e2e/support.js';
import { goBinaries, mustRun } from '../regtest/go-binaries.js';

const binaries = goBinaries(['lnc-mailbox-peer']);

/** Runs the peer; resolves with its JSON line and exit code. */
function runPeer(
  path: string,
  mailbox: string,
  transport: 'grpc' | 'ws',
  extra: string[] = [],
): Promise<{ code: number | null; line: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['-mailbox', mailbox, '-transport', transport, '-bytes', '300000', '-timeout', '60s', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, line: out.trim().split('\n').pop() ?? '', stderr: err.slice(-2000) }));
  });
}

describe('the Go LNC mailbox code through our hashmail server', { skip: binaries.ok || mustRun ? undefined : binaries.reason }, () => {
  let aperture: RunningAperture;
  let dir: string;
  before(async () => {
    if (!binaries.ok) assert.fail(`CI must run the LNC interop test: ${binaries.reason}`);
    dir = tempBaseDir('aperture-hashmail-go-');
    // TLS with the listener's self-signed certificate: the Go WebSocket transport dials wss:// only.
    const yaml =
      'listenaddr: 127.0.0.1:0\nauthenticator:\n  disable: true\nhashmail:\n  enabled: true\n  messagerate: 1ms\n  messageburstallowance: 1000\n';
    aperture = await startAperture(configFrom(yaml, dir), { store: new MemoryStore(), logger: quiet });
  });
  after(async () => {
    await aperture?.close();
    if (dir !== undefined) removeDir(dir);
  });

  for (const transport of ['grpc', 'ws'] as const) {
    test(`node side over gRPC, client side over ${transport === 'ws' ? 'WebSockets' : 'gRPC'}: paired, handshake done, 300 KB echoed`, async () => {
      assert.ok(binaries.ok);
      const peer = await runPeer(binaries.paths['lnc-mailbox-peer'], `127.0.0.1:${aperture.addresses.proxy.port}`, transport);
      assert.equal(peer.code, 0, `${peer.line}\n${peer.stderr}`);
      assert.deepEqual(JSON.parse(peer.line), { ok: true, bytes: 300000, transport });
      // The node side deletes its two streams when it stops (DelCipherBox).
      const metrics = (await aperture.metrics.render()).body;
      assert.match(metrics, /^hashmail_mailbox_count 0$/m);
    });
  }

  test(
    'our client with the Go node side alone: paired (XX, version 2), the auth data received, 200 KB echoed',
    { timeout: 90_000 },
    async () => {
      assert.ok(binaries.ok);
      const phrase = 'abandon ability able about above absent absorb abstract absurd abuse';
      const address = `127.0.0.1:${aperture.addresses.proxy.port}`;
      const peer = runPeer(binaries.paths['lnc-mailbox-peer'], address, 'grpc', [
        '-node-only',
        '-phrase',
        phrase,
        '-auth',
        'Macaroon: 0102',
        '-bytes',
        '200000',
      ]);
      const mailbox = new HashmailGrpcClient({ address, tls: { mode: 'skip-verify' }, retryWaitMs: 200 });
      const keys = { entropy: pairingPhraseToEntropy(phrase), localStaticSecret: randomBytes(32) };
      const dialer = new LncDialer({ mailbox, keys });
      try {
        const { stream, handshake } = await dialer.open();
        assert.equal(handshake.version, 2);
        assert.equal(handshake.persistRemote, true);
        assert.equal(handshake.authData.toString(), 'Macaroon: 0102');
        const sent = randomBytes(200_000);
        const got: Buffer[] = [];
        let length = 0;
        const echoed = new Promise<void>((resolve, reject) => {
          stream.on('data', (chunk: Buffer) => {
            got.push(chunk);
            length += chunk.length;
            if (length >= sent.length) resolve();
          });
          stream.on('error', reject);
        });
        stream.write(sent);
        // The peer exiting first (a failure, or its 60 s) ends the wait too.
        const exited = peer.then((done) => assert.fail(`the Go node side exited first: ${done.line}\n${done.stderr}`));
        await Promise.race([echoed, exited]);
        assert.deepEqual(Buffer.concat(got), sent);
        // Our close (gbn FIN) lets the node side, which waits for it, exit.
        stream.destroy();
        const done = await peer;
        assert.equal(done.code, 0, `${done.line}\n${done.stderr}`);
      } finally {
        dialer.close();
        mailbox.close();
      }
    },
  );
});
