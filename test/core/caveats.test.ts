import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  capabilitiesCaveat,
  checkCaveats,
  parseServices,
  serviceCaveats,
  servicesCaveat,
  validUntilCaveat,
} from '../../src/core/caveats.js';
import { decodeIdentifier, encodeIdentifier, newTokenId } from '../../src/core/identifier.js';

test('services grammar: the invalid forms of PROTOCOL §1 are rejected', () => {
  for (const bad of ['', ':0', 'a', 'a:', 'a:b', ',,', 'a:0,', ',a:0', 'a:256', 'a:-1', 'a:0:1', 'a :0', 'a:0x1', 'a:1000']) {
    assert.equal(parseServices(bad), undefined, bad);
  }
  assert.deepEqual(parseServices('a:0'), [{ name: 'a', tier: 0 }]);
  assert.deepEqual(parseServices('loop:0,pool:1'), [
    { name: 'loop', tier: 0 },
    { name: 'pool', tier: 1 },
  ]);
  assert.deepEqual(parseServices('a:255'), [{ name: 'a', tier: 255 }]);
});

test('builders', () => {
  assert.equal(
    servicesCaveat([
      { name: 'a', tier: 0 },
      { name: 'b', tier: 1 },
    ]),
    'services=a:0,b:1',
  );
  assert.equal(capabilitiesCaveat('api', ['read', 'write']), 'api_capabilities=read,write');
  assert.equal(validUntilCaveat('api', 1900000000), 'api_valid_until=1900000000');
  assert.throws(() => servicesCaveat([]), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
  assert.throws(() => servicesCaveat([{ name: 'a,b', tier: 0 }]), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
  assert.throws(() => servicesCaveat([{ name: 'a', tier: 256 }]), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
  assert.throws(() => capabilitiesCaveat('api', ['a,b']), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
  assert.throws(() => validUntilCaveat('api', -1), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
});

test('checkCaveats: split on the first =, last value checked, unknown skipped', () => {
  const ok = checkCaveats(['expiration=1337=', 'services=a:0,b:0', 'services=b:0', 'zzz=1'], 'b', undefined, 0, undefined, 't');
  assert.ok(ok.ok);
  if (ok.ok) assert.deepEqual(ok.services, [{ name: 'b', tier: 0 }]);
  const dropped = checkCaveats(['services=a:0,b:0', 'services=b:0'], 'a', undefined, 0, undefined, 't');
  assert.equal(!dropped.ok && dropped.code, 'L402_ERR_TOKEN_WRONG_SERVICE');
  const tier = checkCaveats(['services=a:0', 'services=a:1'], 'a', undefined, 0, undefined, 't');
  assert.equal(!tier.ok && tier.code, 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  // Another service's caveats do not apply.
  const other = checkCaveats(['b_valid_until=1', 'b_capabilities='], 'a', 'x', 10_000, undefined, 't');
  assert.ok(other.ok);
  // valid_until: now < value (seconds); expiresAt in ms.
  const v = checkCaveats(['a_valid_until=100'], 'a', undefined, 99_999, undefined, 't');
  assert.ok(v.ok && v.expiresAt === 100_000);
  const e = checkCaveats(['a_valid_until=100'], 'a', undefined, 100_000, undefined, 't');
  assert.equal(!e.ok && e.code, 'L402_ERR_TOKEN_EXPIRED');
  // Empty capabilities grant nothing.
  const none = checkCaveats(['a_capabilities='], 'a', 'read', 0, undefined, 't');
  assert.equal(!none.ok && none.code, 'L402_ERR_TOKEN_MISSING_CAPABILITY');
  assert.ok(checkCaveats(['a_capabilities='], 'a', undefined, 0, undefined, 't').ok);
  const badPre = checkCaveats(['preimage=xyz'], 'a', undefined, 0, undefined, 't');
  assert.equal(!badPre.ok && badPre.code, 'L402_ERR_TOKEN_BAD_CAVEAT');
});

test('identifier v0: layout, unknown version, wrong length', () => {
  const h = Buffer.alloc(32, 0xaa);
  const t = newTokenId();
  const bytes = Buffer.from(encodeIdentifier({ version: 0, paymentHash: h, tokenId: t }));
  assert.equal(bytes.length, 66);
  assert.equal(bytes.readUInt16BE(0), 0);
  assert.deepEqual(bytes.subarray(2, 34), h);
  assert.deepEqual(bytes.subarray(34), Buffer.from(t));
  const v1 = Buffer.from(bytes);
  v1[1] = 1;
  assert.throws(() => decodeIdentifier(v1), { code: 'L402_ERR_TOKEN_UNKNOWN_VERSION' });
  assert.throws(() => decodeIdentifier(bytes.subarray(0, 65)), { code: 'L402_ERR_TOKEN_BAD_IDENTIFIER' });
  assert.throws(() => decodeIdentifier(Buffer.alloc(1)), { code: 'L402_ERR_TOKEN_BAD_IDENTIFIER' });
  assert.throws(() => encodeIdentifier({ version: 0, paymentHash: h.subarray(1), tokenId: t }), { code: 'L402_ERR_TOKEN_BAD_IDENTIFIER' });
  assert.notDeepEqual(Buffer.from(newTokenId()), Buffer.from(newTokenId()));
});

test('serviceCaveats: capabilities, expiry and constraints keyed by the service, in order', () => {
  const now = 1_800_000_000_500;
  assert.deepEqual(serviceCaveats('api', {}, now), []);
  assert.deepEqual(
    serviceCaveats(
      'api',
      { capabilities: ['read', 'write'], timeoutSeconds: 60.9, constraints: { tier: 'gold', valid_until: '1682483169' } },
      now,
    ),
    ['api_capabilities=read,write', 'api_valid_until=1800000060', 'tier=gold', 'valid_until=1682483169'],
  );
  assert.deepEqual(serviceCaveats('api', { capabilities: [], timeoutSeconds: 0 }, now), []);
  assert.throws(() => serviceCaveats('bad name', { timeoutSeconds: 5 }, now), { code: 'L402_ERR_TOKEN_BAD_CAVEAT' });
});
