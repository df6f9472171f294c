// issue 14 item 14: a refused credential says why, through the `aperture` pipeline on real
// sockets. HTTP/1.1: `error="<reason>"` after macaroon and invoice on both challenge lines, the
// code in the body; gRPC: the code in grpc-message and the parameter in the trailers. Each
// refusal is counted by reason in /metrics and logged at debug with the token ID, no secret.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { h1, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

const identity = (b: Buffer): Buffer => b;

interface Token {
  authorization: string;
  macaroon: string;
  preimage: string;
  tokenId: string;
}

describe('aperture says why a credential was refused', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const grpcBackend = new grpc.Server();
  const clock = new TestClock(Date.now());
  const baseDir = tempBaseDir();
  const logLines: Record<string, unknown>[] = [];
  let logText = '';
  /** Every credential the tests send, none of which may reach a log line. */
  const secrets: string[] = [];

  before(async () => {
    grpcBackend.addService(
      {
        Get: {
          path: '/demo.Q/Get',
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      { Get: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('q')) },
    );
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcBackend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString();
        for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
prometheus:
  enabled: true
  listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: grpcsvc
    hostregexp: '.*'
    pathregexp: '^/demo\\.Q/'
    address: 127.0.0.1:${grpcPort}
    price: 4
    timeout: 60
  - name: other
    hostregexp: '.*'
    pathregexp: '^/other'
    address: ${backend.address}
    price: 2
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 3
    timeout: 60
    authskipinvoicecreationpaths: ['^/stream']
`,
      baseDir,
    );
    aperture = await startAperture(config, {
      logger: createLogger('debug', sink),
      clock,
      gcIntervalMs: 0,
      defaultMetrics: false,
      challengeRateLimit: false,
    });
  });

  after(async () => {
    await aperture.close();
    grpcBackend.forceShutdown();
    await backend.close();
    rmSync(baseDir, { recursive: true, force: true });
  });

  function tokenOf(macaroon: string, preimage: string): Token {
    const mac = Macaroon.fromBase64(macaroon);
    secrets.push(macaroon, preimage, Buffer.from(mac.signature).toString('hex'), Buffer.from(mac.signature).toString('base64'));
    return {
      authorization: `L402 ${macaroon}:${preimage}`,
      macaroon,
      preimage,
      tokenId: Buffer.from(decodeIdentifier(mac.identifier).tokenId).toString('hex'),
    };
  }

  async function buy(path: string): Promise<Token> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402);
    const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
    return tokenOf(macaroon, (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice)).preimage);
  }

  /** The request's 402: both challenge lines in the reference form plus `error="<reason>"`, the code in the body. */
  async function expectRefused(path: string, authorization: string | string[], reason: string, code: string): Promise<void> {
    // Two Authorization fields go as a raw header list.
    const headers = typeof authorization === 'string' ? { authorization } : authorization.flatMap((value) => ['Authorization', value]);
    const res = await h1(`${aperture.url}${path}`, { headers });
    assert.equal(res.status, 402, `${reason}: ${res.body}`);
    assert.equal(res.body, `payment required (${code})\n`);
    const lines = wwwAuthenticate(res.rawHeaders);
    assert.equal(lines.length, 2);
    assert.match(lines[0] as string, new RegExp(`^LSAT macaroon="[A-Za-z0-9+/=]+", invoice="lnbcrt[0-9a-z]+", error="${reason}"$`));
    assert.match(lines[1] as string, new RegExp(`^L402 macaroon="[A-Za-z0-9+/=]+", invoice="lnbcrt[0-9a-z]+", error="${reason}"$`));
    // The reference client's regexp still finds the fresh macaroon and invoice.
    const m = /(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/.exec(lines[0] as string);
    assert.deepEqual([m?.[2], m?.[3]], [challengeOf(lines).macaroon, challengeOf(lines).invoice]);
  }

  async function refusalsMetric(): Promise<string> {
    return (await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/metrics`)).body;
  }

  test('HTTP/1.1: each reason on the challenge, in the body, in /metrics and in a debug line with the token ID', async () => {
    const first = await h1(`${aperture.url}/v1`);
    assert.equal(first.body, 'payment required\n');
    for (const line of wwwAuthenticate(first.rawHeaders)) assert.doesNotMatch(line, /error=/);

    secrets.push('L402 bm90LWEtbWFjYXJvb24:zz');
    await expectRefused('/v1', 'L402 bm90LWEtbWFjYXJvb24:zz', 'malformed', 'L402_ERR_TOKEN_MALFORMED');
    const a = await buy('/v1');
    const b = await buy('/v1');
    await expectRefused('/v1', [a.authorization, b.authorization], 'conflicting', 'L402_ERR_TOKEN_CONFLICTING');
    secrets.push('ab'.repeat(32));
    await expectRefused('/v1', `L402 ${a.macaroon}:${'ab'.repeat(32)}`, 'bad_preimage', 'L402_ERR_TOKEN_BAD_PREIMAGE');
    const bytes = Macaroon.fromBase64(a.macaroon).toBinary();
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    const forged = Buffer.from(bytes).toString('base64');
    secrets.push(forged);
    await expectRefused('/v1', `L402 ${forged}:${a.preimage}`, 'bad_signature', 'L402_ERR_TOKEN_BAD_SIGNATURE');
    const widened = Macaroon.fromBase64(a.macaroon).withFirstPartyCaveat('services=api:0,other:0');
    secrets.push(widened.toBase64(), Buffer.from(widened.signature).toString('hex'));
    await expectRefused('/v1', `L402 ${widened.toBase64()}:${a.preimage}`, 'bad_caveat', 'L402_ERR_TOKEN_CAVEAT_WIDENED');
    await expectRefused('/other', a.authorization, 'wrong_service', 'L402_ERR_TOKEN_WRONG_SERVICE');
    assert.equal(await aperture.store.revokeToken(b.tokenId), true);
    await expectRefused('/v1', b.authorization, 'revoked', 'L402_ERR_TOKEN_REVOKED');
    assert.equal((await h1(`${aperture.url}/v1`, { headers: { authorization: a.authorization } })).status, 200);
    clock.advance(61_000);
    await expectRefused('/v1', a.authorization, 'expired', 'L402_ERR_TOKEN_EXPIRED');

    // A skip-invoice path answers 401 naming the code.
    const skip = await h1(`${aperture.url}/stream`, { headers: { authorization: a.authorization } });
    assert.equal(skip.status, 401);
    assert.equal(skip.body, 'unauthorized (L402_ERR_TOKEN_EXPIRED)\n');
    assert.equal((await h1(`${aperture.url}/stream`)).body, 'unauthorized\n');

    const metrics = await refusalsMetric();
    for (const [service, reason, count] of [
      ['api', 'malformed', 1],
      ['api', 'conflicting', 1],
      ['api', 'bad_preimage', 1],
      ['api', 'bad_signature', 1],
      ['api', 'bad_caveat', 1],
      ['other', 'wrong_service', 1],
      ['api', 'revoked', 1],
      ['api', 'expired', 2],
    ] as const) {
      assert.match(
        metrics,
        new RegExp(`^aperture_credential_refusals_total\\{service="${service}",reason="${reason}"\\} ${count}$`, 'm'),
        `${service} ${reason}`,
      );
    }
    // A request without a credential is not a refusal.
    assert.doesNotMatch(metrics, /reason="missing"/);

    const refused = logLines.filter((l) => l['msg'] === 'credential refused');
    const seen = refused.map((l) => [l['service'], l['reason'], l['code'], l['tokenId']]);
    assert.deepEqual(seen, [
      ['api', 'malformed', 'L402_ERR_TOKEN_MALFORMED', undefined],
      ['api', 'conflicting', 'L402_ERR_TOKEN_CONFLICTING', undefined],
      ['api', 'bad_preimage', 'L402_ERR_TOKEN_BAD_PREIMAGE', a.tokenId],
      ['api', 'bad_signature', 'L402_ERR_TOKEN_BAD_SIGNATURE', a.tokenId],
      ['api', 'bad_caveat', 'L402_ERR_TOKEN_CAVEAT_WIDENED', a.tokenId],
      ['other', 'wrong_service', 'L402_ERR_TOKEN_WRONG_SERVICE', a.tokenId],
      ['api', 'revoked', 'L402_ERR_TOKEN_REVOKED', b.tokenId],
      ['api', 'expired', 'L402_ERR_TOKEN_EXPIRED', a.tokenId],
      ['api', 'expired', 'L402_ERR_TOKEN_EXPIRED', a.tokenId],
    ]);
    for (const line of refused) assert.equal(line['level'], 20, 'debug level');
  });

  test('gRPC: the code in grpc-message, the reason in the trailers, the first challenge unchanged', async () => {
    const client = new grpc.Client(`127.0.0.1:${aperture.addresses.proxy.port}`, grpc.credentials.createInsecure());
    const call = (authorization?: string): Promise<grpc.ServiceError | null> => {
      const md = new grpc.Metadata();
      if (authorization !== undefined) md.set('authorization', authorization);
      return new Promise((resolve) => client.makeUnaryRequest('/demo.Q/Get', identity, identity, Buffer.from('x'), md, (e) => resolve(e)));
    };
    const expectRefused = async (authorization: string, reason: string, code: string): Promise<void> => {
      const error = await call(authorization);
      assert.equal(error?.code, grpc.status.INTERNAL);
      // The reference's Go client detects `payment required` within the message.
      assert.equal(error.details, `payment required (${code})`);
      const values = error.metadata.get('www-authenticate').map(String).join(', ');
      assert.match(values, new RegExp(`LSAT macaroon="[^"]+", invoice="[^"]+", error="${reason}"`));
      assert.match(values, new RegExp(`L402 macaroon="[^"]+", invoice="[^"]+", error="${reason}"`));
    };
    try {
      const first = await call();
      assert.equal(first?.details, 'payment required');
      assert.doesNotMatch(first.metadata.get('www-authenticate').map(String).join(', '), /error=/);
      const { macaroon, invoice } = challengeOf(first.metadata.get('www-authenticate') as string[]);
      const paid = tokenOf(macaroon, (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice)).preimage);
      await expectRefused('L402 bm90LWEtbWFjYXJvb24:zz', 'malformed', 'L402_ERR_TOKEN_MALFORMED');
      await expectRefused(`L402 ${macaroon}:${'cd'.repeat(32)}`, 'bad_preimage', 'L402_ERR_TOKEN_BAD_PREIMAGE');
      assert.equal(await call(paid.authorization), null);
      clock.advance(61_000);
      await expectRefused(paid.authorization, 'expired', 'L402_ERR_TOKEN_EXPIRED');
      const other = await call();
      const second = challengeOf(other?.metadata.get('www-authenticate') as string[]);
      const revoked = tokenOf(second.macaroon, (await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(second.invoice)).preimage);
      await aperture.store.revokeToken(revoked.tokenId);
      await expectRefused(revoked.authorization, 'revoked', 'L402_ERR_TOKEN_REVOKED');
      secrets.push('cd'.repeat(32));
    } finally {
      client.close();
    }
    const metrics = await refusalsMetric();
    assert.match(metrics, /^aperture_credential_refusals_total\{service="grpcsvc",reason="expired"\} 1$/m);
    assert.match(metrics, /^aperture_credential_refusals_total\{service="grpcsvc",reason="revoked"\} 1$/m);
  });

  test('no credential reaches the log, only token IDs', () => {
    assert.ok(logLines.some((l) => l['msg'] === 'credential refused' && l['service'] === 'grpcsvc'));
    const lower = logText.toLowerCase();
    for (const secret of secrets) {
      assert.equal(lower.includes(secret.toLowerCase()), false, `a credential (${secret.slice(0, 12)}…) appears in the log`);
      if (secret.length > 64)
        assert.equal(lower.includes(secret.slice(-48).toLowerCase()), false, `a credential tail (${secret.slice(-12)}) appears in the log`);
    }
  });
});
