// The MPP codecs beyond the reference's vectors: property tests (random input gives a
// value or a coded L402Error, round trips hold) and the rules the vectors leave out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { L402Error } from '../../src/core/errors.js';
import { decodeBase64Url, encodeBase64Url } from '../../src/mpp/base64url.js';
import { canonicalize, canonicalizeJson } from '../../src/mpp/jcs.js';
import {
  computeChallengeId,
  formatPaymentChallenge,
  parsePaymentChallenges,
  quoteAuthParam,
  unquotableParam,
  verifyChallengeId,
  type PaymentChallenge,
} from '../../src/mpp/payment-challenge.js';
import {
  encodePaymentCredential,
  isPaymentAuthorization,
  MAX_CREDENTIAL_TOKEN_LENGTH,
  parsePaymentCredential,
} from '../../src/mpp/payment-credential.js';
import { decodePaymentReceipt, encodeChargeReceipt, encodeSessionReceipt, needTopUpEventJson } from '../../src/mpp/payment-receipt.js';
import { PROBLEM_TYPES, paymentRequiredProblem, problemBody, problemFor } from '../../src/mpp/problem.js';
import { L402_ERROR_CODES } from '../../src/core/error-codes.js';

const RUNS = { numRuns: 300 };
const isCode = (code: string) => (e: unknown) => e instanceof L402Error && e.code === code;

function codedOrValue(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof L402Error, `uncoded exception: ${String(err)}`);
    assert.match(err.code, /^L402_ERR_MPP_(MALFORMED|INVALID_ARGUMENT)$/);
  }
}

/** Printable values a header can carry (tab and non-ASCII included), and quote/backslash. */
const headerText = fc
  .string({ unit: fc.oneof(fc.constantFrom('\t', '"', '\\', ',', '=', ' ', 'é', '😀'), fc.string({ minLength: 1, maxLength: 1 })) })
  .filter((s) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(s));
const challengeArb: fc.Arbitrary<PaymentChallenge> = fc
  .record(
    {
      id: headerText.filter((s) => s !== ''),
      realm: headerText.filter((s) => s !== ''),
      method: headerText.filter((s) => s !== ''),
      intent: headerText.filter((s) => s !== ''),
      request: headerText.filter((s) => s !== ''),
      expires: headerText.filter((s) => s !== ''),
      digest: headerText.filter((s) => s !== ''),
      description: headerText.filter((s) => s !== ''),
      opaque: headerText.filter((s) => s !== ''),
    },
    { requiredKeys: ['id', 'realm', 'method', 'intent', 'request'] },
  )
  .map((c) => ({ ...c }));

describe('MPP codecs: properties', () => {
  it('base64url round-trips any bytes and decodes only its one spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = encodeBase64Url(bytes);
        assert.deepEqual(new Uint8Array(decodeBase64Url(text)), bytes);
        assert.doesNotMatch(text, /[=+/]/);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string(), (s) => codedOrValue(() => decodeBase64Url(s))),
      RUNS,
    );
  });

  it('a challenge line parses back to its parameters, alone or in a list with other schemes', () => {
    fc.assert(
      fc.property(challengeArb, challengeArb, (a, b) => {
        assert.deepEqual(parsePaymentChallenges(formatPaymentChallenge(a)), [a]);
        const joined = `L402 macaroon="x", invoice="y", ${formatPaymentChallenge(a)}, Basic realm="z", ${formatPaymentChallenge(b)}`;
        assert.deepEqual(parsePaymentChallenges(joined), [a, b]);
        assert.deepEqual(parsePaymentChallenges([formatPaymentChallenge(a), formatPaymentChallenge(b)]), [a, b]);
      }),
      RUNS,
    );
  });

  it('random header values give challenges or a coded error', () => {
    fc.assert(
      fc.property(fc.string(), (s) => codedOrValue(() => parsePaymentChallenges(s))),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string(), (s) => codedOrValue(() => parsePaymentChallenges(`Payment ${s}`))),
      RUNS,
    );
  });

  it('a credential round-trips, and random tokens give a credential or a coded error', () => {
    fc.assert(
      fc.property(
        challengeArb,
        fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (challenge, source, payload) => {
          const credential = { challenge, payload, ...(source !== undefined ? { source } : {}) };
          const parsed = parsePaymentCredential(`Payment ${encodePaymentCredential(credential)}`);
          assert.deepEqual(parsed.challenge, challenge);
          assert.equal(parsed.source, source);
          assert.deepEqual(JSON.stringify(parsed.payload), JSON.stringify(payload));
        },
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string(), (s) => codedOrValue(() => parsePaymentCredential(`Payment ${s}`))),
      RUNS,
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) =>
        codedOrValue(() => parsePaymentCredential(`Payment ${encodeBase64Url(Buffer.from(JSON.stringify(v) ?? 'null'))}`)),
      ),
      RUNS,
    );
  });

  it('JCS is a fixed point and agrees with JSON.parse on every JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canonical = canonicalize(value);
        assert.equal(canonicalizeJson(canonical), canonical);
        assert.deepEqual(JSON.parse(canonical), JSON.parse(JSON.stringify(value)));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string(), (s) => codedOrValue(() => canonicalizeJson(s))),
      RUNS,
    );
  });

  it('the challenge id changes with every covered parameter, and not with the description', () => {
    const secret = Buffer.alloc(32, 3);
    fc.assert(
      fc.property(challengeArb, fc.constantFrom('realm', 'method', 'intent', 'request', 'expires', 'digest', 'opaque'), (c, slot) => {
        const signed = { ...c, id: computeChallengeId(secret, c) };
        assert.ok(verifyChallengeId(secret, signed));
        assert.ok(verifyChallengeId(secret, { ...signed, description: `${c.description ?? ''}x` }));
        assert.equal(verifyChallengeId(secret, { ...signed, [slot]: `${signed[slot] ?? ''}x` }), false);
      }),
      RUNS,
    );
  });
});

describe('MPP codecs: rules', () => {
  it('quotes only backslash and quote, and drops what a header cannot carry', () => {
    assert.equal(quoteAuthParam('a"b\\c\td'), '"a\\"b\\\\c\td"');
    assert.equal(quoteAuthParam('evil\r\nSet-Cookie: x\x00\x7f'), '"evilSet-Cookie: x"');
    assert.equal(unquotableParam({ id: 'i', realm: 'r\n', method: 'm', intent: 'c', request: 'q' }), 'realm');
    assert.equal(unquotableParam({ id: 'i', realm: 'r\t', method: 'm', intent: 'c', request: 'q', description: 'é' }), undefined);
  });

  it('reads names case-insensitively, keeps the first repeated parameter, takes a missing closing quote as the end', () => {
    assert.deepEqual(parsePaymentChallenges('PAYMENT Id="a", REALM=r, method="lightning", intent="charge", request="cQ", id="b"'), [
      { id: 'a', realm: 'r', method: 'lightning', intent: 'charge', request: 'cQ' },
    ]);
    assert.deepEqual(parsePaymentChallenges('Payment id="a", realm="r", method="lightning", intent="charge", request="cQ'), [
      { id: 'a', realm: 'r', method: 'lightning', intent: 'charge', request: 'cQ' },
    ]);
    assert.throws(() => parsePaymentChallenges('id="a", Payment'), isCode('L402_ERR_MPP_MALFORMED'));
    assert.throws(() => parsePaymentChallenges(['Basic realm="x"', 'L402 macaroon="m"']), isCode('L402_ERR_MPP_MALFORMED'));
  });

  it('bounds the credential token and types every field', () => {
    assert.equal(MAX_CREDENTIAL_TOKEN_LENGTH, 87_384);
    const challenge = { id: 'i', realm: 'r', method: 'lightning', intent: 'charge', request: 'cQ' };
    const pad = 'x'.repeat(65_536 - 110);
    const big = encodePaymentCredential({ challenge, payload: { pad } });
    assert.ok(big.length <= MAX_CREDENTIAL_TOKEN_LENGTH);
    assert.equal(parsePaymentCredential(`Payment ${big}`).payload['pad'], pad);
    const tooBig = encodePaymentCredential({ challenge, payload: { pad: `${pad}${'x'.repeat(200)}` } });
    assert.throws(() => parsePaymentCredential(`Payment ${tooBig}`), isCode('L402_ERR_MPP_MALFORMED'));
    const token = (v: unknown) => `Payment ${encodeBase64Url(Buffer.from(JSON.stringify(v)))}`;
    for (const bad of [
      [],
      { challenge, payload: [] },
      { challenge, payload: 'p' },
      { challenge: { ...challenge, realm: 5 }, payload: {} },
      { challenge: { ...challenge, expires: 5 }, payload: {} },
      { challenge, source: 5, payload: {} },
      { challenge: 'c', payload: {} },
    ]) {
      assert.throws(() => parsePaymentCredential(token(bad)), isCode('L402_ERR_MPP_MALFORMED'), JSON.stringify(bad));
    }
    assert.throws(() => parsePaymentCredential(`Payment ${encodeBase64Url(Buffer.from([0xff, 0xfe]))}`), isCode('L402_ERR_MPP_MALFORMED'));
    assert.throws(() => parsePaymentCredential('Payment'), isCode('L402_ERR_MPP_MALFORMED'));
    assert.equal(isPaymentAuthorization('payment x'), true);
    assert.equal(isPaymentAuthorization('Payments x'), false);
  });

  it('refuses what JCS cannot represent', () => {
    const bad = isCode('L402_ERR_MPP_INVALID_ARGUMENT');
    assert.throws(() => canonicalize(Number.NaN), bad);
    assert.throws(() => canonicalize(Number.POSITIVE_INFINITY), bad);
    assert.throws(() => canonicalize(1n), bad);
    assert.throws(() => canonicalize([undefined]), bad);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(() => canonicalize(cyclic), bad);
    assert.equal(canonicalize({ b: undefined, a: [1, 'x', null, true] }), '{"a":[1,"x",null,true]}');
    assert.equal(canonicalize({ same: [1], other: [1] }), '{"other":[1],"same":[1]}');
  });

  it('encodes receipts without empty members and refuses bad amounts', () => {
    const base = { method: 'lightning', reference: 'r', status: 'success' as const, timestamp: 't' };
    assert.equal(
      Buffer.from(encodeSessionReceipt({ ...base, refundSats: 0 }), 'base64url').toString(),
      '{"method":"lightning","reference":"r","status":"success","timestamp":"t"}',
    );
    assert.throws(() => encodeSessionReceipt({ ...base, refundSats: -1 }), isCode('L402_ERR_MPP_INVALID_ARGUMENT'));
    assert.throws(() => encodeSessionReceipt({ ...base, refundSats: 1.5 }), isCode('L402_ERR_MPP_INVALID_ARGUMENT'));
    assert.throws(
      () => needTopUpEventJson({ sessionId: 's', balanceSpent: -1n, balanceRequired: 1 }),
      isCode('L402_ERR_MPP_INVALID_ARGUMENT'),
    );
    assert.equal(
      Buffer.from(
        encodeChargeReceipt({ status: 'success', method: 'lightning', timestamp: 't', reference: 'r', challengeId: '' }),
        'base64url',
      ).toString(),
      '{"status":"success","method":"lightning","timestamp":"t","reference":"r"}',
    );
    assert.throws(() => decodePaymentReceipt(encodeBase64Url(Buffer.from('{"status":"failed"}'))), isCode('L402_ERR_MPP_MALFORMED'));
    assert.throws(() => decodePaymentReceipt(encodeBase64Url(Buffer.from('[1]'))), isCode('L402_ERR_MPP_MALFORMED'));
    assert.throws(() => decodePaymentReceipt('not base64!'), isCode('L402_ERR_MPP_MALFORMED'));
  });

  it('maps every refusal code of the table to a problem type of the drafts', () => {
    const refusalCodes = Object.keys(L402_ERROR_CODES).filter(
      (c) => c.startsWith('L402_ERR_MPP_') && c !== 'L402_ERR_MPP_INVALID_ARGUMENT',
    );
    const types = new Set<string>(Object.values(PROBLEM_TYPES));
    for (const code of refusalCodes) {
      const problem = problemFor(code as Parameters<typeof problemFor>[0], 'why', 'cid');
      assert.ok(types.has(problem.type), code);
      assert.equal(problem.status, 402);
      assert.deepEqual(Object.keys(JSON.parse(problemBody(problem)) as object), ['type', 'title', 'status', 'detail', 'challengeId']);
    }
    assert.equal(paymentRequiredProblem().type, 'https://paymentauth.org/problems/payment-required');
  });
});
