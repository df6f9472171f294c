import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate } from '../../src/core/gate.js';
import type { RouteOptions } from '../../src/core/gate.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { grpcStatusFor } from '../../src/core/grpc-status.js';
import { unauthorizedDecision } from '../../src/core/challenge-decision.js';
import { InvoiceError } from '../../src/core/errors.js';
import type { ChallengeDecision, Decision } from '../../src/core/types.js';
import { FakeInvoicer, TestClock, request } from './support.js';

function setup(form?: 'reference' | 'spec') {
  const clock = new TestClock();
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const gate = new Gate({
    minter: new Minter({ invoicer, secrets, clock }),
    verifier: new Verifier({ secrets, clock }),
    clock,
    ...(form === undefined ? {} : { challengeForm: form }),
  });
  return { clock, invoicer, secrets, gate };
}

function asChallenge(d: Decision): ChallengeDecision {
  assert.equal(d.kind, 'challenge', JSON.stringify(d));
  return d as ChallengeDecision;
}

const route: RouteOptions = { service: 'api', priceSats: 21 };

test('no credential → 402 challenge in the reference form, then paying lets it through', async () => {
  const { gate, invoicer } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  assert.equal(c.status, 402);
  assert.equal(c.body, 'payment required\n');
  assert.equal(c.code, 'L402_ERR_TOKEN_MISSING');
  assert.equal(c.priceSats, 21);
  const www = c.headers.filter(([n]) => n === 'WWW-Authenticate').map(([, v]) => v);
  assert.equal(www.length, 2);
  assert.match(www[0]!, /^LSAT macaroon="[A-Za-z0-9+/=]+", invoice="lnbcrt21n1fake1"$/);
  assert.match(www[1]!, /^L402 macaroon="[A-Za-z0-9+/=]+", invoice="lnbcrt21n1fake1"$/);
  assert.deepEqual(
    c.headers.filter(([n]) => n !== 'WWW-Authenticate'),
    [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Cache-Control', 'no-store'],
      ['X-Content-Type-Options', 'nosniff'],
    ],
  );
  // The deployed clients' regex.
  const m = /(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/.exec(www[0]!);
  assert.ok(m);
  const mac = Macaroon.fromBase64(m[2]!);
  assert.deepEqual(mac.firstPartyCaveats(), ['services=api:0']);

  const [ch] = parseChallenges(www);
  const auth = formatAuthorization(ch!.macaroon, invoicer.preimageOf(c.paymentHash));
  const ok = await gate.decide(request({ authorization: auth }), route);
  assert.equal(ok.kind, 'allow');
  if (ok.kind === 'allow') {
    assert.equal(ok.reason, 'paid');
    assert.equal(ok.token?.tokenId, c.tokenId);
  }
});

test('spec challenge form', async () => {
  const { gate } = setup('spec');
  const c = asChallenge(await gate.decide(request(), route));
  const www = c.headers.filter(([n]) => n === 'WWW-Authenticate');
  assert.equal(www.length, 1);
  assert.match(www[0]![1], /^L402 version="0", token="[A-Za-z0-9+/=]+", invoice="lnbcrt21n1fake1"$/);
});

test('a bad credential gets a fresh 402 carrying the failure code', async () => {
  const { gate, invoicer } = setup();
  const first = asChallenge(await gate.decide(request(), route));
  const mac = first.headers[1]![1].match(/macaroon="(.*?)"/)![1]!;
  const wrongPre = asChallenge(await gate.decide(request({ authorization: formatAuthorization(mac, '00'.repeat(32)) }), route));
  assert.equal(wrongPre.code, 'L402_ERR_TOKEN_BAD_PREIMAGE');
  assert.notEqual(wrongPre.tokenId, first.tokenId);
  const pre = invoicer.preimageOf(first.paymentHash);
  const other = asChallenge(await gate.decide(request({ authorization: formatAuthorization(mac, pre) }), { ...route, service: 'other' }));
  assert.equal(other.code, 'L402_ERR_TOKEN_WRONG_SERVICE');
  const garbage = asChallenge(await gate.decide(request({ authorization: 'L402 garbage' }), route));
  assert.equal(garbage.code, 'L402_ERR_TOKEN_MALFORMED');
});

test('mint caveats: tier, capabilities, timeout, constraints, extra caveats', async () => {
  const { gate, clock, invoicer } = setup();
  const c = asChallenge(
    await gate.decide(request(), {
      service: 'api',
      priceSats: 3,
      tier: 2,
      capabilities: ['read', 'write'],
      timeoutSeconds: 60,
      constraints: { max_size: '100' },
      caveats: ['note=x'],
      memo: 'hello',
      invoiceExpirySeconds: 600,
    }),
  );
  const mac = Macaroon.fromBase64(c.headers[0]![1].match(/macaroon="(.*?)"/)![1]!);
  assert.deepEqual(mac.firstPartyCaveats(), [
    'services=api:2',
    'api_capabilities=read,write',
    `api_valid_until=${Math.floor(clock.ms / 1000) + 60}`,
    'max_size=100',
    'note=x',
  ]);
  assert.deepEqual(invoicer.requests[0], { amountSats: 3, memo: 'hello', expirySeconds: 600 });
  // requiredCapability is enforced.
  const auth = formatAuthorization(mac.toBase64(), invoicer.preimageOf(c.paymentHash));
  const denied = asChallenge(
    await gate.decide(request({ authorization: auth }), { service: 'api', priceSats: 3, requiredCapability: 'admin' }),
  );
  assert.equal(denied.code, 'L402_ERR_TOKEN_MISSING_CAPABILITY');
  assert.equal(
    (await gate.decide(request({ authorization: auth }), { service: 'api', priceSats: 3, requiredCapability: 'read' })).kind,
    'allow',
  );
  clock.ms += 60_000;
  assert.equal(
    asChallenge(await gate.decide(request({ authorization: auth }), { service: 'api', priceSats: 3 })).code,
    'L402_ERR_TOKEN_EXPIRED',
  );
});

test('skipInvoiceCreation → 401 unauthorized without minting', async () => {
  const { gate, invoicer } = setup();
  const d = await gate.decide(request(), { ...route, skipInvoiceCreation: true });
  assert.equal(d.kind, 'reject');
  if (d.kind === 'reject') {
    assert.equal(d.status, 401);
    assert.equal(d.body, 'unauthorized\n');
    assert.equal(d.code, 'L402_ERR_TOKEN_MISSING');
  }
  assert.equal(invoicer.requests.length, 0);
});

test('price functions: 0 is a free pass, async prices work, a throwing pricer is 503', async () => {
  const { gate, invoicer } = setup();
  const free = await gate.decide(request(), { service: 'api', priceSats: () => 0 });
  assert.deepEqual(free, { kind: 'allow', reason: 'free' });
  const c = asChallenge(await gate.decide(request(), { service: 'api', priceSats: (r) => Promise.resolve(r.path.length) }));
  assert.equal(c.priceSats, '/v1/thing'.length);
  const failed = await gate.decide(request(), {
    service: 'api',
    priceSats: () => {
      throw new Error('pricer down');
    },
  });
  assert.equal(failed.kind, 'reject');
  if (failed.kind === 'reject') {
    assert.equal(failed.status, 503);
    assert.equal(failed.code, 'L402_ERR_GATE_PRICE_UNAVAILABLE');
    assert.doesNotMatch(failed.body, /pricer down/);
  }
  assert.equal(invoicer.requests.length, 1);
});

test('invoicer failure → 503 with its code, no internals in the body', async () => {
  const { gate, invoicer } = setup();
  invoicer.failWith = new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'connect ECONNREFUSED 10.0.0.1:10009');
  const d = await gate.decide(request(), route);
  assert.equal(d.kind, 'reject');
  if (d.kind === 'reject') {
    assert.equal(d.status, 503);
    assert.equal(d.code, 'L402_ERR_LN_UNAVAILABLE');
    assert.doesNotMatch(d.body, /ECONNREFUSED/);
  }
  invoicer.failWith = new Error('anything');
  const e = await gate.decide(request(), route);
  assert.equal(e.kind === 'reject' && e.code, 'L402_ERR_LN_UNAVAILABLE');
});

test('a failing secret store → 503, not an exception', async () => {
  const invoicer = new FakeInvoicer();
  const secrets = new MemorySecretStore();
  const broken = {
    ...secrets,
    newSecret: (h: Uint8Array) => secrets.newSecret(h),
    revokeSecret: (h: Uint8Array) => secrets.revokeSecret(h),
    getSecret: () => {
      throw new Error('db down');
    },
  };
  const gate = new Gate({ minter: new Minter({ invoicer, secrets }), verifier: new Verifier({ secrets: broken }) });
  const c = asChallenge(await gate.decide(request(), route));
  const mac = c.headers[0]![1].match(/macaroon="(.*?)"/)![1]!;
  const d = await gate.decide(request({ authorization: formatAuthorization(mac, invoicer.preimageOf(c.paymentHash)) }), route);
  assert.equal(d.kind === 'reject' && d.status, 503);
  assert.equal(d.kind === 'reject' && d.code, 'L402_ERR_TOKEN_VERIFY_UNAVAILABLE');
});

test('grpcStatusFor maps decisions', async () => {
  const { gate } = setup();
  const c = asChallenge(await gate.decide(request(), route));
  const s = grpcStatusFor(c);
  assert.equal(s.code, 13);
  assert.equal(s.message, 'payment required');
  // cache-control stays on the gRPC 402, as on the reference's; the plain-text headers go.
  assert.deepEqual(
    s.metadata.map(([n]) => n),
    ['www-authenticate', 'www-authenticate', 'cache-control'],
  );
  const rej = (status: number, body: string, headers: Array<[string, string]> = []) =>
    grpcStatusFor({ kind: 'reject', status, body, headers, code: 'L402_ERR_TOKEN_MISSING' });
  assert.deepEqual(rej(401, 'unauthorized\n'), { code: 16, message: 'unauthorized', metadata: [] });
  assert.deepEqual(
    grpcStatusFor(unauthorizedDecision('L402_ERR_TOKEN_MISSING')).metadata,
    [],
    'no cache-control or nosniff on other gRPC answers',
  );
  assert.deepEqual(
    rej(429, 'rate limit exceeded\n', [
      ['Retry-After', '3'],
      ['Content-Type', 'text/plain'],
    ]),
    { code: 8, message: 'rate limit exceeded', metadata: [['retry-after', '3']] },
  );
  assert.equal(rej(403, 'access denied\n').code, 7);
  assert.equal(rej(503, 'service unavailable\n').code, 14);
  assert.equal(rej(500, '').code, 2);
});
