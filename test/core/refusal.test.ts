// Why a credential was refused, in the core every front end shares: the reason set, the
// challenge's `error` parameter (after what deployed clients parse), the body's code and the
// Gate's refusal hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { challengeDecision, unauthorizedDecision } from '../../src/core/challenge-decision.js';
import { formatChallenge, parseChallenges } from '../../src/core/challenge.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { Gate, type RouteOptions } from '../../src/core/gate.js';
import { grpcStatusFor } from '../../src/core/grpc-status.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { Minter } from '../../src/core/minter.js';
import { REFUSAL_REASONS, refusalOf, type Refusal } from '../../src/core/refusal.js';
import type { ChallengeDecision, Decision, RequestView } from '../../src/core/types.js';
import { Verifier } from '../../src/core/verifier.js';
import { FakeInvoicer, TestClock, request } from './support.js';

const MAC = 'AgEEbHNhdAJCAAA=';
const INVOICE = 'lnbcrt10n1fake1';

function at(path: string, headers: Record<string, string | readonly string[]> = {}): RequestView {
  return { ...request(headers), path };
}

function asChallenge(d: Decision): ChallengeDecision {
  assert.equal(d.kind, 'challenge', JSON.stringify(d));
  return d as ChallengeDecision;
}

function setup(options: { isSettled?: (hash: string) => boolean } = {}) {
  const clock = new TestClock();
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const refusals: Refusal[] = [];
  const verifier = new Verifier({
    secrets,
    clock,
    satisfiers: [{ condition: 'region', satisfyFinal: (value) => value === 'eu' }],
    ...(options.isSettled === undefined ? {} : { isSettled: options.isSettled }),
  });
  const gate = new Gate({ minter: new Minter({ invoicer, secrets, clock }), verifier, clock, onRefusal: (r) => refusals.push(r) });
  /** Asks for a challenge at `path` and pays it: the Authorization value, macaroon and token ID. */
  const buy = async (route: RouteOptions, path = '/v1/thing'): Promise<{ authorization: string; macaroon: string; preimage: string; tokenId: string }> => {
    const c = asChallenge(await gate.decide(at(path), route));
    const macaroon = parseChallenges(c.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v))[0]!.macaroon;
    const preimage = invoicer.preimageOf(c.paymentHash);
    return { authorization: formatAuthorization(macaroon, preimage), macaroon, preimage, tokenId: c.tokenId };
  };
  return { clock, invoicer, secrets, gate, refusals, buy };
}

/** The refusal of a challenge decision, checked for the reason and code in headers, body and gRPC status. */
function expectRefused(d: Decision, reason: string, code: string): ChallengeDecision {
  const c = asChallenge(d);
  assert.equal(c.code, code);
  assert.equal(c.refusal?.reason, reason);
  assert.equal(c.body, `payment required (${code})\n`);
  const www = c.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v);
  assert.equal(www.length, 2);
  for (const line of www) assert.match(line, new RegExp(`^(LSAT|L402) macaroon="[^"]+", invoice="[^"]+", error="${reason}"$`));
  assert.equal(grpcStatusFor(c).message, `payment required (${code})`);
  return c;
}

test('every code the verifier refuses with has its own reason; a missing credential is no refusal', () => {
  const codes: Record<string, string> = {
    L402_ERR_TOKEN_MALFORMED: 'malformed',
    L402_ERR_MACAROON_BAD_ENCODING: 'malformed',
    L402_ERR_MACAROON_MALFORMED: 'malformed',
    L402_ERR_MACAROON_TOO_LARGE: 'malformed',
    L402_ERR_MACAROON_UNSUPPORTED_VERSION: 'malformed',
    L402_ERR_TOKEN_BAD_IDENTIFIER: 'malformed',
    L402_ERR_TOKEN_UNKNOWN_VERSION: 'malformed',
    L402_ERR_TOKEN_CONFLICTING: 'conflicting',
    L402_ERR_TOKEN_BAD_PREIMAGE: 'bad_preimage',
    L402_ERR_TOKEN_REVOKED: 'revoked',
    L402_ERR_TOKEN_BAD_SIGNATURE: 'bad_signature',
    L402_ERR_TOKEN_THIRD_PARTY_CAVEAT: 'bad_caveat',
    L402_ERR_TOKEN_BAD_CAVEAT: 'bad_caveat',
    L402_ERR_TOKEN_CAVEAT_WIDENED: 'bad_caveat',
    L402_ERR_TOKEN_WRONG_SERVICE: 'wrong_service',
    L402_ERR_TOKEN_EXPIRED: 'expired',
    L402_ERR_TOKEN_MISSING_CAPABILITY: 'missing_capability',
    L402_ERR_TOKEN_CAVEAT_UNSATISFIED: 'caveat_unsatisfied',
    L402_ERR_TOKEN_UNPAID: 'unpaid',
  };
  for (const [code, reason] of Object.entries(codes)) {
    assert.equal(refusalOf({ code, reason: 'why' })?.reason, reason, code);
    assert.ok((REFUSAL_REASONS as readonly string[]).includes(reason));
  }
  assert.equal(refusalOf({ code: 'L402_ERR_TOKEN_MISSING' }), undefined);
  // A code from elsewhere stays within the bounded set; own-property lookups only.
  assert.equal(refusalOf({ code: 'constructor' })?.reason, 'other');
  assert.equal(refusalOf({ code: '__proto__' })?.reason, 'other');
  assert.deepEqual(refusalOf({ code: 'L402_ERR_TOKEN_EXPIRED', reason: 'token expired at 5', tokenId: 'ab' }), {
    reason: 'expired',
    code: 'L402_ERR_TOKEN_EXPIRED',
    detail: 'token expired at 5',
    tokenId: 'ab',
  });
});

test('the error parameter follows macaroon and invoice: the reference clients still read both', () => {
  const lines = formatChallenge(MAC, INVOICE, 'reference', 'expired').map(([, v]) => v);
  assert.deepEqual(lines, [
    `LSAT macaroon="${MAC}", invoice="${INVOICE}", error="expired"`,
    `L402 macaroon="${MAC}", invoice="${INVOICE}", error="expired"`,
  ]);
  // aperture's Go client interceptor and lnget.
  for (const re of [/(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/, /(LSAT|L402)\s+macaroon="([^"]+)",\s*invoice="([^"]+)"/i]) {
    const m = re.exec(lines[0]!);
    assert.deepEqual([m?.[2], m?.[3]], [MAC, INVOICE]);
  }
  // Key=value scanners (Alby's parseL402) and the tolerant parser here.
  const pairs = Object.fromEntries([...lines[1]!.slice(5).matchAll(/(\w+)=("([^"]*)"|([^,]*))/g)].map((m) => [m[1], m[3] ?? m[4]]));
  assert.deepEqual(pairs, { macaroon: MAC, invoice: INVOICE, error: 'expired' });
  const parsed = parseChallenges(lines);
  assert.deepEqual(parsed.map((c) => [c.scheme, c.macaroon, c.invoice, c.error]), [
    ['LSAT', MAC, INVOICE, 'expired'],
    ['L402', MAC, INVOICE, 'expired'],
  ]);
  // Without a refusal, nothing changes; the spec form gets the parameter last too.
  assert.deepEqual(formatChallenge(MAC, INVOICE).map(([, v]) => v), [`LSAT macaroon="${MAC}", invoice="${INVOICE}"`, `L402 macaroon="${MAC}", invoice="${INVOICE}"`]);
  assert.equal(parseChallenges(formatChallenge(MAC, INVOICE).map(([, v]) => v))[0]?.error, undefined);
  assert.equal(formatChallenge(MAC, INVOICE, 'spec', 'revoked')[0]![1], `L402 version="0", token="${MAC}", invoice="${INVOICE}", error="revoked"`);
  // A value is always a well-formed quoted-string.
  assert.equal(formatChallenge(MAC, INVOICE, 'spec', 'a"b\\c\r\n')[0]![1].endsWith(', error="a\\"b\\\\c"'), true);
  assert.equal(parseChallenges(formatChallenge(MAC, INVOICE, 'spec', 'a"b\\c')[0]![1])[0]?.error, 'a"b\\c');
});

test('challengeDecision and unauthorizedDecision name the refused code; a first request looks as before', () => {
  const minted = { macaroonBase64: MAC, invoice: { paymentRequest: INVOICE } as never, paymentHash: 'aa', tokenId: 'bb' };
  const first = challengeDecision(minted, 'L402_ERR_TOKEN_MISSING', 1, 'reference');
  assert.equal(first.body, 'payment required\n');
  assert.equal(first.refusal, undefined);
  assert.equal(grpcStatusFor(first).message, 'payment required');
  const refused = challengeDecision(minted, 'L402_ERR_TOKEN_REVOKED', 1, 'reference');
  assert.equal(refused.body, 'payment required (L402_ERR_TOKEN_REVOKED)\n');
  assert.equal(refused.refusal?.reason, 'revoked');
  assert.match(refused.headers[0]![1], /, error="revoked"$/);
  assert.equal(unauthorizedDecision('L402_ERR_TOKEN_MISSING').body, 'unauthorized\n');
  const u = unauthorizedDecision('L402_ERR_TOKEN_EXPIRED');
  assert.equal(u.status, 401);
  assert.equal(u.body, 'unauthorized (L402_ERR_TOKEN_EXPIRED)\n');
  assert.equal(grpcStatusFor(u).message, 'unauthorized (L402_ERR_TOKEN_EXPIRED)');
});

test('the Gate says why for each check, and tells onRefusal the token ID (never for a request without a credential)', async () => {
  const { gate, refusals, buy, secrets, clock, invoicer } = setup();
  const route: RouteOptions = { service: 'api', priceSats: 5, timeoutSeconds: 60, capabilities: ['read'], constraints: { region: 'eu' } };

  asChallenge(await gate.decide(request(), route));
  assert.equal(refusals.length, 0);

  expectRefused(await gate.decide(request({ authorization: 'L402 garbage' }), route), 'malformed', 'L402_ERR_TOKEN_MALFORMED');
  assert.equal(refusals.at(-1)?.tokenId, undefined);

  const a = await buy(route);
  const b = await buy(route);
  expectRefused(await gate.decide(request({ authorization: [a.authorization, b.authorization] }), route), 'conflicting', 'L402_ERR_TOKEN_CONFLICTING');
  expectRefused(await gate.decide(request({ authorization: formatAuthorization(a.macaroon, '00'.repeat(32)) }), route), 'bad_preimage', 'L402_ERR_TOKEN_BAD_PREIMAGE');
  assert.equal(refusals.at(-1)?.tokenId, a.tokenId);

  const bytes = Macaroon.fromBase64(a.macaroon).toBinary();
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  expectRefused(await gate.decide(request({ authorization: formatAuthorization(Buffer.from(bytes).toString('base64'), a.preimage) }), route), 'bad_signature', 'L402_ERR_TOKEN_BAD_SIGNATURE');

  const widened = Macaroon.fromBase64(a.macaroon).withFirstPartyCaveat('services=api:0,other:0').toBase64();
  expectRefused(await gate.decide(request({ authorization: formatAuthorization(widened, a.preimage) }), route), 'bad_caveat', 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  const elsewhere = Macaroon.fromBase64(a.macaroon).withFirstPartyCaveat('region=us').toBase64();
  expectRefused(await gate.decide(request({ authorization: formatAuthorization(elsewhere, a.preimage) }), route), 'caveat_unsatisfied', 'L402_ERR_TOKEN_CAVEAT_UNSATISFIED');

  expectRefused(await gate.decide(request({ authorization: a.authorization }), { ...route, service: 'other' }), 'wrong_service', 'L402_ERR_TOKEN_WRONG_SERVICE');
  expectRefused(await gate.decide(request({ authorization: a.authorization }), { ...route, requiredCapability: 'write' }), 'missing_capability', 'L402_ERR_TOKEN_MISSING_CAPABILITY');

  await secrets.revokeSecret(createHash('sha256').update(Macaroon.fromBase64(b.macaroon).identifier).digest());
  expectRefused(await gate.decide(request({ authorization: b.authorization }), route), 'revoked', 'L402_ERR_TOKEN_REVOKED');
  assert.equal(refusals.at(-1)?.tokenId, b.tokenId);

  assert.equal((await gate.decide(request({ authorization: a.authorization }), route)).kind, 'allow');
  clock.ms += 61_000;
  expectRefused(await gate.decide(request({ authorization: a.authorization }), route), 'expired', 'L402_ERR_TOKEN_EXPIRED');
  const last = refusals.at(-1)!;
  assert.equal(last.tokenId, a.tokenId);
  assert.match(last.detail, /expired/);
  // The hook is told which check failed, never the credential.
  for (const r of refusals) for (const secret of [a.preimage, b.preimage, a.macaroon, b.macaroon]) assert.ok(!JSON.stringify(r).includes(secret));

  // A skip-invoice route answers 401 with the code; nothing is minted.
  const before = invoicer.requests.length;
  const skip = await gate.decide(request({ authorization: a.authorization }), { ...route, skipInvoiceCreation: true });
  assert.equal(skip.kind, 'reject');
  if (skip.kind === 'reject') {
    assert.equal(skip.body, 'unauthorized (L402_ERR_TOKEN_EXPIRED)\n');
    assert.equal(skip.refusal?.reason, 'expired');
  }
  assert.equal(invoicer.requests.length, before);

  // A throwing hook changes nothing.
  const loud = new Gate({ minter: new Minter({ invoicer, secrets, clock }), verifier: new Verifier({ secrets, clock }), clock, onRefusal: () => { throw new Error('log down'); } });
  expectRefused(await loud.decide(request({ authorization: 'L402 garbage' }), route), 'malformed', 'L402_ERR_TOKEN_MALFORMED');
});

test('strict verification refuses an unpaid token as unpaid', async () => {
  const { gate, buy } = setup({ isSettled: () => false });
  const t = await buy({ service: 'api', priceSats: 1 });
  expectRefused(await gate.decide(request({ authorization: t.authorization }), { service: 'api', priceSats: 1 }), 'unpaid', 'L402_ERR_TOKEN_UNPAID');
});
