// The L402 scheme on its own: the credential forwarded to a backend is the
// request's own, re-emitted as the reference forwards it (LSAT line, then L402
// line), even when the memo of earlier headers holds another header that ends
// alike (attenuations of one token share the preimage, hence the memo's key);
// its own credentials are recognised for stripping; its offer mints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Macaroon } from '../../src/core/macaroon.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { forwardedL402Authorization, L402_CREDENTIALS, L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { FakeInvoicer, request } from './support.js';

const preimage = randomBytes(32).toString('hex');
const base = Macaroon.mint(randomBytes(32), randomBytes(66)).withFirstPartyCaveat('services=api:0');

const twoLines = (mac: string, pre: string): string[] => [formatAuthorization(mac, pre, 'LSAT'), formatAuthorization(mac, pre)];

test('LSAT and L402 forms are forwarded as the reference forwards them: LSAT line, then L402 line', () => {
  const expected = twoLines(base.toBase64(), preimage);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(forwardedL402Authorization(request({ authorization: `LSAT ${base.toBase64()}:${preimage.toUpperCase()}` })), expected);
    assert.deepEqual(forwardedL402Authorization(request({ authorization: formatAuthorization(base.toBase64(), preimage) })), expected);
  }
  // The Macaroon header form (hex, preimage caveat) too: the macaroon as sent, caveat included.
  const withPreimage = base.withFirstPartyCaveat(`preimage=${preimage}`);
  assert.deepEqual(forwardedL402Authorization(request({ macaroon: withPreimage.toHex() })), twoLines(withPreimage.toBase64(), preimage));
});

test('headers ending alike each get their own lines, however often they alternate', () => {
  const narrowed = [1, 2, 3].map((n) => base.withFirstPartyCaveat(`n=${n}`));
  for (let round = 0; round < 4; round++) {
    for (const m of narrowed) {
      assert.deepEqual(
        forwardedL402Authorization(request({ authorization: `LSAT ${m.toBase64()}:${preimage}` })),
        twoLines(m.toBase64(), preimage),
      );
    }
  }
});

test('a header that is not a valid credential gives none, even after a valid one with the same end', () => {
  const valid = formatAuthorization(base.toBase64(), preimage);
  forwardedL402Authorization(request({ authorization: valid }));
  forwardedL402Authorization(request({ authorization: valid }));
  assert.equal(forwardedL402Authorization(request({ authorization: `L402 not-a-macaroon:${preimage}` })), undefined);
  assert.deepEqual(forwardedL402Authorization(request({ authorization: valid })), twoLines(base.toBase64(), preimage));
});

test('recognises its own credentials: the Macaroon headers, and L402/LSAT credentials in an Authorization value', () => {
  assert.equal(L402_CREDENTIALS.name, 'L402');
  assert.deepEqual([...L402_CREDENTIALS.credentialHeaders], ['macaroon', 'grpc-metadata-macaroon']);
  assert.equal(L402_CREDENTIALS.withoutCredentials(`Bearer x, L402 ${base.toBase64()}:${preimage}`), 'Bearer x');
  assert.equal(L402_CREDENTIALS.withoutCredentials(`LSAT ${base.toBase64()}:${preimage}`), undefined);
  assert.equal(L402_CREDENTIALS.withoutCredentials('Payment abc'), 'Payment abc');
});

test("the offer mints a token for the target (the resource of a path-scoped route) with the route's caveats", async () => {
  const secrets = new MemorySecretStore();
  const invoicer = new FakeInvoicer();
  const scheme = new L402Scheme({ minter: new Minter({ invoicer, secrets }), verifier: new Verifier({ secrets }), challengeForm: 'spec' });
  const offer = await scheme.offer({
    request: request(),
    route: { service: 'api', capabilities: ['read'], caveats: ['extra=1'] },
    target: { service: 'api', resource: 'api/v1/x' },
    priceSats: 7,
    refusal: undefined,
    now: Date.UTC(2030, 0, 1),
  });
  assert.equal(offer.scheme, 'L402');
  assert.equal(offer.authType, 'l402');
  assert.equal(offer.priceSats, 7);
  assert.equal(offer.headers.length, 1, 'the spec form is one line');
  const [challenge] = parseChallenges(offer.headers.map(([, v]) => v));
  assert.deepEqual(Macaroon.fromBase64(challenge!.macaroon).firstPartyCaveats(), [
    'services=api/v1/x:0',
    'api_capabilities=read',
    'extra=1',
  ]);
});

test('without a minter the scheme only verifies: its offer fails with L402_ERR_LN_UNAVAILABLE', async () => {
  const secrets = new MemorySecretStore();
  const scheme = new L402Scheme({ minter: undefined, verifier: new Verifier({ secrets }) });
  await assert.rejects(
    scheme.offer({ request: request(), route: { service: 'api' }, target: { service: 'api' }, priceSats: 1, refusal: undefined, now: 0 }),
    { code: 'L402_ERR_LN_UNAVAILABLE' },
  );
  const missing = await scheme.verify(request(), { service: 'api' });
  assert.equal(missing.ok, false);
  assert.equal(!missing.ok && missing.code, scheme.missingCode);
});
