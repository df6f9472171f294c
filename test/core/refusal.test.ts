// Why a credential was refused, in the core every front end shares: the reason set, the
// challenge's `error` parameter (after what deployed clients parse), the body's code, the
// Gate's refusal hook, and tokens scoped to the resource a function price was asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { checkCaveats, parseServices, resourceName, servicesCaveat } from '../../src/core/caveats.js';
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
  const buy = async (
    route: RouteOptions,
    path = '/v1/thing',
  ): Promise<{ authorization: string; macaroon: string; preimage: string; tokenId: string }> => {
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
    L402_ERR_TOKEN_WRONG_RESOURCE: 'wrong_resource',
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
  assert.deepEqual(
    parsed.map((c) => [c.scheme, c.macaroon, c.invoice, c.error]),
    [
      ['LSAT', MAC, INVOICE, 'expired'],
      ['L402', MAC, INVOICE, 'expired'],
    ],
  );
  // Without a refusal, nothing changes; the spec form gets the parameter last too.
  assert.deepEqual(
    formatChallenge(MAC, INVOICE).map(([, v]) => v),
    [`LSAT macaroon="${MAC}", invoice="${INVOICE}"`, `L402 macaroon="${MAC}", invoice="${INVOICE}"`],
  );
  assert.equal(parseChallenges(formatChallenge(MAC, INVOICE).map(([, v]) => v))[0]?.error, undefined);
  assert.equal(
    formatChallenge(MAC, INVOICE, 'spec', 'revoked')[0]![1],
    `L402 version="0", token="${MAC}", invoice="${INVOICE}", error="revoked"`,
  );
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
  expectRefused(
    await gate.decide(request({ authorization: [a.authorization, b.authorization] }), route),
    'conflicting',
    'L402_ERR_TOKEN_CONFLICTING',
  );
  expectRefused(
    await gate.decide(request({ authorization: formatAuthorization(a.macaroon, '00'.repeat(32)) }), route),
    'bad_preimage',
    'L402_ERR_TOKEN_BAD_PREIMAGE',
  );
  assert.equal(refusals.at(-1)?.tokenId, a.tokenId);

  const bytes = Macaroon.fromBase64(a.macaroon).toBinary();
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  expectRefused(
    await gate.decide(request({ authorization: formatAuthorization(Buffer.from(bytes).toString('base64'), a.preimage) }), route),
    'bad_signature',
    'L402_ERR_TOKEN_BAD_SIGNATURE',
  );

  const widened = Macaroon.fromBase64(a.macaroon).withFirstPartyCaveat('services=api:0,other:0').toBase64();
  expectRefused(
    await gate.decide(request({ authorization: formatAuthorization(widened, a.preimage) }), route),
    'bad_caveat',
    'L402_ERR_TOKEN_CAVEAT_WIDENED',
  );
  const elsewhere = Macaroon.fromBase64(a.macaroon).withFirstPartyCaveat('region=us').toBase64();
  expectRefused(
    await gate.decide(request({ authorization: formatAuthorization(elsewhere, a.preimage) }), route),
    'caveat_unsatisfied',
    'L402_ERR_TOKEN_CAVEAT_UNSATISFIED',
  );

  expectRefused(
    await gate.decide(request({ authorization: a.authorization }), { ...route, service: 'other' }),
    'wrong_service',
    'L402_ERR_TOKEN_WRONG_SERVICE',
  );
  expectRefused(
    await gate.decide(request({ authorization: a.authorization }), { ...route, requiredCapability: 'write' }),
    'missing_capability',
    'L402_ERR_TOKEN_MISSING_CAPABILITY',
  );

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
  for (const r of refusals)
    for (const secret of [a.preimage, b.preimage, a.macaroon, b.macaroon]) assert.ok(!JSON.stringify(r).includes(secret));

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
  const loud = new Gate({
    minter: new Minter({ invoicer, secrets, clock }),
    verifier: new Verifier({ secrets, clock }),
    clock,
    onRefusal: () => {
      throw new Error('log down');
    },
  });
  expectRefused(await loud.decide(request({ authorization: 'L402 garbage' }), route), 'malformed', 'L402_ERR_TOKEN_MALFORMED');
});

test('strict verification refuses an unpaid token as unpaid', async () => {
  const { gate, buy } = setup({ isSettled: () => false });
  const t = await buy({ service: 'api', priceSats: 1 });
  expectRefused(
    await gate.decide(request({ authorization: t.authorization }), { service: 'api', priceSats: 1 }),
    'unpaid',
    'L402_ERR_TOKEN_UNPAID',
  );
});

test('a token priced by a function opens the path it was priced for, at any query, and nothing dearer', async () => {
  const { gate, buy } = setup();
  const prices: Record<string, number> = { '/dyn/cheap': 1, '/dyn/expensive': 1000 };
  const route: RouteOptions = { service: 'dyn', priceSats: (r) => prices[r.path.split('?')[0]!] ?? 50 };
  const cheap = await buy(route, '/dyn/cheap');
  assert.deepEqual(Macaroon.fromBase64(cheap.macaroon).firstPartyCaveats(), ['services=dyn/dyn/cheap:0']);
  // Twice, so that the second answer comes from the verifier's cache; then on the dear path.
  for (const path of ['/dyn/cheap', '/dyn/cheap', '/dyn/cheap?page=2']) {
    assert.equal((await gate.decide(at(path, { authorization: cheap.authorization }), route)).kind, 'allow', path);
  }
  const dear = expectRefused(
    await gate.decide(at('/dyn/expensive', { authorization: cheap.authorization }), route),
    'wrong_resource',
    'L402_ERR_TOKEN_WRONG_RESOURCE',
  );
  assert.equal(dear.priceSats, 1000);
  // A token with the reference's form for that resource (what its proxy mints) opens it.
  const expensive = await buy(route, '/dyn/expensive');
  assert.equal((await gate.decide(at('/dyn/expensive', { authorization: expensive.authorization }), route)).kind, 'allow');
  expectRefused(
    await gate.decide(at('/dyn/cheap', { authorization: expensive.authorization }), route),
    'wrong_resource',
    'L402_ERR_TOKEN_WRONG_RESOURCE',
  );
  // A fixed price keeps service-wide tokens; `scope` overrides either default.
  const flat = await buy({ service: 'flat', priceSats: 3 }, '/a');
  assert.equal((await gate.decide(at('/b', { authorization: flat.authorization }), { service: 'flat', priceSats: 3 })).kind, 'allow');
  const wide = await buy({ service: 'wide', priceSats: () => 3, scope: 'service' }, '/a');
  assert.deepEqual(Macaroon.fromBase64(wide.macaroon).firstPartyCaveats(), ['services=wide:0']);
  assert.equal(
    (await gate.decide(at('/b', { authorization: wide.authorization }), { service: 'wide', priceSats: () => 3, scope: 'service' })).kind,
    'allow',
  );
  const narrow = await buy({ service: 'narrow', priceSats: 3, scope: 'path' }, '/a');
  expectRefused(
    await gate.decide(at('/b', { authorization: narrow.authorization }), { service: 'narrow', priceSats: 3, scope: 'path' }),
    'wrong_resource',
    'L402_ERR_TOKEN_WRONG_RESOURCE',
  );
  // A service-wide token of the same service does not open a path-scoped route (as the reference).
  expectRefused(
    await gate.decide(at('/a', { authorization: flat.authorization }), { service: 'flat', priceSats: () => 3 }),
    'wrong_service',
    'L402_ERR_TOKEN_WRONG_SERVICE',
  );
});

test('resourceName: the reference name for ordinary paths, percent-encoding where a services entry could not hold it', () => {
  assert.equal(resourceName('dyn', '/dyn/cheap'), 'dyn/dyn/cheap');
  assert.equal(resourceName('dyn', '/dyn/cheap?x=1&y=2'), 'dyn/dyn/cheap');
  assert.equal(resourceName('dyn', '/dyn/cheap#frag'), 'dyn/dyn/cheap');
  assert.equal(resourceName('g', '/pkg.Service/Method'), 'g/pkg.Service/Method');
  // Decoded like Go's URL.Path where the result fits: unreserved characters and UTF-8 text.
  assert.equal(resourceName('s', '/caf%C3%A9/%7euser'), 's/café/~user');
  // Kept encoded: what a services entry cannot hold, and what would merge two paths into one name.
  assert.equal(resourceName('s', '/a%2Fb'), 's/a%2Fb');
  assert.notEqual(resourceName('s', '/a%2Fb'), resourceName('s', '/a/b'));
  assert.equal(resourceName('s', '/a%20b%2c%3A%3d%25'), 's/a%20b%2C%3A%3D%25');
  assert.equal(resourceName('s', '/a,b:c=d'), 's/a%2Cb%3Ac%3Dd');
  assert.equal(resourceName('s', '/a,b'), resourceName('s', '/a%2Cb'));
  assert.equal(resourceName('s', '/%FF%FE'), 's/%FF%FE');
  assert.equal(resourceName('s', '/%C2%A0'), 's/%C2%A0');
  assert.equal(resourceName('s', '/100%'), 's/100%25');
  assert.equal(resourceName('s', '/100%25'), 's/100%25');
});

test('resourceName: any path gives a name that fits a services caveat and reads back the same', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
      (text, bytes) => {
        const path = `/${text}${bytes.map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
        const name = resourceName('svc', path);
        const caveat = servicesCaveat([{ name, tier: 0 }]);
        assert.deepEqual(parseServices(caveat.slice('services='.length)), [{ name, tier: 0 }]);
      },
    ),
    { numRuns: 500 },
  );
});

test('checkCaveats with a resource: the services caveat must list it; service and resource expiry and capabilities both apply', () => {
  const target = ['dyn', undefined, 10_000, undefined, 't'] as const;
  const res = 'dyn/dyn/cheap';
  assert.equal(checkCaveats(['services=dyn/dyn/cheap:0'], ...target, res).ok, true);
  const dear = checkCaveats(['services=dyn/dyn/cheap:0'], ...target, 'dyn/dyn/expensive');
  assert.equal(dear.ok ? '' : dear.code, 'L402_ERR_TOKEN_WRONG_RESOURCE');
  const whole = checkCaveats(['services=dyn:0'], ...target, res);
  assert.equal(whole.ok ? '' : whole.code, 'L402_ERR_TOKEN_WRONG_SERVICE');
  // The expiry this proxy mints (by service name) and one a holder adds for the resource (as the reference checks).
  const svcExpired = checkCaveats(['services=dyn/dyn/cheap:0', 'dyn_valid_until=10'], ...target, res);
  assert.equal(svcExpired.ok ? '' : svcExpired.code, 'L402_ERR_TOKEN_EXPIRED');
  const resExpired = checkCaveats(['services=dyn/dyn/cheap:0', 'dyn/dyn/cheap_valid_until=10'], ...target, res);
  assert.equal(resExpired.ok ? '' : resExpired.code, 'L402_ERR_TOKEN_EXPIRED');
  const both = checkCaveats(['services=dyn/dyn/cheap:0', 'dyn_valid_until=100', 'dyn/dyn/cheap_valid_until=50'], ...target, res);
  assert.equal(both.ok && both.expiresAt, 50_000);
  const widened = checkCaveats(['dyn/dyn/cheap_valid_until=50', 'dyn/dyn/cheap_valid_until=60'], ...target, res);
  assert.equal(widened.ok ? '' : widened.code, 'L402_ERR_TOKEN_CAVEAT_WIDENED');
  const caps = checkCaveats(['dyn/dyn/cheap_capabilities=read'], 'dyn', 'write', 0, undefined, 't', res);
  assert.equal(caps.ok ? '' : caps.code, 'L402_ERR_TOKEN_MISSING_CAPABILITY');
});
