import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Macaroon } from '../../src/core/macaroon.js';
import { L402Error } from '../../src/core/errors.js';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/macaroon-vectors.json', import.meta.url), 'utf8')) as {
  macaroons: Array<{
    rootKeyHex: string;
    idHex: string;
    location: string;
    caveats: string[];
    base64: string;
    hex: string;
    signatureHex: string;
  }>;
  libmacaroonsV1Json: { json: string };
};
const hex = (s: string) => Buffer.from(s, 'hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof L402Error, `not an L402Error: ${String(err)}`);
    return err.code;
  }
  assert.fail('did not throw');
}

for (const [i, v] of vectors.macaroons.entries()) {
  test(`vector ${i}: minting gives go-macaroon's exact bytes`, () => {
    let mac = Macaroon.mint(hex(v.rootKeyHex), hex(v.idHex), v.location);
    for (const c of v.caveats) mac = mac.withFirstPartyCaveat(c);
    assert.equal(mac.toHex(), v.hex);
    assert.equal(mac.toBase64(), v.base64);
    assert.equal(Buffer.from(mac.signature).toString('hex'), v.signatureHex);
  });

  test(`vector ${i}: parses and verifies from base64 and hex`, () => {
    for (const mac of [Macaroon.fromBase64(v.base64), Macaroon.fromHex(v.hex), Macaroon.fromBinary(hex(v.hex))]) {
      assert.equal(mac.location, v.location);
      assert.equal(Buffer.from(mac.identifier).toString('hex'), v.idHex);
      assert.deepEqual(mac.firstPartyCaveats(), v.caveats);
      assert.ok(mac.verifySignature(hex(v.rootKeyHex)));
      assert.ok(!mac.verifySignature(Buffer.alloc(32, 9)));
      assert.equal(mac.toHex(), v.hex);
    }
  });

  test(`vector ${i}: URL-safe and unpadded base64 parse the same`, () => {
    const url = v.base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    assert.equal(Macaroon.fromBase64(url).toHex(), v.hex);
  });
}

test('libmacaroons V1 JSON parses, reports the third-party caveat, and its chain verifies', () => {
  const mac = Macaroon.fromJSON(vectors.libmacaroonsV1Json.json);
  assert.equal(mac.location, 'http://mybank/');
  assert.equal(Buffer.from(mac.identifier).toString(), 'we used our other secret key');
  assert.equal(Buffer.from(mac.signature).toString('hex'), 'd27db2fd1f22760e4c3dae8137e2d8fc1df6c0741c18aed4b97256bf78d1f55c');
  assert.equal(mac.caveats.length, 2);
  assert.equal(mac.caveats[1]?.location, 'http://auth.mybank/');
  assert.ok(mac.caveats[1]?.verificationId !== undefined);
  assert.ok(mac.hasThirdPartyCaveats());
  assert.deepEqual(mac.firstPartyCaveats(), ['account = 3735928559']);
  // The README's root key: our third-party signature step matches libmacaroons.
  assert.ok(mac.verifySignature(Buffer.from('this is a different super-secret key; never use the same secret twice')));
  // And it round-trips through V2 binary.
  const again = Macaroon.fromBinary(mac.toBinary());
  const hexOf = (m: Macaroon) =>
    m.caveats.map((c) => [
      Buffer.from(c.id).toString('hex'),
      c.verificationId && Buffer.from(c.verificationId).toString('hex'),
      c.location,
    ]);
  assert.deepEqual(hexOf(again), hexOf(mac));
  assert.ok(again.verifySignature(Buffer.from('this is a different super-secret key; never use the same secret twice')));
});

function v1Packet(field: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(`${field} `), data, Buffer.from('\n')]);
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0')), body]);
}

test('V1 binary reads (go-macaroon packet layout)', () => {
  const v = vectors.macaroons[0]!;
  const parts = [v1Packet('location', Buffer.from(v.location)), v1Packet('identifier', hex(v.idHex))];
  for (const c of v.caveats) parts.push(v1Packet('cid', Buffer.from(c)));
  parts.push(v1Packet('signature', hex(v.signatureHex)));
  const bytes = Buffer.concat(parts);
  const mac = Macaroon.fromBinary(bytes);
  assert.equal(mac.toHex(), v.hex);
  assert.ok(mac.verifySignature(hex(v.rootKeyHex)));
  // libmacaroons serializes V1 as URL-safe base64.
  assert.equal(Macaroon.fromBase64(bytes.toString('base64url')).toHex(), v.hex);
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.concat([bytes, Buffer.from('x')]))),
    'L402_ERR_MACAROON_MALFORMED',
  );
  assert.equal(
    codeOf(() => Macaroon.fromBinary(bytes.subarray(0, bytes.length - 3))),
    'L402_ERR_MACAROON_MALFORMED',
  );
});

test('V2 JSON reads, including i64/s64 binary fields', () => {
  const v = vectors.macaroons[2]!;
  const json = {
    v: 2,
    l: v.location,
    i64: hex(v.idHex).toString('base64url'),
    c: v.caveats.map((c) => ({ i: c })),
    s64: hex(v.signatureHex).toString('base64url'),
  };
  assert.equal(Macaroon.fromJSON(json).toHex(), v.hex);
  assert.equal(Macaroon.fromJSON(JSON.stringify({ ...json, i64: undefined, iH: v.idHex })).toHex(), v.hex);
  assert.equal(
    codeOf(() => Macaroon.fromJSON({ ...json, v: 3 })),
    'L402_ERR_MACAROON_UNSUPPORTED_VERSION',
  );
  assert.equal(
    codeOf(() => Macaroon.fromJSON({ ...json, iH: 'abcd' })),
    'L402_ERR_MACAROON_MALFORMED',
  );
  assert.equal(
    codeOf(() => Macaroon.fromJSON('{not json')),
    'L402_ERR_MACAROON_BAD_ENCODING',
  );
  assert.equal(
    codeOf(() => Macaroon.fromJSON({ ...json, s64: 'AAAA' })),
    'L402_ERR_MACAROON_MALFORMED',
  );
});

test('strict V2 parsing: trailing, truncated, oversized, bad version, bad structure', () => {
  const good = hex(vectors.macaroons[0]!.hex);
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.concat([good, Buffer.of(0)]))),
    'L402_ERR_MACAROON_MALFORMED',
  );
  for (let cut = 1; cut < good.length; cut += 7) {
    assert.equal(
      codeOf(() => Macaroon.fromBinary(good.subarray(0, cut))),
      'L402_ERR_MACAROON_MALFORMED',
      `cut at ${cut}`,
    );
  }
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.alloc(0))),
    'L402_ERR_MACAROON_MALFORMED',
  );
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(3, 1, 0))),
    'L402_ERR_MACAROON_UNSUPPORTED_VERSION',
  );
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(1))),
    'L402_ERR_MACAROON_UNSUPPORTED_VERSION',
  );
  // An identifier packet claiming 1 MiB.
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(2, 2, 0x80, 0x80, 0x40, 1, 2))),
    'L402_ERR_MACAROON_TOO_LARGE',
  );
  // A varint longer than 5 bytes.
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))),
    'L402_ERR_MACAROON_TOO_LARGE',
  );
  // Fields out of order in the header: identifier before location.
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(2, 2, 1, 0x61, 1, 1, 0x62, 0))),
    'L402_ERR_MACAROON_MALFORMED',
  );
  // A signature of the wrong length.
  assert.equal(
    codeOf(() => Macaroon.fromBinary(Buffer.of(2, 2, 1, 0x61, 0, 0, 6, 1, 0))),
    'L402_ERR_MACAROON_MALFORMED',
  );
  assert.equal(
    codeOf(() => Macaroon.fromBase64('not base64!')),
    'L402_ERR_MACAROON_BAD_ENCODING',
  );
  assert.equal(
    codeOf(() => Macaroon.fromBase64('AgE===')),
    'L402_ERR_MACAROON_BAD_ENCODING',
  );
  assert.equal(
    codeOf(() => Macaroon.fromHex('02zz')),
    'L402_ERR_MACAROON_BAD_ENCODING',
  );
  assert.equal(
    codeOf(() => Macaroon.fromHex('020')),
    'L402_ERR_MACAROON_BAD_ENCODING',
  );
});

test('the location packet is omitted when empty', () => {
  const mac = Macaroon.mint(Buffer.alloc(32, 1), Buffer.from('id'), '');
  const bytes = Buffer.from(mac.toBinary());
  assert.equal(bytes[1], 2); // identifier packet right after the version
  assert.equal(Macaroon.fromBinary(bytes).location, '');
});

test('adding a caveat leaves the original untouched', () => {
  const a = Macaroon.mint(Buffer.alloc(32, 1), Buffer.from('id'));
  const b = a.withFirstPartyCaveat('x=1');
  assert.equal(a.caveats.length, 0);
  assert.deepEqual(b.firstPartyCaveats(), ['x=1']);
  assert.notDeepEqual(Buffer.from(a.signature), Buffer.from(b.signature));
  assert.ok(b.verifySignature(Buffer.alloc(32, 1)));
});

test('cross-check with the npm macaroon package, both directions', () => {
  const require = createRequire(import.meta.url);
  const js = require('macaroon') as {
    newMacaroon(o: { identifier: Uint8Array; location: string; rootKey: Uint8Array; version: number }): {
      addFirstPartyCaveat(c: string): void;
      exportBinary(): Uint8Array;
      verify(key: Uint8Array, check: (c: string) => string | null): void;
    };
    importMacaroon(b: Uint8Array): { verify(key: Uint8Array, check: (c: string) => string | null): void; caveats: unknown[] };
  };
  const rootKey = Buffer.alloc(32, 7);
  const id = Buffer.concat([Buffer.alloc(2), Buffer.alloc(32, 0xaa), Buffer.alloc(32, 0xbb)]);
  const caveats = ['services=svc:0', 'svc_capabilities=read', 'svc_valid_until=1900000000'];
  // Theirs → ours.
  const theirs = js.newMacaroon({ identifier: id, location: 'lsat', rootKey, version: 2 });
  for (const c of caveats) theirs.addFirstPartyCaveat(c);
  const parsed = Macaroon.fromBinary(theirs.exportBinary());
  assert.ok(parsed.verifySignature(rootKey));
  assert.deepEqual(parsed.firstPartyCaveats(), caveats);
  // Ours → theirs.
  let ours = Macaroon.mint(rootKey, id);
  for (const c of caveats) ours = ours.withFirstPartyCaveat(c);
  assert.deepEqual(Buffer.from(ours.toBinary()), Buffer.from(theirs.exportBinary()));
  const seen: string[] = [];
  js.importMacaroon(ours.toBinary()).verify(rootKey, (c) => {
    seen.push(c);
    return null;
  });
  assert.deepEqual(seen, caveats);
  assert.throws(() => js.importMacaroon(ours.toBinary()).verify(Buffer.alloc(32, 8), () => null));
});
