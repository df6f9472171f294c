// No credential ever reaches the logs: the whole flow at debuglevel trace, every line captured.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Macaroon } from '../../src/core/macaroon.js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { startAperture } from '../../src/app/start-aperture.js';
import { createLogger, type DebugLevel } from '../../src/proxy/ops/logger.js';
import { h1, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, tempBaseDir, wwwAuthenticate } from './support.js';

const identity = (b: Buffer): Buffer => b;

for (const level of ['trace', 'debug'] as DebugLevel[]) {
  test(`debuglevel ${level}: no macaroon, preimage or Authorization value in any log line; token ids may appear`, async (t) => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString();
        callback();
      },
    });
    const backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const grpcBackend = new grpc.Server();
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
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
debuglevel: ${level}
authenticator:
  backend: dev
services:
  - name: grpcsvc
    hostregexp: '.*'
    pathregexp: '^/demo\\.Q/'
    address: 127.0.0.1:${grpcPort}
    price: 4
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 3
`,
      tempBaseDir(t),
    );
    const aperture = await startAperture(config, { logger: createLogger(level, sink), gcIntervalMs: 0, defaultMetrics: false });
    const secrets: string[] = [];
    const tokenIds: string[] = [];
    try {
      // Challenge, pay through the dev endpoint, paid request.
      const first = await h1(`${aperture.url}/q`);
      assert.equal(first.status, 402);
      const { macaroon, invoice } = challengeOf(wwwAuthenticate(first.rawHeaders));
      const paid = await h1(`${aperture.url}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice }) });
      assert.equal(paid.status, 200, paid.body);
      const { preimage } = JSON.parse(paid.body) as { preimage: string };
      const authorization = `L402 ${macaroon}:${preimage}`;
      assert.equal((await h1(`${aperture.url}/q`, { headers: { authorization } })).status, 200);
      // A bad credential: right macaroon, wrong preimage; and a garbage one.
      const badPreimage = 'ab'.repeat(32);
      assert.equal((await h1(`${aperture.url}/q`, { headers: { authorization: `L402 ${macaroon}:${badPreimage}` } })).status, 402);
      const garbage = 'L402 bm90LWEtbWFjYXJvb24tYXQtYWxs:cd';
      assert.equal((await h1(`${aperture.url}/q`, { headers: { authorization: garbage } })).status, 402);

      // gRPC: challenged, paid, then called with the reference's hex `macaroon` metadata.
      const client = new grpc.Client(`127.0.0.1:${aperture.addresses.proxy.port}`, grpc.credentials.createInsecure());
      const call = (md: grpc.Metadata): Promise<grpc.ServiceError | null> =>
        new Promise((resolve) => client.makeUnaryRequest('/demo.Q/Get', identity, identity, Buffer.from('x'), md, (e) => resolve(e)));
      const denied = await call(new grpc.Metadata());
      assert.equal(denied?.details, 'payment required');
      const g = challengeOf(denied.metadata.get('www-authenticate') as string[]);
      const gPaid = await h1(`${aperture.url}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: g.invoice }) });
      const gPreimage = (JSON.parse(gPaid.body) as { preimage: string }).preimage;
      const gHex = Macaroon.fromBase64(g.macaroon).toHex();
      const md = new grpc.Metadata();
      md.set('macaroon', gHex);
      md.set('authorization', `L402 ${g.macaroon}:${gPreimage}`);
      assert.equal(await call(md), null);
      client.close();

      for (const m of [macaroon, g.macaroon]) {
        const mac = Macaroon.fromBase64(m);
        secrets.push(
          m,
          m.replace(/=+$/, ''),
          mac.toHex(),
          Buffer.from(mac.signature).toString('hex'),
          Buffer.from(mac.signature).toString('base64'),
        );
        tokenIds.push(Buffer.from(decodeIdentifier(mac.identifier).tokenId).toString('hex'));
      }
      secrets.push(preimage, gPreimage, badPreimage, authorization, garbage, 'bm90LWEtbWFjYXJvb24tYXQtYWxs', gHex);
    } finally {
      await aperture.close();
      grpcBackend.forceShutdown();
      await backend.close();
    }

    // The log is not empty: the flow was logged at this level, with payment hashes.
    assert.match(text, /"msg":"invoice settled"/);
    assert.match(text, /"msg":"aperture listening"/);
    const lower = text.toLowerCase();
    for (const secret of secrets) {
      assert.equal(lower.includes(secret.toLowerCase()), false, `a credential (${secret.slice(0, 12)}…) appears in the log`);
      // Also no long fragment of it (a truncated macaroon is still a leak of its signature-bearing tail).
      if (secret.length > 64)
        assert.equal(lower.includes(secret.slice(-48).toLowerCase()), false, `a credential tail (${secret.slice(-12)}) appears in the log`);
    }
    // Token ids are not secrets: a refused credential is logged at debug with its token ID and which check failed.
    assert.ok(tokenIds.length === 2);
    const refused = text
      .split('\n')
      .filter((l) => l.includes('"msg":"credential refused"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      refused.map((l) => [l['reason'], l['code'], l['tokenId']]),
      [
        ['bad_preimage', 'L402_ERR_TOKEN_BAD_PREIMAGE', tokenIds[0]],
        ['malformed', 'L402_ERR_TOKEN_MALFORMED', undefined],
      ],
    );
  });
}
