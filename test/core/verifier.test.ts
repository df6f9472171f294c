import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import type { VerifyResult } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { capabilitiesCaveat, validUntilCaveat } from '../../src/core/caveats.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { sha256 } from '../../src/core/bytes.js';
import type { SecretStore } from '../../src/core/types.js';
import { FakeInvoicer, TestClock, request } from './support.js';

function setup(
  opts: { cache?: false | { ttlMs?: number; maxEntries?: number; admission?: 'always' | 'repeat' }; secrets?: SecretStore } = {},
) {
  const clock = new TestClock();
  const invoicer = new FakeInvoicer();
  const secrets = opts.secrets ?? new MemorySecretStore();
  const minter = new Minter({ invoicer, secrets, clock });
  const verifier = new Verifier({ secrets, clock, ...(opts.cache === undefined ? {} : { cache: opts.cache }) });
  async function paid(caveats: string[] = [], services = [{ name: 'api', tier: 0 }]) {
    const t = await minter.mint({ services, priceSats: 5, caveats });
    return { ...t, header: formatAuthorization(t.macaroonBase64, invoicer.preimageOf(t.paymentHash)) };
  }
  return { clock, invoicer, secrets, minter, verifier, paid };
}

function code(r: VerifyResult): string {
  return r.ok ? 'ok' : r.code;
}

test('Minter: identifier v0 with the invoice payment hash, services caveat, location lsat', async () => {
  const { paid, invoicer } = setup();
  const t = await paid(['x=1']);
  assert.equal(invoicer.requests[0]?.amountSats, 5);
  assert.equal(t.macaroon.location, 'lsat');
  const id = decodeIdentifier(t.macaroon.identifier);
  assert.equal(Buffer.from(id.paymentHash).toString('hex'), t.paymentHash);
  assert.equal(Buffer.from(id.tokenId).toString('hex'), t.tokenId);
  assert.match(t.tokenId, /^[0-9a-f]{64}$/);
  assert.deepEqual(t.macaroon.firstPartyCaveats(), ['services=api:0', 'x=1']);
  assert.equal(Macaroon.fromBase64(t.macaroonBase64).toHex(), t.macaroon.toHex());
});

test('Minter: a fresh root key per token, stored under sha256(identifier)', async () => {
  const { paid, secrets } = setup();
  const a = await paid();
  const b = await paid();
  const ka = secrets.getSecret(sha256(a.macaroon.identifier)) as Uint8Array;
  const kb = secrets.getSecret(sha256(b.macaroon.identifier)) as Uint8Array;
  assert.equal(ka.length, 32);
  assert.notDeepEqual(Buffer.from(ka), Buffer.from(kb));
  assert.ok(a.macaroon.verifySignature(ka));
  assert.notEqual(a.tokenId, b.tokenId);
});

test('Minter rejects a bad price', async () => {
  const { minter } = setup();
  await assert.rejects(minter.mint({ services: [], priceSats: -1 }), { code: 'L402_ERR_TOKEN_BAD_PRICE' });
  await assert.rejects(minter.mint({ services: [], priceSats: 1.5 }), { code: 'L402_ERR_TOKEN_BAD_PRICE' });
});

test('a paid token verifies synchronously with a memory store', async () => {
  const { paid, verifier } = setup();
  const t = await paid();
  const r = verifier.verify(request({ authorization: t.header }), { service: 'api' });
  assert.ok(!(r instanceof Promise));
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.token.tokenId, t.tokenId);
    assert.equal(r.token.paymentHash, t.paymentHash);
    assert.deepEqual(r.token.services, [{ name: 'api', tier: 0 }]);
    assert.deepEqual(r.token.caveats, ['services=api:0']);
  }
});

test('verification failures carry codes', async () => {
  const { paid, verifier, secrets, invoicer } = setup({ cache: false });
  const t = await paid();
  const v = (headers: Record<string, string | string[]>, service = 'api') =>
    code(verifier.verify(request(headers), { service }) as VerifyResult);
  assert.equal(v({}), 'L402_ERR_TOKEN_MISSING');
  assert.equal(v({ authorization: formatAuthorization(t.macaroonBase64, 'ab'.repeat(32)) }), 'L402_ERR_TOKEN_BAD_PREIMAGE');
  assert.equal(v({ authorization: t.header }, 'other'), 'L402_ERR_TOKEN_WRONG_SERVICE');
  // A caveat added by the client but re-signed wrongly: strip the last caveat keeping the signature.
  const forged = Macaroon.fromParts('lsat', t.macaroon.identifier, [], t.macaroon.signature);
  assert.equal(
    v({ authorization: formatAuthorization(forged.toBase64(), invoicer.preimageOf(t.paymentHash)) }),
    'L402_ERR_TOKEN_BAD_SIGNATURE',
  );
  await secrets.revokeSecret(sha256(t.macaroon.identifier));
  assert.equal(v({ authorization: t.header }), 'L402_ERR_TOKEN_REVOKED');
  assert.equal(v({ authorization: 'L402 zz:00' }), 'L402_ERR_TOKEN_MALFORMED');
});

test('an unknown identifier version and a third-party caveat are rejected with codes', () => {
  const secrets = new MemorySecretStore();
  const verifier = new Verifier({ secrets });
  const pre = Buffer.alloc(32, 1);
  const hash = sha256(pre);
  const badVersion = Macaroon.mint(Buffer.alloc(32), Buffer.concat([Buffer.of(0, 1), hash, Buffer.alloc(32)]));
  const cred = { macaroons: [badVersion], preimage: pre, scheme: 'L402' as const };
  assert.equal(code(verifier.verifyCredential(cred, { service: 'api' }) as VerifyResult), 'L402_ERR_TOKEN_UNKNOWN_VERSION');
  const third = Macaroon.fromParts(
    'lsat',
    Buffer.concat([Buffer.alloc(2), hash, Buffer.alloc(32)]),
    [{ id: Buffer.from('c'), verificationId: Buffer.alloc(72), location: 'x' }],
    Buffer.alloc(32),
  );
  assert.equal(
    code(verifier.verifyCredential({ ...cred, macaroons: [third] }, { service: 'api' }) as VerifyResult),
    'L402_ERR_TOKEN_THIRD_PARTY_CAVEAT',
  );
});

test('capabilities and valid_until caveats, with narrowing', async () => {
  const { paid, verifier, clock, invoicer } = setup({ cache: false });
  const now = Math.floor(clock.ms / 1000);
  const t = await paid([capabilitiesCaveat('api', ['read', 'write']), validUntilCaveat('api', now + 60)]);
  const pre = invoicer.preimageOf(t.paymentHash);
  const check = (mac: Macaroon, capability?: string) =>
    code(
      verifier.verify(
        request({ authorization: formatAuthorization(mac.toBase64(), pre) }),
        capability === undefined ? { service: 'api' } : { service: 'api', capability },
      ) as VerifyResult,
    );
  assert.equal(check(t.macaroon, 'read'), 'ok');
  assert.equal(check(t.macaroon, 'admin'), 'L402_ERR_TOKEN_MISSING_CAPABILITY');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('api_capabilities=read'), 'write'), 'L402_ERR_TOKEN_MISSING_CAPABILITY');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('api_capabilities=read,admin'), 'read'), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(t.macaroon.withFirstPartyCaveat(validUntilCaveat('api', now + 10))), 'ok');
  assert.equal(check(t.macaroon.withFirstPartyCaveat(validUntilCaveat('api', now + 120))), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(t.macaroon.withFirstPartyCaveat(validUntilCaveat('api', now))), 'L402_ERR_TOKEN_EXPIRED');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('services=api:0,other:0')), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('services=a:')), 'L402_ERR_TOKEN_BAD_CAVEAT');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('nonsense')), 'L402_ERR_TOKEN_BAD_CAVEAT');
  assert.equal(check(t.macaroon.withFirstPartyCaveat('unknown_thing=42')), 'ok');
  clock.ms += 60_000;
  assert.equal(check(t.macaroon), 'L402_ERR_TOKEN_EXPIRED');
});

test('a token without a services caveat is valid for every service', async () => {
  const { paid, verifier } = setup();
  const t = await paid([], []);
  const r = verifier.verify(request({ authorization: t.header }), { service: 'anything' }) as VerifyResult;
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.token.services, undefined);
});

test('the Macaroon header form verifies, and a wrong preimage caveat does not', async () => {
  const { paid, verifier, invoicer } = setup();
  const t = await paid();
  const good = t.macaroon.withFirstPartyCaveat(`preimage=${invoicer.preimageOf(t.paymentHash)}`);
  assert.equal(code(verifier.verify(request({ 'grpc-metadata-macaroon': good.toHex() }), { service: 'api' }) as VerifyResult), 'ok');
  const bad = t.macaroon.withFirstPartyCaveat(`preimage=${'00'.repeat(32)}`);
  assert.equal(
    code(verifier.verify(request({ macaroon: bad.toHex() }), { service: 'api' }) as VerifyResult),
    'L402_ERR_TOKEN_BAD_PREIMAGE',
  );
});

test('custom satisfiers: final check and narrowing', async () => {
  const clock = new TestClock();
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const minter = new Minter({ invoicer, secrets });
  const verifier = new Verifier({
    secrets,
    clock,
    cache: false,
    satisfiers: [
      {
        condition: 'max_size',
        satisfyPrevious: (prev, cur) => Number(cur) <= Number(prev),
        satisfyFinal: (value, ctx) => ctx.service === 'api' && Number(value) >= 10,
      },
    ],
  });
  const t = await minter.mint({ services: [{ name: 'api', tier: 0 }], priceSats: 1, caveats: ['max_size=100'] });
  const pre = invoicer.preimageOf(t.paymentHash);
  const v = (m: Macaroon) =>
    code(verifier.verify(request({ authorization: formatAuthorization(m.toBase64(), pre) }), { service: 'api' }) as VerifyResult);
  assert.equal(v(t.macaroon), 'ok');
  assert.equal(v(t.macaroon.withFirstPartyCaveat('max_size=200')), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(v(t.macaroon.withFirstPartyCaveat('max_size=5')), 'L402_ERR_TOKEN_CAVEAT_UNSATISFIED');
});

test('cache: hits skip the store, re-check expiry, expire after ttl, and forget() drops a token', async () => {
  const { paid, verifier, clock, secrets } = setup({ cache: { ttlMs: 5000 } });
  const now = Math.floor(clock.ms / 1000);
  const t = await paid([validUntilCaveat('api', now + 3)]);
  const req = request({ authorization: t.header });
  assert.ok((verifier.verify(req, { service: 'api' }) as VerifyResult).ok);
  await secrets.revokeSecret(sha256(t.macaroon.identifier));
  // Revoked in the store, but cached: still allowed within the ttl.
  assert.ok((verifier.verify(req, { service: 'api' }) as VerifyResult).ok);
  // Different capability is a different cache key: verified in full, so revoked.
  assert.equal(code(verifier.verify(req, { service: 'api', capability: 'x' }) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');
  verifier.forget(t.tokenId);
  assert.equal(code(verifier.verify(req, { service: 'api' }) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');

  const u = await paid([validUntilCaveat('api', now + 3)]);
  const req2 = request({ authorization: u.header });
  assert.ok((verifier.verify(req2, { service: 'api' }) as VerifyResult).ok);
  clock.ms += 3000; // the token's own expiry comes before the ttl
  assert.equal(code(verifier.verify(req2, { service: 'api' }) as VerifyResult), 'L402_ERR_TOKEN_EXPIRED');

  const w = await paid();
  const req3 = request({ authorization: w.header });
  assert.ok((verifier.verify(req3, { service: 'api' }) as VerifyResult).ok);
  await secrets.revokeSecret(sha256(w.macaroon.identifier));
  clock.ms += 4999;
  assert.ok((verifier.verify(req3, { service: 'api' }) as VerifyResult).ok);
  clock.ms += 1;
  assert.equal(code(verifier.verify(req3, { service: 'api' }) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');
});

test('cache: one credential used for several targets keeps each cached; expiry and forget() act per target and per token', async () => {
  const { paid, verifier, clock, secrets } = setup({ cache: { ttlMs: 5000 } });
  const t = await paid(
    [],
    [
      { name: 'api', tier: 0 },
      { name: 'other', tier: 0 },
    ],
  );
  const req = request({ authorization: t.header });
  const api = { service: 'api' };
  const other = { service: 'other' };
  assert.ok((verifier.verify(req, api) as VerifyResult).ok);
  clock.ms += 2000;
  assert.ok((verifier.verify(req, other) as VerifyResult).ok);
  await secrets.revokeSecret(sha256(t.macaroon.identifier));
  // Both targets answered from the cache, alternately: neither pushes the other out.
  for (let i = 0; i < 3; i++) {
    assert.ok((verifier.verify(req, api) as VerifyResult).ok);
    assert.ok((verifier.verify(req, other) as VerifyResult).ok);
  }
  assert.equal(code(verifier.verify(req, { service: 'third' }) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');
  clock.ms += 3000; // api's entry (5 s) has expired, other's (3 s old) has not
  assert.equal(code(verifier.verify(req, api) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');
  assert.ok((verifier.verify(req, other) as VerifyResult).ok);
  verifier.forget(t.tokenId);
  assert.equal(code(verifier.verify(req, other) as VerifyResult), 'L402_ERR_TOKEN_REVOKED');
});

test('cache: credentials ending alike (attenuations of one token share the preimage) are told apart by their whole text', async () => {
  const { paid, verifier, clock, secrets, invoicer } = setup({ cache: { ttlMs: 5000 } });
  const now = Math.floor(clock.ms / 1000);
  const t = await paid();
  const preimage = invoicer.preimageOf(t.paymentHash);
  const header = (m: Macaroon) => formatAuthorization(m.toBase64(), preimage);
  const narrow = t.macaroon.withFirstPartyCaveat(validUntilCaveat('api', now + 60));
  const expired = t.macaroon.withFirstPartyCaveat(validUntilCaveat('api', now - 1));
  // The three headers end with the same preimage, hence the same cache fingerprint.
  const v = (h: string) => code(verifier.verify(request({ authorization: h }), { service: 'api' }) as VerifyResult);
  assert.equal(v(t.header), 'ok');
  assert.equal(v(header(expired)), 'L402_ERR_TOKEN_EXPIRED', 'not answered by the cached entry of another credential');
  assert.equal(v(header(narrow)), 'ok');
  await secrets.revokeSecret(sha256(t.macaroon.identifier));
  assert.equal(v(t.header), 'ok', 'both valid credentials are cached side by side');
  assert.equal(v(header(narrow)), 'ok');
  assert.equal(v(header(expired)), 'L402_ERR_TOKEN_REVOKED');

  // Once the ttl is over, each credential is verified in full again.
  clock.ms += 5000;
  assert.equal(v(t.header), 'L402_ERR_TOKEN_REVOKED', 'the ttl is over: verified in full');
  assert.equal(v(header(narrow)), 'L402_ERR_TOKEN_REVOKED');

  // forget() drops every credential of the token under the shared fingerprint.
  const u = await paid();
  const uPre = invoicer.preimageOf(u.paymentHash);
  const uNarrow = formatAuthorization(u.macaroon.withFirstPartyCaveat('x=1').toBase64(), uPre);
  assert.equal(v(u.header), 'ok');
  assert.equal(v(uNarrow), 'ok');
  await secrets.revokeSecret(sha256(u.macaroon.identifier));
  assert.equal(v(uNarrow), 'ok', 'cached');
  verifier.forget(u.tokenId);
  assert.equal(v(u.header), 'L402_ERR_TOKEN_REVOKED');
  assert.equal(v(uNarrow), 'L402_ERR_TOKEN_REVOKED');
});

test('cache is bounded', async () => {
  const { paid, verifier, secrets } = setup({ cache: { maxEntries: 2 } });
  const tokens = [await paid(), await paid(), await paid()];
  for (const t of tokens) assert.ok((verifier.verify(request({ authorization: t.header }), { service: 'api' }) as VerifyResult).ok);
  for (const t of tokens) await secrets.revokeSecret(sha256(t.macaroon.identifier));
  // The first was evicted; the last two are still cached.
  assert.equal(
    code(verifier.verify(request({ authorization: tokens[0]!.header }), { service: 'api' }) as VerifyResult),
    'L402_ERR_TOKEN_REVOKED',
  );
  assert.ok((verifier.verify(request({ authorization: tokens[2]!.header }), { service: 'api' }) as VerifyResult).ok);
});

test("cache admission 'repeat': first verifications are cached while there is room; once full, only a token seen again enters", async () => {
  const { paid, verifier, secrets } = setup({ cache: { maxEntries: 2, admission: 'repeat' } });
  const [a, b, c] = [await paid(), await paid(), await paid()];
  const ok = (t: { header: string }) => code(verifier.verify(request({ authorization: t.header }), { service: 'api' }) as VerifyResult);
  assert.equal(ok(a), 'ok');
  assert.equal(ok(b), 'ok');
  assert.equal(ok(c), 'ok'); // full, first sighting: verified but not cached, nothing evicted
  await secrets.revokeSecret(sha256(c.macaroon.identifier));
  assert.equal(ok(c), 'L402_ERR_TOKEN_REVOKED');
  await secrets.revokeSecret(sha256(a.macaroon.identifier));
  assert.equal(ok(a), 'ok', 'a is still cached');

  const d = await paid();
  assert.equal(ok(d), 'ok'); // first sighting: not cached
  assert.equal(ok(d), 'ok'); // seen again: cached, evicting the least recently used (b)
  await secrets.revokeSecret(sha256(d.macaroon.identifier));
  await secrets.revokeSecret(sha256(b.macaroon.identifier));
  assert.equal(ok(d), 'ok', 'd is cached');
  assert.equal(ok(b), 'L402_ERR_TOKEN_REVOKED', 'b was evicted');
});

test('an async secret store and the isSettled hook give a Promise', async () => {
  const memory = new MemorySecretStore();
  const asyncStore: SecretStore = {
    newSecret: (h) => memory.newSecret(h),
    getSecret: (h) => Promise.resolve(memory.getSecret(h)),
    revokeSecret: (h) => memory.revokeSecret(h),
  };
  const { paid, verifier } = setup({ secrets: asyncStore });
  const t = await paid();
  const r = verifier.verify(request({ authorization: t.header }), { service: 'api' });
  assert.ok(r instanceof Promise);
  assert.ok((await r).ok);

  const settled = new Set<string>();
  const strict = new Verifier({ secrets: memory, isSettled: (h) => settled.has(h) });
  assert.equal(code(strict.verify(request({ authorization: t.header }), { service: 'api' }) as VerifyResult), 'L402_ERR_TOKEN_UNPAID');
  settled.add(t.paymentHash);
  assert.ok((strict.verify(request({ authorization: t.header }), { service: 'api' }) as VerifyResult).ok);
});

/** A store that answers a fresh copy of the key each time, as SQLite and PostgreSQL do, and whose key can be swapped. */
class CopyingSecretStore implements SecretStore {
  readonly keys = new Map<string, Uint8Array>();
  async newSecret(idHash: Uint8Array): Promise<Uint8Array> {
    const key = new Uint8Array(32).map(() => Math.floor(Math.random() * 256));
    this.keys.set(Buffer.from(idHash).toString('hex'), key);
    return Uint8Array.from(key);
  }
  getSecret(idHash: Uint8Array): Uint8Array | undefined {
    const key = this.keys.get(Buffer.from(idHash).toString('hex'));
    return key === undefined ? undefined : Uint8Array.from(key);
  }
  async revokeSecret(idHash: Uint8Array): Promise<boolean> {
    return this.keys.delete(Buffer.from(idHash).toString('hex'));
  }
}

test('the derived-key cache never outlives a changed or deleted root key (store answering copies)', async () => {
  const secrets = new CopyingSecretStore();
  const { paid, verifier } = setup({ secrets, cache: false });
  const t = await paid();
  const idHex = Buffer.from(sha256(t.macaroon.identifier)).toString('hex');
  const original = secrets.keys.get(idHex) as Uint8Array;
  const view = request({ authorization: t.header });
  assert.equal(code(await verifier.verify(view, { service: 'api' })), 'ok');
  assert.equal(code(await verifier.verify(view, { service: 'api' })), 'ok', 'second verification, cache warm');

  const rotated = Uint8Array.from(original);
  rotated[31] = (rotated[31] ?? 0) ^ 1; // one bit differs
  secrets.keys.set(idHex, rotated);
  assert.equal(code(await verifier.verify(view, { service: 'api' })), 'L402_ERR_TOKEN_BAD_SIGNATURE');

  secrets.keys.set(idHex, original);
  assert.equal(code(await verifier.verify(view, { service: 'api' })), 'ok', 'the original key verifies again');

  await secrets.revokeSecret(sha256(t.macaroon.identifier));
  assert.equal(
    code(await verifier.verify(view, { service: 'api' })),
    'L402_ERR_TOKEN_REVOKED',
    'a revoked key is never served from the cache',
  );
});
