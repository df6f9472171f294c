// Authentication of the admin API: the credential files, every way a macaroon is
// refused (over gRPC and REST), permission-scoped macaroons, the limit of failed
// attempts per client, and no macaroon in what the API logs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bakeAdminMacaroon,
  ensureAdminCredentials,
  readAdminRootKey,
  verifyAdminMacaroon,
  writeAdminMacaroonFile,
} from '../../src/admin/admin-macaroon.js';
import { AuthFailureLimiter, clientKey } from '../../src/admin/auth-failure-limiter.js';
import { ADMIN_METHODS } from '../../src/admin/admin-proto.js';
import { deriveMacaroonKey, Macaroon, signatureChain } from '../../src/core/macaroon.js';
import { L402Error } from '../../src/core/errors.js';
import { grpcClient, rest1, rest2, startAdminServer, TestClock, type AdminGrpcClient, type AdminServer } from './support.js';

const T0 = Date.UTC(2026, 2, 1);

test('first start writes a random root key and the admin macaroon, 0600, and never overwrites them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-admin-creds-'));
  try {
    const macaroonPath = join(dir, 'new', 'admin.macaroon');
    const first = ensureAdminCredentials({ macaroonPath });
    assert.equal(first.createdRootKey, true);
    assert.equal(first.createdMacaroon, true);
    assert.equal(first.macaroonMatches, true);
    assert.equal(first.rootKeyPath, join(dir, 'new', 'admin.rootkey'));
    assert.equal(statSync(first.rootKeyPath).mode & 0o777, 0o600);
    assert.equal(statSync(macaroonPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'new')).mode & 0o777, 0o700);
    assert.equal(readFileSync(first.rootKeyPath).length, 32);
    const mac = Macaroon.fromBinary(readFileSync(macaroonPath));
    assert.equal(Buffer.from(mac.identifier).toString(), 'admin', "the reference's identifier");
    assert.equal(mac.location, 'aperture', "the reference's location");
    assert.deepEqual(mac.caveats, []);
    assert.ok(mac.verifySignature(first.rootKey));
    assert.equal(readFileSync(macaroonPath)[0], 2, 'version 2 binary, as go-macaroon writes it');

    const bytes = readFileSync(macaroonPath);
    const second = ensureAdminCredentials({ macaroonPath });
    assert.deepEqual([second.createdRootKey, second.createdMacaroon], [false, false]);
    assert.deepEqual(second.rootKey, first.rootKey);
    assert.deepEqual(readFileSync(macaroonPath), bytes);

    writeFileSync(macaroonPath, 'not a macaroon');
    const third = ensureAdminCredentials({ macaroonPath });
    assert.equal(third.macaroonMatches, false, 'a foreign file is reported');
    assert.equal(readFileSync(macaroonPath, 'utf8'), 'not a macaroon', 'and left alone');
    rmSync(macaroonPath);
    const fourth = ensureAdminCredentials({ macaroonPath });
    assert.equal(fourth.createdMacaroon, true);
    assert.deepEqual(readFileSync(macaroonPath), bytes, 'the same root key gives the same admin macaroon');
    assert.equal(
      writeAdminMacaroonFile(macaroonPath, bakeAdminMacaroon(first.rootKey, { methods: 'read-only' })),
      false,
      'an existing file is not overwritten',
    );

    const other = ensureAdminCredentials({ macaroonPath: join(dir, 'creds') });
    assert.equal(other.rootKeyPath, join(dir, 'creds.rootkey'));
    assert.notDeepEqual(other.rootKey, first.rootKey);

    writeFileSync(join(dir, 'short.rootkey'), randomBytes(31));
    assert.throws(
      () => ensureAdminCredentials({ macaroonPath: join(dir, 'short.macaroon') }),
      (e) => e instanceof L402Error && e.code === 'L402_ERR_ADMIN_ROOT_KEY_INVALID',
    );
    assert.throws(
      () => readAdminRootKey(join(dir, 'missing.rootkey')),
      (e) => e instanceof L402Error && e.code === 'L402_ERR_ADMIN_CREDENTIALS_IO',
    );
    assert.deepEqual(readAdminRootKey(first.rootKeyPath), first.rootKey);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bakeAdminMacaroon: methods and expiry caveats, checked by verifyAdminMacaroon', () => {
  const key = randomBytes(32);
  const ro = bakeAdminMacaroon(key, { methods: 'read-only', expiresAt: T0 + 1000 });
  assert.deepEqual(ro.firstPartyCaveats(), [
    'admin_methods=GetInfo,GetHealth,ListServices,ListTransactions,ListTokens,GetStats',
    'time-before 2026-03-01T00:00:01.000Z',
  ]);
  const ok = verifyAdminMacaroon(key, ro.toHex(), T0);
  assert.ok(ok.ok);
  assert.equal(ok.grant.canWrite, false);
  assert.ok(ok.grant.methods.has('ListTokens') && !ok.grant.methods.has('RevokeToken'));
  assert.deepEqual(verifyAdminMacaroon(key, ro.toHex(), T0 + 1000), {
    ok: false,
    reason: 'macaroon verification failed: macaroon expired',
  });
  // Caveats narrow, never widen: a second methods caveat intersects.
  const narrower = verifyAdminMacaroon(key, ro.withFirstPartyCaveat('admin_methods=GetInfo,RevokeToken').toHex(), T0);
  assert.ok(narrower.ok);
  assert.deepEqual([...narrower.grant.methods], ['GetInfo']);
  assert.throws(
    () => bakeAdminMacaroon(key, { methods: ['Nope' as 'GetInfo'] }),
    (e) => e instanceof L402Error && e.code === 'L402_ERR_ADMIN_INVALID_ARGUMENT',
  );
  const full = verifyAdminMacaroon(key, bakeAdminMacaroon(key).toHex().toUpperCase(), T0);
  assert.ok(full.ok && full.grant.canWrite && full.grant.methods.size === ADMIN_METHODS.length, 'upper-case hex is hex too');
});

describe('refusals', () => {
  let s: AdminServer;
  let g: AdminGrpcClient;
  const clock = new TestClock(T0);
  before(async () => {
    s = await startAdminServer({ kind: 'memory', clock, api: { authFailureLimit: false } });
    g = grpcClient(s);
  });
  after(async () => {
    g.close();
    await s.close();
  });

  /** Third-party caveat with a correct signature chain. */
  const thirdParty = (key: Uint8Array): string => {
    const id = Buffer.from('admin');
    const caveats = [{ id: Buffer.from('third'), verificationId: randomBytes(48), location: 'elsewhere' }];
    return Macaroon.fromParts('aperture', id, caveats, signatureChain(deriveMacaroonKey(key), id, caveats)).toHex();
  };

  test('every method but GetHealth needs a macaroon, over gRPC and REST', async () => {
    for (const method of ADMIN_METHODS.filter((m) => m !== 'GetHealth')) {
      await assert.rejects(
        g.call(method, method === 'RevokeToken' ? { token_id: 'ab'.repeat(32) } : {}),
        (e: { code: number; details: string }) => e.code === 16 && e.details === 'missing macaroon',
        method,
      );
    }
    for (const [verb, path] of [
      ['GET', 'info'],
      ['GET', 'services'],
      ['POST', 'services'],
      ['PUT', 'services/x'],
      ['DELETE', 'services/x'],
      ['GET', 'transactions'],
      ['GET', 'tokens'],
      ['DELETE', `tokens/${'ab'.repeat(32)}`],
      ['GET', 'stats'],
    ] as const) {
      const r = await rest1(s, `/api/admin/${path}`, { method: verb, ...(verb === 'POST' || verb === 'PUT' ? { body: {} } : {}) });
      assert.equal(r.status, 401, `${verb} ${path}`);
      assert.deepEqual(r.json, { code: 16, message: 'missing macaroon', details: [] });
    }
    assert.equal(s.backend.applied.length, 0, 'nothing was changed');
  });

  test('malformed, foreign, crafted and expired macaroons are refused (UNAUTHENTICATED / 401)', async () => {
    const other = bakeAdminMacaroon(randomBytes(32)).toHex();
    const cases: Array<[string, string, RegExp]> = [
      ['not hex', 'zz', /^invalid macaroon encoding$/],
      ['odd hex', 'abc', /^invalid macaroon encoding$/],
      ['not a macaroon', '00ff00ff', /^invalid macaroon$/],
      ['another root key', other, /^macaroon verification failed$/],
      ['a caveat it does not know', bakeAdminMacaroon(s.rootKey).withFirstPartyCaveat('ipaddr 127.0.0.1').toHex(), /unsupported caveat/],
      [
        'a crafted methods caveat',
        bakeAdminMacaroon(s.rootKey).withFirstPartyCaveat('admin_methods=GetInfo,Everything').toHex(),
        /unknown method/,
      ],
      ['a malformed time-before', bakeAdminMacaroon(s.rootKey).withFirstPartyCaveat('time-before soon').toHex(), /malformed time-before/],
      ['an expired macaroon', bakeAdminMacaroon(s.rootKey, { expiresAt: T0 }).toHex(), /macaroon expired/],
      ['a third-party caveat', thirdParty(s.rootKey), /third-party caveats are not supported/],
      [
        'a valid macaroon with a caveat stripped (signature no longer matches)',
        (() => {
          const baked = bakeAdminMacaroon(s.rootKey, { methods: 'read-only' });
          return Macaroon.fromParts(baked.location, baked.identifier, [], baked.signature).toHex();
        })(),
        /^macaroon verification failed$/,
      ],
    ];
    for (const [what, hex, pattern] of cases) {
      await assert.rejects(
        g.call('GetInfo', {}, hex),
        (e: { code: number; details: string }) => e.code === 16 && pattern.test(e.details),
        what,
      );
      const r = await rest2(s, '/api/admin/info', { macaroon: hex });
      assert.equal(r.status, 401, what);
      assert.equal((r.json as { code: number }).code, 16, what);
      assert.match((r.json as { message: string }).message, pattern, what);
      assert.ok(!r.text.includes(hex), `${what}: the answer does not quote the macaroon`);
    }
    // The expired one was good a moment before.
    const expiring = bakeAdminMacaroon(s.rootKey, { expiresAt: T0 + 60_000 }).toHex();
    assert.equal((await g.call('GetInfo', {}, expiring))['network'], 'regtest');
    clock.t = T0 + 60_000;
    await assert.rejects(g.call('GetInfo', {}, expiring), (e: { code: number }) => e.code === 16);
    clock.t = T0;
  });

  test('a read-only macaroon reads (header values hidden) and changes nothing (PERMISSION_DENIED / 403)', async () => {
    await g.call(
      'CreateService',
      {
        name: 'svc',
        address: '127.0.0.1:9',
        path_regexp: '^/svc',
        config: { fields: { headers: { struct_value: { fields: { 'X-Secret': { string_value: 'hunter2' } } } } } },
      },
      s.macaroonHex,
    );
    const ro = bakeAdminMacaroon(s.rootKey, { methods: 'read-only' }).toHex();
    for (const method of ['GetInfo', 'ListServices', 'ListTransactions', 'ListTokens', 'GetStats']) await g.call(method, {}, ro);
    const seen = await rest1(s, '/api/admin/services', { macaroon: ro });
    assert.deepEqual((seen.json as { services: Array<{ config: { headers: unknown } }> }).services[0]?.config.headers, {
      'X-Secret': '<redacted>',
    });
    const full = await rest1(s, '/api/admin/services', { macaroon: s.macaroonHex });
    assert.deepEqual((full.json as { services: Array<{ config: { headers: unknown } }> }).services[0]?.config.headers, {
      'X-Secret': 'hunter2',
    });
    const writes: Array<[string, Record<string, unknown>]> = [
      ['CreateService', { name: 'x', address: '127.0.0.1:9', path_regexp: '^/x' }],
      ['UpdateService', { name: 'svc', price: 5 }],
      ['DeleteService', { name: 'svc' }],
      ['RevokeToken', { token_id: 'ab'.repeat(32) }],
    ];
    for (const [method, request] of writes) {
      await assert.rejects(
        g.call(method, request, ro),
        (e: { code: number; details: string }) => e.code === 7 && e.details === `the macaroon does not allow ${method}`,
        method,
      );
    }
    const r = await rest1(s, '/api/admin/services/svc', { method: 'DELETE', macaroon: ro });
    assert.equal(r.status, 403);
    assert.equal((r.json as { code: number }).code, 7);
    assert.equal((await s.store.getService('svc')) !== undefined, true, 'still there');
    const infoOnly = bakeAdminMacaroon(s.rootKey, { methods: ['GetInfo'] }).toHex();
    await g.call('GetInfo', {}, infoOnly);
    await assert.rejects(g.call('ListServices', {}, infoOnly), (e: { code: number }) => e.code === 7);
  });
});

describe('failed authentications', () => {
  let s: AdminServer;
  let g: AdminGrpcClient;
  const clock = new TestClock(T0);
  before(async () => {
    s = await startAdminServer({
      kind: 'memory',
      clock,
      // The client's address from a header the test sets (a program takes it from the socket or a trusted proxy).
      api: {
        authFailureLimit: { failures: 3, perMs: 60_000 },
        clientAddress: (req) => String(req.headers['x-test-client'] ?? req.socket.remoteAddress),
      },
    });
    g = grpcClient(s);
  });
  after(async () => {
    g.close();
    await s.close();
  });

  test('are limited per client: then every call of it needing a macaroon is refused (429 / RESOURCE_EXHAUSTED), others are not', async () => {
    const from = (ip: string): Record<string, string> => ({ 'x-test-client': ip });
    for (let i = 0; i < 3; i++)
      assert.equal((await rest1(s, '/api/admin/info', { macaroon: 'bad', headers: from('203.0.113.7') })).status, 401);
    const blocked = await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: from('203.0.113.7') });
    assert.equal(blocked.status, 429, 'even a valid macaroon, while blocked');
    assert.equal(blocked.headers['retry-after'], '20');
    assert.equal((blocked.json as { code: number }).code, 8);
    assert.equal((await rest1(s, '/api/admin/health', { headers: from('203.0.113.7') })).status, 200, 'GetHealth stays open');
    assert.equal(
      (await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: from('203.0.113.8') })).status,
      200,
      'another client is not affected',
    );
    // gRPC clients come from 127.0.0.1 here: a separate bucket, the same rule.
    for (let i = 0; i < 3; i++) await assert.rejects(g.call('GetInfo', {}, 'bad'), (e: { code: number }) => e.code === 16);
    await assert.rejects(
      g.call('GetInfo', {}, s.macaroonHex),
      (e: { code: number; details: string }) => e.code === 8 && /too many failed authentications/.test(e.details),
    );
    // One failure refills every 20 s (3 per minute).
    clock.t = T0 + 20_000;
    assert.equal((await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: from('203.0.113.7') })).status, 200);
    assert.equal((await g.call('GetInfo', {}, s.macaroonHex))['network'], 'regtest');
    // IPv6 clients count per /64.
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3'])
      await rest1(s, '/api/admin/info', { macaroon: 'bad', headers: from(ip) });
    assert.equal((await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: from('2001:db8:1:2::99') })).status, 429);
    assert.equal((await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: from('2001:db8:1:3::1') })).status, 200);
  });

  test("the limiter's memory is bounded", () => {
    const limiter = new AuthFailureLimiter({ failures: 1, maxClients: 100 });
    for (let i = 0; i < 1000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(limiter.size, 100);
    assert.ok(limiter.blockedFor('10.0.3.231') > 0, 'the most recent clients are remembered');
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('2001:db8::1'), '2001:db8::/64');
  });

  test('no macaroon appears in what the API reports', async () => {
    const readOnly = bakeAdminMacaroon(s.rootKey, { methods: 'read-only' }).toHex();
    const foreign = bakeAdminMacaroon(randomBytes(32)).toHex();
    clock.t = T0 + 3_600_000;
    await rest1(s, '/api/admin/info', { macaroon: s.macaroonHex, headers: { 'x-test-client': '198.51.100.1' } });
    await rest1(s, '/api/admin/services', {
      method: 'POST',
      body: { name: 'x' },
      macaroon: readOnly,
      headers: { 'x-test-client': '198.51.100.1' },
    });
    await rest1(s, '/api/admin/info', { macaroon: foreign, headers: { 'x-test-client': '198.51.100.1' } });
    await assert.rejects(g.call('GetStats', {}, foreign));
    const logged = JSON.stringify(s.events, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
    assert.ok(s.events.length >= 4);
    for (const hex of [s.macaroonHex, readOnly, foreign]) {
      for (let i = 0; i + 16 <= hex.length; i += 16) assert.ok(!logged.includes(hex.slice(i, i + 16)), 'no part of a macaroon is logged');
    }
    const event = s.events.findLast((e) => e.code === 16 && e.transport === 'rest');
    assert.deepEqual(event && { method: event.method, transport: event.transport, message: event.message }, {
      method: 'GetInfo',
      transport: 'rest',
      message: 'macaroon verification failed',
    });
  });
});
