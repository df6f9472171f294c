import { test } from 'node:test';
import assert from 'node:assert/strict';
import { challengeDecision } from '../../src/core/challenge-decision.js';
import { rejectDecision, TEXT_PLAIN } from '../../src/core/reject-decision.js';
import { parseChallenges } from '../../src/core/challenge.js';

const minted = {
  macaroonBase64: 'AgEEbHNhdAJCAAA=',
  invoice: { paymentRequest: 'lnbcrt10n1pexample', paymentHash: 'ab'.repeat(32), amountSats: 10, expiresAt: 0 },
  paymentHash: 'ab'.repeat(32),
  tokenId: 'cd'.repeat(32),
};

test('challengeDecision: 402 with both reference lines, plain text, no-store, and the token facts', () => {
  const d = challengeDecision(minted, 'L402_ERR_TOKEN_MISSING', 10, 'reference');
  assert.equal(d.kind, 'challenge');
  assert.equal(d.status, 402);
  assert.equal(d.body, 'payment required\n');
  assert.equal(d.code, 'L402_ERR_TOKEN_MISSING');
  assert.equal(d.priceSats, 10);
  assert.equal(d.paymentHash, minted.paymentHash);
  assert.equal(d.tokenId, minted.tokenId);
  const www = d.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v);
  assert.equal(www.length, 2);
  assert.deepEqual(
    parseChallenges(www).map((c) => [c.scheme, c.macaroon, c.invoice]),
    [
      ['LSAT', minted.macaroonBase64, minted.invoice.paymentRequest],
      ['L402', minted.macaroonBase64, minted.invoice.paymentRequest],
    ],
  );
  assert.deepEqual(d.headers.slice(-3), [
    ['Content-Type', TEXT_PLAIN],
    ['Cache-Control', 'no-store'],
    ['X-Content-Type-Options', 'nosniff'],
  ]);
  assert.deepEqual(
    d.offers.map((o) => [o.scheme, o.paymentHash, o.tokenId, o.priceSats, o.authType]),
    [['L402', minted.paymentHash, minted.tokenId, 10, 'l402']],
  );
});

test('challengeDecision: spec form sends one L402 line with version and token', () => {
  const d = challengeDecision(minted, 'L402_ERR_TOKEN_EXPIRED', 3, 'spec');
  const www = d.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v);
  assert.equal(www.length, 1);
  assert.match(www[0] ?? '', /^L402 version="0", token="/);
  assert.equal(d.code, 'L402_ERR_TOKEN_EXPIRED');
});

test('rejectDecision: status, body and code as given, plain text that no cache keeps', () => {
  assert.deepEqual(rejectDecision(401, 'unauthorized\n', 'L402_ERR_TOKEN_MISSING'), {
    kind: 'reject',
    status: 401,
    headers: [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Cache-Control', 'no-store'],
      ['X-Content-Type-Options', 'nosniff'],
    ],
    body: 'unauthorized\n',
    code: 'L402_ERR_TOKEN_MISSING',
  });
});
