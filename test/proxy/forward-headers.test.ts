import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readCredential } from '../../src/core/credentials.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { upstreamHeaders, type UpstreamHeaderOptions } from '../../src/proxy/forward/forward-headers.js';
import { request } from '../core/support.js';

const base: UpstreamHeaderOptions = {
  clientIp: '127.0.0.1',
  proto: 'http',
  originalHost: 'proxy.example',
  backendHost: '10.0.0.2:8080',
  grpc: false,
  upgrade: false,
  inject: undefined,
  authorization: undefined,
};

function pairs(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}: ${flat[i + 1]}`);
  return out;
}

test('upstreamHeaders: a header named by a later Connection line is dropped too; order and duplicates of the rest are kept', () => {
  const raw = [
    'X-Early',
    'drop',
    'Accept',
    'a',
    'X-Dup',
    '1',
    'Connection',
    'X-Early, close',
    'X-Late',
    'drop',
    'X-Dup',
    '2',
    'connection',
    'x-late',
  ];
  assert.deepEqual(pairs(upstreamHeaders(raw, base)), [
    'Accept: a',
    'X-Dup: 1',
    'X-Dup: 2',
    'host: 10.0.0.2:8080',
    'x-forwarded-for: 127.0.0.1',
    'x-forwarded-proto: http',
    'x-forwarded-host: proxy.example',
  ]);
});

test('upstreamHeaders: WebSocket upgrades keep Connection and Upgrade, gRPC keeps te: trailers, even when Connection names them', () => {
  const ws = upstreamHeaders(['Upgrade', 'websocket', 'Connection', 'Upgrade, X-Gone', 'X-Gone', '1'], {
    ...base,
    upgrade: true,
    originalHost: '',
  });
  assert.deepEqual(pairs(ws), [
    'Upgrade: websocket',
    'Connection: Upgrade, X-Gone',
    'host: 10.0.0.2:8080',
    'x-forwarded-for: 127.0.0.1',
    'x-forwarded-proto: http',
  ]);
  const grpc = upstreamHeaders(['te', 'trailers', 'connection', 'te', ':path', '/x'], { ...base, grpc: true, originalHost: '' });
  assert.deepEqual(pairs(grpc).slice(0, 1), ['te: trailers']);
});

test("upstreamHeaders: the credential and injected headers replace the client's, whatever their case", () => {
  const raw = ['Authorization', 'LSAT a:b', 'x-api-key', 'client', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.3'];
  const inject = { 'X-Api-Key': 'ours' };
  const out = pairs(upstreamHeaders(raw, { ...base, authorization: ['LSAT m:p', 'L402 m:p'], inject }));
  assert.deepEqual(out, [
    'host: 10.0.0.2:8080',
    'x-forwarded-for: 10.0.0.1, 10.0.0.3, 127.0.0.1',
    'x-forwarded-proto: http',
    'x-forwarded-host: proxy.example',
    'authorization: LSAT m:p',
    'authorization: L402 m:p',
    'X-Api-Key: ours',
  ]);
  // The per-headers-object cache of injected names answers the same on reuse.
  assert.deepEqual(pairs(upstreamHeaders(raw, { ...base, authorization: ['LSAT m:p', 'L402 m:p'], inject })), out);
});

// A real macaroon (base64), so that the L402 elements below are credentials the verifier reads.
const MAC = Macaroon.fromParts('aperture', Buffer.alloc(66, 1), [], Buffer.alloc(32, 2)).toBase64();
const PRE = 'ab'.repeat(32);

function authorizationOf(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) if ((flat[i] as string).toLowerCase() === 'authorization') out.push(flat[i + 1] as string);
  return out;
}

test('upstreamHeaders without a verified credential: every L402/LSAT credential the verifier reads is taken out, other schemes stay', () => {
  const cases: Array<[string[], string[]]> = [
    [['Bearer x, L402 ' + `${MAC}:${PRE}`], ['Bearer x']],
    [['Bearer x,LSAT ' + `${MAC}:${PRE}`], ['Bearer x']],
    [[`, l402 ${MAC}:${PRE}`], []],
    [[`Basic YTpi, lsat ${MAC},${MAC}:${PRE} , Bearer y`], ['Basic YTpi, Bearer y']],
    [[`Digest username="a", realm="b", L402 ${MAC}:${PRE}`], ['Digest username="a", realm="b"']],
    [['Bearer x', `L402 ${MAC}:${PRE}`], ['Bearer x']],
    [[`\u00a0L402 ${MAC}:${PRE}, L402 ${MAC}:${PRE}`], [`\u00a0L402 ${MAC}:${PRE}`]],
  ];
  for (const [values, expected] of cases) {
    const raw = values.flatMap((v) => ['Authorization', v]);
    const before = readCredential(request({ authorization: values }));
    assert.notEqual(before.kind, 'none', `the verifier reads a credential in ${JSON.stringify(values)}`);
    const forwarded = authorizationOf(upstreamHeaders(raw, base));
    assert.deepEqual(forwarded, expected);
    assert.equal(readCredential(request({ authorization: forwarded })).kind, 'none');
  }
  // Without an L402/LSAT credential a value goes as it came, separators and all.
  assert.deepEqual(authorizationOf(upstreamHeaders(['Authorization', 'Bearer a,b, c', 'authorization', 'Basic x'], base)), [
    'Bearer a,b, c',
    'Basic x',
  ]);
  // Macaroon headers go whatever they hold.
  const mac = upstreamHeaders(['Macaroon', 'aa', 'grpc-metadata-macaroon', 'bb', 'X-Other', '1'], base);
  assert.deepEqual(pairs(mac).slice(0, 1), ['X-Other: 1']);
});

test('upstreamHeaders without a verified credential: random Authorization values never keep anything the verifier reads', () => {
  const element = fc.oneof(
    fc.constantFrom(`L402 ${MAC}:${PRE}`, `LSAT ${MAC}:${PRE}`, `l402 ${MAC},${MAC}:${PRE}`, 'L402 x:y', 'lsat', 'L402'),
    fc.constantFrom('Bearer x', 'Basic YTpi', 'Digest a="1", b=2', 'Negotiate', 'Custom "q, L402 m:p"'),
    fc.string({ maxLength: 30 }),
    fc
      .tuple(
        fc.constantFrom('L402', 'LSAT', 'Bearer', '\u00a0L402', 'x'),
        fc.constantFrom(' ', '\t', '  ', ''),
        fc.string({ maxLength: 20 }),
      )
      .map((p) => p.join('')),
  );
  const separator = fc.constantFrom(', ', ',', ' , ', ',\t', ',,', ' ');
  const value = fc
    .tuple(fc.array(element, { minLength: 1, maxLength: 5 }), fc.array(separator, { minLength: 5, maxLength: 5 }))
    .map(([parts, seps]) => parts.map((p, i) => (i === 0 ? p : (seps[i] as string) + p)).join(''));
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 3 }), (values) => {
      const forwarded = authorizationOf(
        upstreamHeaders(
          values.flatMap((v) => ['Authorization', v]),
          base,
        ),
      );
      assert.equal(readCredential(request({ authorization: forwarded })).kind, 'none', JSON.stringify({ values, forwarded }));
      // A value without an L402/LSAT credential is forwarded as it came.
      for (const v of values) {
        if (readCredential(request({ authorization: [v] })).kind === 'none') assert.ok(forwarded.includes(v), JSON.stringify(v));
      }
    }),
    { numRuns: 2000 },
  );
});
