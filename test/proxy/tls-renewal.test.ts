// The self-signed certificate is renewed at half of its validity (as the reference does), at
// start-up and while running (hot-swapped); a certificate aperture did not create is never
// replaced, only reported near and after its expiry.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'selfsigned';
import { startAperture } from '../../src/app/start-aperture.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { ProxyServer } from '../../src/proxy/server/proxy-server.js';
import {
  SELF_SIGNED_ORGANIZATION,
  certificateEvents,
  ensureTlsCertificate,
  renewalTime,
  type TlsCertificateEvent,
} from '../../src/proxy/server/tls-certificate.js';
import { configFrom } from '../e2e/support.js';
import { h2 } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

const DAY = 86_400_000;
const at = (ms: number) => new TestClock(ms);

/** The promise's value, or a rejection after `ms` (so that the test's cleanup still runs). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'aperture-tls-renewal-'));
}

/** The certificate a TLS client is shown on a fresh connection. */
async function servedCertificate(port: number): Promise<X509Certificate> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  await once(socket, 'secureConnect');
  const raw = socket.getPeerX509Certificate();
  socket.destroy();
  assert.ok(raw !== undefined);
  return raw;
}

/** A certificate aperture did not create (no organization of its own), valid from `from` to `to`. */
async function operatorPair(from: number, to: number): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: 'operator.example' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(from),
    notAfterDate: new Date(to),
  });
  return { cert: pems.cert, key: pems.private };
}

test('start-up: a self-signed pair past half of its validity, or expired, is replaced; one before half is kept', async () => {
  const dir = tempDir();
  try {
    const now = Date.now();
    const old = await ensureTlsCertificate(dir, { clock: at(now - 200 * DAY) });
    assert.equal(old.created, true);
    assert.equal(old.selfSigned, true);
    assert.match(new X509Certificate(old.cert).subject, new RegExp(`O=${SELF_SIGNED_ORGANIZATION}`));
    assert.ok(Math.abs(renewalTime(old) - (now - 200 * DAY + 182.5 * DAY)) < 2 * 60_000);

    // 200 of 365 days gone: renewed, with a new key, on disk.
    const renewed = await ensureTlsCertificate(dir);
    assert.equal(renewed.renewed, true);
    assert.notEqual(renewed.cert, old.cert);
    assert.notEqual(renewed.key, old.key);
    assert.equal(renewed.previousNotAfter, old.notAfter);
    assert.ok(renewed.notAfter > now + 364 * DAY);
    assert.equal(readFileSync(join(dir, 'tls.cert'), 'utf8'), renewed.cert);
    assert.equal(readFileSync(join(dir, 'tls.key'), 'utf8'), renewed.key);
    assert.equal(statSync(join(dir, 'tls.key')).mode & 0o777, 0o600);
    assert.deepEqual(
      certificateEvents(renewed).map((e) => e.kind),
      ['renewed'],
    );

    // 100 days later (before half): kept.
    const kept = await ensureTlsCertificate(dir, { clock: at(now + 100 * DAY) });
    assert.equal(kept.renewed, false);
    assert.equal(kept.cert, renewed.cert);
    assert.deepEqual(certificateEvents(kept, { clock: at(now + 100 * DAY) }), []);

    // Two years later (expired): replaced.
    const later = now + 730 * DAY;
    const again = await ensureTlsCertificate(dir, { clock: at(later) });
    assert.equal(again.renewed, true);
    assert.ok(again.notAfter > later);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('start-up: a self-signed certificate whose key does not match is replaced', async () => {
  const dir = tempDir();
  try {
    const first = await ensureTlsCertificate(dir);
    const other = tempDir();
    const second = await ensureTlsCertificate(other);
    rmSync(other, { recursive: true, force: true });
    writeFileSync(join(dir, 'tls.key'), second.key);
    const fixed = await ensureTlsCertificate(dir);
    assert.equal(fixed.renewed, true);
    assert.notEqual(fixed.cert, first.cert);
    assert.ok(new X509Certificate(fixed.cert).checkPrivateKey(createPrivateKey(fixed.key)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("start-up: an operator's certificate is never replaced, even expired; it is reported near and after its expiry", async () => {
  const dir = tempDir();
  try {
    const now = Date.now();
    const pair = await operatorPair(now - 400 * DAY, now - DAY);
    writeFileSync(join(dir, 'tls.cert'), pair.cert);
    writeFileSync(join(dir, 'tls.key'), pair.key, { mode: 0o600 });
    const expired = await ensureTlsCertificate(dir);
    assert.equal(expired.selfSigned, false);
    assert.equal(expired.renewed, false);
    assert.equal(expired.cert, pair.cert);
    assert.equal(readFileSync(join(dir, 'tls.cert'), 'utf8'), pair.cert);
    assert.deepEqual(
      certificateEvents(expired).map((e) => e.kind),
      ['expired'],
    );
    // 10 days before its end: expiring; 60 days before: nothing.
    assert.deepEqual(
      certificateEvents(expired, { clock: at(expired.notAfter - 10 * DAY) }).map((e) => e.kind),
      ['expiring'],
    );
    assert.deepEqual(certificateEvents(expired, { clock: at(expired.notAfter - 60 * DAY) }), []);
    // Its key must match it: an operator's mismatched pair is refused, not replaced.
    const stranger = await operatorPair(now, now + 100 * DAY);
    writeFileSync(join(dir, 'tls.key'), stranger.key);
    await assert.rejects(ensureTlsCertificate(dir), { code: 'L402_ERR_PROXY_TLS_CERT' });
    assert.equal(readFileSync(join(dir, 'tls.cert'), 'utf8'), pair.cert);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'while running: a short-lived self-signed certificate is renewed at half-life and hot-swapped; open connections keep working',
  { timeout: 20_000 },
  async () => {
    const dir = tempDir();
    const events: TlsCertificateEvent[] = [];
    let renewed!: (event: TlsCertificateEvent) => void;
    const renewal = new Promise<TlsCertificateEvent>((resolve) => (renewed = resolve));
    const server = new ProxyServer({
      handler: new Proxy(),
      listenAddr: '127.0.0.1:0',
      baseDir: dir,
      certificate: {
        validityMs: 6000,
        onEvent: (event) => {
          events.push(event);
          if (event.kind === 'renewed') renewed(event);
        },
      },
    });
    const { port } = await server.listen();
    try {
      assert.deepEqual(
        events.map((e) => e.kind),
        ['created'],
      );
      const first = await servedCertificate(port);
      assert.equal(first.raw.toString('base64'), new X509Certificate(readFileSync(join(dir, 'tls.cert'))).raw.toString('base64'));
      const session = http2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
      session.on('error', () => undefined);
      await once(session, 'connect');

      const event = await within(renewal, 10_000, 'renewal');
      assert.equal(event.kind, 'renewed');
      const second = await servedCertificate(port);
      assert.notEqual(second.serialNumber, first.serialNumber);
      assert.equal(second.raw.toString('base64'), new X509Certificate(readFileSync(join(dir, 'tls.cert'))).raw.toString('base64'));
      // The session opened before the swap still answers.
      assert.equal((await h2(session, { ':path': '/nothing' })).headers[':status'], 404);
      session.close();
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("while running: an operator's certificate entering its last 30 days is reported, not replaced", { timeout: 20_000 }, async () => {
  const dir = tempDir();
  try {
    const now = Date.now();
    const pair = await operatorPair(now - DAY, now + 40 * DAY);
    writeFileSync(join(dir, 'tls.cert'), pair.cert);
    writeFileSync(join(dir, 'tls.key'), pair.key, { mode: 0o600 });
    const notAfter = Date.parse(new X509Certificate(pair.cert).validTo);
    // The clock says the warning window opens in about 1.5 s.
    const offset = notAfter - 30 * DAY - 1500 - Date.now();
    const events: TlsCertificateEvent[] = [];
    let warned!: () => void;
    const warning = new Promise<void>((resolve) => (warned = resolve));
    const server = new ProxyServer({
      handler: new Proxy(),
      listenAddr: '127.0.0.1:0',
      baseDir: dir,
      certificate: {
        clock: { now: () => Date.now() + offset },
        onEvent: (event) => {
          events.push(event);
          if (event.kind === 'expiring') warned();
        },
      },
    });
    const { port } = await server.listen();
    try {
      assert.equal(events.length, 0, 'nothing to say at start: 30 days and more are left');
      await within(warning, 10_000, 'expiry warning');
      assert.deepEqual(
        events.map((e) => e.kind),
        ['expiring'],
      );
      assert.equal(readFileSync(join(dir, 'tls.cert'), 'utf8'), pair.cert);
      assert.equal((await servedCertificate(port)).serialNumber, new X509Certificate(pair.cert).serialNumber);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startAperture renews a self-signed certificate past half-life at start-up and says so in the log', async () => {
  const dir = tempDir();
  try {
    const old = await ensureTlsCertificate(dir, { clock: at(Date.now() - 300 * DAY) });
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
        callback();
      },
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
authenticator:
  disable: true
`,
      dir,
    );
    const aperture = await startAperture(config, { logger: createLogger('info', sink), gcIntervalMs: 0, defaultMetrics: false });
    try {
      const line = lines.find((l) => l['msg'] === 'TLS certificate renewed (self-signed, past half of its validity)');
      assert.ok(line !== undefined, JSON.stringify(lines));
      assert.equal(line['previousNotAfter'], new Date(old.notAfter).toISOString());
      const served = await servedCertificate(aperture.addresses.proxy.port);
      assert.notEqual(served.serialNumber, new X509Certificate(old.cert).serialNumber);
      assert.ok(Date.parse(served.validTo) > Date.now() + 364 * DAY);
    } finally {
      await aperture.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
