// Constraints are fixed values: with constraintSatisfier/equalitySatisfiers a
// holder cannot append a different value of a minted constraint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { checkCaveats, constraintSatisfier, equalitySatisfiers } from '../../src/core/caveats.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { L402Error } from '../../src/core/errors.js';
import { FakeInvoicer, TestClock, request } from './support.js';

const NOW = 1_800_000_000_000;

test('equalitySatisfiers: a repeated constraint must keep its value; other conditions are untouched', () => {
  const sats = new Map(equalitySatisfiers(['max_size', 'region', 'max_size']).map((s) => [s.condition, s]));
  assert.deepEqual([...sats.keys()], ['max_size', 'region']);
  const check = (caveats: string[]) => {
    const r = checkCaveats(caveats, 'api', undefined, NOW, sats, 'ab'.repeat(32));
    return r.ok ? 'ok' : r.code;
  };
  assert.equal(check(['services=api:0', 'max_size=100']), 'ok');
  assert.equal(check(['services=api:0', 'max_size=100', 'max_size=100']), 'ok');
  assert.equal(check(['services=api:0', 'max_size=100', 'max_size=999999']), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(['services=api:0', 'max_size=100', 'max_size=1']), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(['services=api:0', 'region=eu', 'region=eu,us']), 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  assert.equal(check(['services=api:0', 'other=1', 'other=2']), 'ok');
  // Without the satisfiers the last value wins: the hole these close.
  const open = checkCaveats(['services=api:0', 'max_size=100', 'max_size=999999'], 'api', undefined, NOW, undefined, 'ab'.repeat(32));
  assert.equal(open.ok, true);
});

test('constraintSatisfier: rejects an empty key or one with =', () => {
  for (const bad of ['', 'a=b']) {
    assert.throws(
      () => constraintSatisfier(bad),
      (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_TOKEN_BAD_CAVEAT',
    );
  }
  assert.equal(
    constraintSatisfier('max_size').satisfyFinal('anything', { service: 'api', capability: undefined, now: NOW, tokenId: '' }),
    true,
  );
});

test('Verifier with equalitySatisfiers: an appended max_size is refused, the minted token passes', async () => {
  const clock = new TestClock(NOW);
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const minter = new Minter({ invoicer, secrets, clock });
  const verifier = new Verifier({ secrets, clock, satisfiers: equalitySatisfiers(['max_size']) });
  const t = await minter.mint({ services: [{ name: 'api', tier: 0 }], priceSats: 5, caveats: ['max_size=100'] });
  const preimage = invoicer.preimageOf(t.paymentHash);
  const minted = await verifier.verify(request({ authorization: formatAuthorization(t.macaroonBase64, preimage) }), { service: 'api' });
  assert.equal(minted.ok, true);
  const widened = Macaroon.fromBase64(t.macaroonBase64).withFirstPartyCaveat('max_size=999999');
  const r = await verifier.verify(request({ authorization: formatAuthorization(widened.toBase64(), preimage) }), { service: 'api' });
  assert.equal(r.ok ? 'ok' : r.code, 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  const same = Macaroon.fromBase64(t.macaroonBase64).withFirstPartyCaveat('max_size=100');
  const s = await verifier.verify(request({ authorization: formatAuthorization(same.toBase64(), preimage) }), { service: 'api' });
  assert.equal(s.ok, true);
});
