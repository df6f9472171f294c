// Credentials the proxy did not verify never reach the backend: Macaroon and
// Grpc-Metadata-Macaroon are always dropped, an L402/LSAT Authorization is
// dropped on passes without a verified token; other schemes and injected
// headers stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision } from '../../src/core/types.js';
import { h1, service, startBackend, startProxy } from './support.js';

const token = { tokenId: '01'.repeat(32), paymentHash: '02'.repeat(32), caveats: [], services: undefined };

async function setup(inject?: Record<string, string>) {
  const backend = await startBackend((req, res) => res.end(JSON.stringify(req.rawHeaders)));
  const p = await startProxy({
    services: [service(backend.address, inject === undefined ? {} : { headers: inject })],
    authorize: ({ request }): Decision | { decision: Decision; upstreamAuthorization: string } =>
      request.path === '/paid'
        ? { decision: { kind: 'allow', reason: 'paid', token }, upstreamAuthorization: 'L402 verified:00' }
        : { kind: 'allow', reason: 'freebie' },
  });
  const seen = async (path: string, headers: string[]): Promise<Array<[string, string]>> => {
    const raw = JSON.parse((await h1(`${p.url}${path}`, { headers })).body) as string[];
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
    return pairs;
  };
  return {
    seen,
    close: async () => {
      await p.close();
      await backend.close();
    },
  };
}

const named = (pairs: Array<[string, string]>, name: string): string[] => pairs.filter(([n]) => n === name).map(([, v]) => v);

test('without a verified token: forged L402/LSAT Authorization and macaroon headers are dropped, Bearer kept', async () => {
  const s = await setup();
  try {
    const forged = await s.seen('/free', [
      'Authorization',
      `L402 forged:${'00'.repeat(32)}`,
      'Macaroon',
      'deadbeef',
      'Grpc-Metadata-Macaroon',
      'cafe',
    ]);
    assert.deepEqual(named(forged, 'authorization'), []);
    assert.deepEqual(named(forged, 'macaroon'), []);
    assert.deepEqual(named(forged, 'grpc-metadata-macaroon'), []);
    const lsat = await s.seen('/free', ['Authorization', 'lsat x:y']);
    assert.deepEqual(named(lsat, 'authorization'), []);
    const bearer = await s.seen('/free', ['Authorization', 'Bearer abc', 'X-Other', '1']);
    assert.deepEqual(named(bearer, 'authorization'), ['Bearer abc']);
    assert.deepEqual(named(bearer, 'x-other'), ['1']);
  } finally {
    await s.close();
  }
});

test('with a verified token: the canonical Authorization only, an extra Macaroon header is dropped', async () => {
  const s = await setup();
  try {
    const paid = await s.seen('/paid', ['Authorization', 'L402 client:11', 'Macaroon', 'cafebabe-unverified']);
    assert.deepEqual(named(paid, 'authorization'), ['L402 verified:00']);
    assert.deepEqual(named(paid, 'macaroon'), []);
  } finally {
    await s.close();
  }
});

test("a service's injected headers win, an injected Authorization or Macaroon included", async () => {
  const s = await setup({ Authorization: 'L402 injected:1', Macaroon: 'injected-mac' });
  try {
    const free = await s.seen('/free', ['Authorization', 'L402 forged:00', 'Macaroon', 'forged']);
    assert.deepEqual(named(free, 'authorization'), ['L402 injected:1']);
    assert.deepEqual(named(free, 'macaroon'), ['injected-mac']);
  } finally {
    await s.close();
  }
});
