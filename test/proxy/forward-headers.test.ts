import { test } from 'node:test';
import assert from 'node:assert/strict';
import { upstreamHeaders, type UpstreamHeaderOptions } from '../../src/proxy/forward/forward-headers.js';

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
  const raw = ['X-Early', 'drop', 'Accept', 'a', 'X-Dup', '1', 'Connection', 'X-Early, close', 'X-Late', 'drop', 'X-Dup', '2', 'connection', 'x-late'];
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
  const ws = upstreamHeaders(['Upgrade', 'websocket', 'Connection', 'Upgrade, X-Gone', 'X-Gone', '1'], { ...base, upgrade: true, originalHost: '' });
  assert.deepEqual(pairs(ws), ['Upgrade: websocket', 'Connection: Upgrade, X-Gone', 'host: 10.0.0.2:8080', 'x-forwarded-for: 127.0.0.1', 'x-forwarded-proto: http']);
  const grpc = upstreamHeaders(['te', 'trailers', 'connection', 'te', ':path', '/x'], { ...base, grpc: true, originalHost: '' });
  assert.deepEqual(pairs(grpc).slice(0, 1), ['te: trailers']);
});

test('upstreamHeaders: the credential and injected headers replace the client\'s, whatever their case', () => {
  const raw = ['Authorization', 'LSAT a:b', 'x-api-key', 'client', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.3'];
  const inject = { 'X-Api-Key': 'ours' };
  const out = pairs(upstreamHeaders(raw, { ...base, authorization: 'L402 m:p', inject }));
  assert.deepEqual(out, [
    'host: 10.0.0.2:8080',
    'x-forwarded-for: 10.0.0.1, 10.0.0.3, 127.0.0.1',
    'x-forwarded-proto: http',
    'x-forwarded-host: proxy.example',
    'authorization: L402 m:p',
    'X-Api-Key: ours',
  ]);
  // The per-headers-object cache of injected names answers the same on reuse.
  assert.deepEqual(pairs(upstreamHeaders(raw, { ...base, authorization: 'L402 m:p', inject })), out);
});
