// The client's browser-safe Payment codec against the reference's vectors and
// the server's codecs (aperture-ts/mpp): challenge lines and lists read alike,
// credentials written byte for byte as the server's encoder writes them (and
// parsed back by the server's strict parser), receipts read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { paymentAuthorization, readJsonParam, readPaymentChallenges, type ClientPaymentChallenge } from '../../src/client/payment-wire.js';
import { encodePaymentCredential, parsePaymentCredential } from '../../src/mpp/payment-credential.js';
import { formatPaymentChallenge, parsePaymentChallenges } from '../../src/mpp/payment-challenge.js';

interface Vectors {
  challengeHeaders: Array<{ name: string; header: string; parsed: ClientPaymentChallenge }>;
  challengeLists: Array<{ name: string; header: string; challenges?: ClientPaymentChallenge[]; error?: boolean }>;
  credentials: Array<{ name: string; credentialJson: string; header: string; error?: boolean }>;
  receipts: Array<{ name: string; receiptJson: string; header: string }>;
}
const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/mpp-vectors.json', import.meta.url), 'utf8')) as Vectors;

test('challenge headers and lists of the vectors read as the server codec reads them', () => {
  for (const v of vectors.challengeHeaders) assert.deepEqual(readPaymentChallenges([v.header]), [v.parsed], v.name);
  for (const v of vectors.challengeLists) {
    if (v.error === true) {
      // The server's parser refuses these; the client finds nothing to pay in them.
      assert.throws(() => parsePaymentChallenges(v.header));
      assert.deepEqual(readPaymentChallenges([v.header]), [], v.name);
    } else {
      assert.deepEqual(readPaymentChallenges([v.header]), v.challenges, v.name);
    }
  }
});

test('credentials are written as the server encoder writes them, and parse back', () => {
  let checked = 0;
  for (const v of vectors.credentials) {
    if (v.error === true) continue;
    const want = JSON.parse(v.credentialJson) as { challenge: ClientPaymentChallenge; source?: string; payload: Record<string, string> };
    if (want.source !== undefined || Object.values(want.payload).some((x) => typeof x !== 'string')) continue;
    assert.equal(
      paymentAuthorization(want.challenge, want.payload),
      `Payment ${encodePaymentCredential({ challenge: want.challenge, payload: want.payload })}`,
      v.name,
    );
    const back = parsePaymentCredential(paymentAuthorization(want.challenge, want.payload));
    assert.deepEqual(back.challenge, want.challenge);
    assert.deepEqual(back.payload, want.payload);
    checked++;
  }
  assert.ok(checked > 0);
});

test('quotes, backslashes and commas in parameters survive the round trip through a header', () => {
  const challenge: ClientPaymentChallenge = {
    id: 'abc',
    realm: 'r "x", \\y',
    method: 'lightning',
    intent: 'charge',
    request: 'e30',
    description: 'a, b="c"',
    expires: '2030-01-01T00:00:00Z',
  };
  const line = `L402 macaroon="AGIAJEemVQUTEyNCR0exk7ek90Cg==", invoice="lnbc1", ${formatPaymentChallenge(challenge)}, Payment id="only-id"`;
  assert.deepEqual(readPaymentChallenges([line]), [challenge]);
});

test('receipts decode', () => {
  for (const v of vectors.receipts) assert.deepEqual(readJsonParam(v.header), JSON.parse(v.receiptJson), v.name);
  assert.equal(readJsonParam('not base64url!'), undefined);
  assert.equal(readJsonParam('WzFd'), undefined, 'an array is not a receipt');
});
