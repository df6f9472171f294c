// Dynamic prices from the request body: the price server gets the request line, headers and
// the first 64 KiB of the body (as the reference); a free pass forwards the whole body intact.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { MAX_PRICER_BODY_BYTES } from '../../src/proxy/pricer/grpc-pricer.js';
import { h1, h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, removeDir, tempBaseDir, wwwAuthenticate } from './support.js';

// The reference's pricesrpc wire format, defined independently of the client.
const PRICES = `
syntax = "proto3";
package pricesrpc;
message GetPriceRequest { string path = 1; string http_request_text = 2; }
message GetPriceResponse { int64 price_sats = 1; }
service Prices { rpc GetPrice (GetPriceRequest) returns (GetPriceResponse); }
`;
const root = protobuf.parse(PRICES, { keepCase: true }).root;
const Prices = (
  grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String })) as unknown as {
    pricesrpc: { Prices: grpc.ServiceClientConstructor };
  }
).pricesrpc.Prices;

/** The body part of a request text: everything after the blank line. */
function bodyOf(text: string): string {
  const at = text.indexOf('\r\n\r\n');
  return at < 0 ? '' : text.slice(at + 4);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('dynamic price from the request body', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const priceServer = new grpc.Server();
  const asked: string[] = [];

  const baseDir = tempBaseDir();
  before(async () => {
    // Prices by a JSON field at the start of the body: {"tier":"free",…} is free, {"units":N} costs N.
    priceServer.addService(Prices.service, {
      GetPrice: (call: grpc.ServerUnaryCall<{ path: string; http_request_text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const text = call.request.http_request_text;
        asked.push(text);
        const body = bodyOf(text);
        if (/^\{"tier":"free"/.test(body)) return cb(null, { price_sats: '0' });
        const units = /^\{"units":(\d+)\}$/.exec(body);
        cb(null, { price_sats: units === null ? '1000' : units[1] });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      priceServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    backend = await startBackend((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sha256: hash.digest('hex'), length }));
      });
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: priced
    hostregexp: '.*'
    address: ${backend.address}
    dynamicprice:
      enabled: true
      grpcaddress: 127.0.0.1:${port}
      insecure: true
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    await aperture.close();
    priceServer.forceShutdown();
    await backend.close();
    removeDir(baseDir);
  });

  test('a JSON field in the body sets the price: {"units":7} → 402 for 7 sats, body seen by the pricer', async () => {
    asked.length = 0;
    const res = await h1(`${aperture.url}/v1/job`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"units":7}',
    });
    assert.equal(res.status, 402);
    assert.match(challengeOf(wwwAuthenticate(res.rawHeaders)).invoice, /^lnbcrt70n1/);
    assert.equal(asked.length, 1);
    assert.match(asked[0] as string, /^POST \/v1\/job HTTP\/1\.1\r\n/);
    assert.equal(bodyOf(asked[0] as string), '{"units":7}');
    const pending = await aperture.store.listPendingUnexpired(Date.now());
    assert.ok(pending.some((row) => row.priceSats === 7));
  });

  test('free pass with a small body: forwarded byte for byte', async () => {
    const body = Buffer.from('{"tier":"free","note":"hello"}');
    const res = await h1(`${aperture.url}/v1/job`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { sha256: sha(body), length: body.length });
  });

  test('free pass with a 1 MiB chunked body: the pricer gets exactly 64 KiB, the backend gets every byte', async () => {
    asked.length = 0;
    const head = Buffer.from('{"tier":"free","pad":"');
    const payload = Buffer.concat([head, Buffer.from(randomBytes(768 * 1024).toString('base64')), Buffer.from('"}')]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${aperture.url}/v1/upload`);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      // Odd-sized chunks (chunked encoding), so that the 64 KiB limit falls inside one of them.
      let at = 0;
      const next = (): void => {
        while (at < payload.length) {
          const piece = payload.subarray(at, at + 10_007);
          at += piece.length;
          if (!req.write(piece)) {
            req.once('drain', next);
            return;
          }
        }
        req.end();
      };
      next();
    });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { sha256: sha(payload), length: payload.length });
    assert.equal(asked.length, 1);
    const seen = Buffer.from(bodyOf(asked[0] as string), 'utf8');
    assert.equal(seen.length, MAX_PRICER_BODY_BYTES);
    assert.ok(seen.equals(payload.subarray(0, MAX_PRICER_BODY_BYTES)));
  });

  test('free pass over h2c with a 3 MB body: the backend gets every byte', async () => {
    const payload = Buffer.concat([Buffer.from('{"tier":"free","data":"'), randomBytes(3 * 1024 * 1024), Buffer.from('"}')]);
    const session = await h2Session(aperture.url);
    const stream = session.request({ ':method': 'POST', ':path': '/v1/upload' });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const [[headers]] = (await Promise.all([once(stream, 'response'), new Promise<void>((resolve) => stream.end(payload, resolve))])) as [
      [Record<string, unknown>],
      void,
    ];
    await once(stream, 'end');
    session.close();
    assert.equal(headers[':status'], 200);
    assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString()), { sha256: sha(payload), length: payload.length });
  });

  test('no body: the pricer gets the head only; over 64 KiB of non-free body → 402', async () => {
    asked.length = 0;
    const get = await h1(`${aperture.url}/v1/job`);
    assert.equal(get.status, 402);
    assert.equal(bodyOf(asked[0] as string), '');
    const big = await h1(`${aperture.url}/v1/job`, { method: 'POST', body: Buffer.alloc(200 * 1024, 0x61) });
    assert.equal(big.status, 402);
    assert.match(challengeOf(wwwAuthenticate(big.rawHeaders)).invoice, /^lnbcrt10u1/);
  });
});
