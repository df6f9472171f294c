// The credential re-emitted to the backend is the request's own, canonically
// written, even when the memo of earlier headers holds another header that ends
// alike (attenuations of one token share the preimage, hence the memo's key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Macaroon } from '../../src/core/macaroon.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { canonicalAuthorization } from '../../src/proxy/canonical-authorization.js';
import { request } from '../core/support.js';

const preimage = randomBytes(32).toString('hex');
const base = Macaroon.mint(randomBytes(32), randomBytes(66)).withFirstPartyCaveat('services=api:0');

test('LSAT and L402 forms are re-emitted as one canonical L402 line', () => {
  const canonical = formatAuthorization(base.toBase64(), preimage);
  for (let i = 0; i < 3; i++) {
    assert.equal(canonicalAuthorization(request({ authorization: `LSAT ${base.toBase64()}:${preimage.toUpperCase()}` })), canonical);
    assert.equal(canonicalAuthorization(request({ authorization: canonical })), canonical);
  }
});

test('headers ending alike each get their own canonical form, however often they alternate', () => {
  const narrowed = [1, 2, 3].map((n) => base.withFirstPartyCaveat(`n=${n}`));
  for (let round = 0; round < 4; round++) {
    for (const m of narrowed) {
      const lsat = `LSAT ${m.toBase64()}:${preimage}`;
      assert.equal(canonicalAuthorization(request({ authorization: lsat })), formatAuthorization(m.toBase64(), preimage));
    }
  }
});

test('a header that is not a valid credential gives none, even after a valid one with the same end', () => {
  const valid = formatAuthorization(base.toBase64(), preimage);
  canonicalAuthorization(request({ authorization: valid }));
  canonicalAuthorization(request({ authorization: valid }));
  assert.equal(canonicalAuthorization(request({ authorization: `L402 not-a-macaroon:${preimage}` })), undefined);
  assert.equal(canonicalAuthorization(request({ authorization: valid })), valid);
});
