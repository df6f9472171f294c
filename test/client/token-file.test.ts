// The reference client's token file format, byte for byte, and FileTokenStore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Macaroon } from '../../src/core/macaroon.js';
import { encodeIdentifier } from '../../src/core/identifier.js';
import { decodeTokenFile, encodeTokenFile } from '../../src/client/token-file-codec.js';
import { FileTokenStore } from '../../src/client/file-token-store.js';
import { MemoryTokenStore } from '../../src/client/memory-token-store.js';
import type { StoredToken, TokenStore } from '../../src/client/token-store.js';
import { L402Error } from '../../src/core/errors.js';

const hash = 'ab'.repeat(32);
const preimage = 'cd'.repeat(32);
const macaroon = Uint8Array.from(
  Macaroon.mint(randomBytes(32), encodeIdentifier({ version: 0, paymentHash: Buffer.from(hash, 'hex'), tokenId: randomBytes(32) }))
    .withFirstPartyCaveat('services=quotes:0')
    .toBinary(),
);

function token(overrides: Partial<StoredToken> = {}): StoredToken {
  return {
    macaroon,
    paymentHash: hash,
    preimage,
    amountPaidMsat: 100_000n,
    routingFeeMsat: 1_500n,
    createdNs: 1_700_000_000_123_456_789n,
    ...overrides,
  };
}

test('encodes exactly: uint32 BE length | macaroon | hash | preimage | amount | fee | created (all big-endian)', () => {
  const bytes = Buffer.from(encodeTokenFile(token()));
  const expected = Buffer.concat([
    Buffer.from([(macaroon.length >>> 24) & 0xff, (macaroon.length >>> 16) & 0xff, (macaroon.length >>> 8) & 0xff, macaroon.length & 0xff]),
    Buffer.from(macaroon),
    Buffer.from(hash, 'hex'),
    Buffer.from(preimage, 'hex'),
    Buffer.from('00000000000186a0', 'hex'), // 100,000 msat
    Buffer.from('00000000000005dc', 'hex'), // 1,500 msat
    Buffer.from('17979cfe3d85cd15', 'hex'), // 1_700_000_000_123_456_789 ns
  ]);
  assert.equal(bytes.toString('hex'), expected.toString('hex'));
  assert.equal(macaroon[0], 0x02, 'the macaroon is stored in V2 binary form');
  assert.deepEqual(decodeTokenFile(bytes), token());
});

test('a pending token is written with a zero preimage and read back as pending', () => {
  const bytes = Buffer.from(encodeTokenFile(token({ preimage: undefined, amountPaidMsat: 0n, routingFeeMsat: 0n })));
  const at = 4 + macaroon.length + 32;
  assert.equal(bytes.subarray(at, at + 32).toString('hex'), '00'.repeat(32));
  assert.equal(decodeTokenFile(bytes).preimage, undefined);
});

test('truncated, padded and nonsense files are refused with a code', () => {
  const good = Buffer.from(encodeTokenFile(token()));
  for (const bad of [
    good.subarray(0, good.length - 1),
    Buffer.concat([good, Buffer.from([0])]),
    Buffer.from([0, 0, 0, 0]),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 1]),
    Buffer.alloc(2),
  ]) {
    assert.throws(
      () => decodeTokenFile(bad),
      (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_CLIENT_TOKEN_FILE_INVALID',
    );
  }
  assert.throws(() => encodeTokenFile(token({ paymentHash: 'xyz' })), L402Error);
  assert.throws(() => encodeTokenFile(token({ amountPaidMsat: -1n })), L402Error);
});

async function conformance(store: TokenStore): Promise<void> {
  assert.equal(await store.get('https://a.example'), undefined);
  await store.put('https://a.example', token());
  await store.put('https://b.example:8443#svc', token({ preimage: undefined }));
  assert.deepEqual(await store.get('https://a.example'), token());
  assert.equal((await store.get('https://b.example:8443#svc'))?.preimage, undefined);
  assert.deepEqual((await store.keys()).sort(), ['https://a.example', 'https://b.example:8443#svc']);
  await store.put('https://a.example', token({ preimage: 'ef'.repeat(32) }));
  assert.equal((await store.get('https://a.example'))?.preimage, 'ef'.repeat(32));
  await store.delete('https://a.example');
  await store.delete('https://a.example');
  assert.deepEqual(await store.keys(), ['https://b.example:8443#svc']);
}

test('MemoryTokenStore conformance', async () => {
  await conformance(new MemoryTokenStore());
});

test('FileTokenStore (directory) conformance; files are the exact format, mode 0600, no temp files left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'l402-tokens-'));
  try {
    const store = new FileTokenStore({ directory: join(dir, 'nested') });
    await conformance(store);
    const names = readdirSync(join(dir, 'nested'));
    assert.deepEqual(names, [`${Buffer.from('https://b.example:8443#svc').toString('base64url')}.token`]);
    const file = join(dir, 'nested', names[0] ?? '');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(Buffer.from(readFileSync(file)), Buffer.from(encodeTokenFile(token({ preimage: undefined }))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FileTokenStore (single file) holds one token for every key, readable as a reference token file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'l402-tokens-'));
  try {
    const path = join(dir, 'l402.token');
    const store = new FileTokenStore({ file: path });
    assert.deepEqual(await store.keys(), []);
    await store.put('https://a.example', token());
    assert.deepEqual(decodeTokenFile(readFileSync(path)), token());
    assert.deepEqual(await store.get('https://other.example'), token());
    assert.deepEqual(await store.keys(), [path]);
    writeFileSync(path, Buffer.from('garbage'));
    await assert.rejects(store.get('x'), (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_CLIENT_TOKEN_FILE_INVALID');
    await store.delete('x');
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
