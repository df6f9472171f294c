import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { ConfigError } from '../../src/core/errors.js';
import { clientIp } from '../../src/ratelimit/client-ip.js';
import { IpSet, parseCidr, validateIpList } from '../../src/ratelimit/ip-set.js';
import { maskIp } from '../../src/ratelimit/mask-ip.js';
import { formatIp, parseIp } from '../../src/ratelimit/parse-ip.js';

describe('parseIp / formatIp', () => {
  test('valid forms', () => {
    const cases: Array<[string, string]> = [
      ['192.0.2.1', '192.0.2.1'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['::ffff:a01:203', '10.1.2.3'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ];
    for (const [input, want] of cases) assert.equal(formatIp(parseIp(input)!), want, input);
  });

  test('malformed forms', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.4 ',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::1',
      '::1%',
      '[::1]',
      '1.2.3.4/32',
      '1:2:3:4:5:6:7::8:9',
    ])
      assert.equal(parseIp(bad), undefined, bad);
  });

  test('property: never throws, and agrees with node:net on what is an address', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (s) => {
        const ip = parseIp(s);
        if (ip !== undefined && !s.includes('%')) assert.notEqual(isIP(s), 0, s);
      }),
    );
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
    fc.assert(
      fc.property(fc.oneof(v4, v6), (s) => {
        const ip = parseIp(s);
        assert.ok(ip !== undefined, s);
        const text = formatIp(ip);
        assert.notEqual(isIP(text), 0, text);
        assert.deepEqual(parseIp(text), ip, 'formatting round-trips');
        assert.equal(maskIp(maskIp(s).split('/')[0] ?? ''), maskIp(s), 'masking is idempotent');
      }),
    );
  });
});

describe('maskIp', () => {
  test('IPv4 /24, IPv6 /48, mapped IPv4 as IPv4, garbage unchanged', () => {
    assert.equal(maskIp('198.51.100.250'), '198.51.100.0/24');
    assert.equal(maskIp('2001:db8:1234:5678::1'), '2001:db8:1234::/48');
    assert.equal(maskIp('::ffff:198.51.100.250'), '198.51.100.0/24');
    assert.equal(maskIp('not an ip'), 'not an ip');
  });
});

describe('IpSet', () => {
  const set = new IpSet(['1.1.1.1', '10.0.0.0/8', '192.168.1.77/24', '2001:db8::/32', '::1', '::ffff:172.16.0.0/108']);

  test('matches addresses and ranges of both families', () => {
    for (const yes of ['1.1.1.1', '10.255.0.1', '192.168.1.1', '2001:db8:ffff::1', '::1', '::ffff:10.0.0.1', '172.16.5.5'])
      assert.equal(set.has(yes), true, yes);
    for (const no of ['1.1.1.2', '11.0.0.1', '192.168.2.1', '2001:db9::1', '::2', 'garbage', '', '172.32.0.1'])
      assert.equal(set.has(no), false, no);
  });

  test('/0 matches everything of its family', () => {
    const all4 = new IpSet(['0.0.0.0/0']);
    assert.equal(all4.has('255.1.2.3'), true);
    assert.equal(all4.has('::1'), false);
    assert.equal(new IpSet(['::/0']).has('2001:db8::5'), true);
  });

  test('bad entries are reported all at once with their paths', () => {
    assert.deepEqual(
      validateIpList(['1.1.1.1', '1.1.1.1/33', 'nope', 7, '::/129', '::ffff:1.2.3.4/95'], 'blocklist').map((i) => i.path),
      ['blocklist[1]', 'blocklist[2]', 'blocklist[3]', 'blocklist[4]', 'blocklist[5]'],
    );
    assert.throws(
      () => new IpSet(['x'], 'trustedproxies'),
      (e: unknown) => e instanceof ConfigError && e.issues[0]?.path === 'trustedproxies[0]',
    );
    assert.equal(parseCidr('10.1.2.3/8')?.network.bytes.join('.'), '10.0.0.0');
  });

  test('property: a CIDR contains every address sharing its prefix, and no other', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 }), (a, b, prefix) => {
        const text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        const s = new IpSet([`${text(a)}/${prefix}`]);
        const same = prefix === 0 || a >>> (32 - prefix) === b >>> (32 - prefix);
        assert.equal(s.has(text(b)), same);
        assert.equal(s.has(text(a)), true);
      }),
    );
  });
});

describe('clientIp', () => {
  const trusted = new IpSet(['10.0.0.0/8', 'fd00::/8']);

  test('X-Forwarded-For is ignored unless the peer is a trusted proxy', () => {
    assert.equal(clientIp('203.0.113.5', '198.51.100.7', trusted), '203.0.113.5');
    assert.equal(clientIp('203.0.113.5', '198.51.100.7', undefined), '203.0.113.5');
    assert.equal(clientIp('::ffff:203.0.113.5', undefined, trusted), '203.0.113.5');
  });

  test('walks from the right past trusted proxies to the first untrusted address', () => {
    assert.equal(clientIp('10.0.0.2', '198.51.100.7', trusted), '198.51.100.7');
    assert.equal(clientIp('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.0.0.1', trusted), '198.51.100.7', 'a spoofed left part is not believed');
    assert.equal(clientIp('10.0.0.2', ['6.6.6.6', '198.51.100.7,10.9.9.9'], trusted), '198.51.100.7', 'several header lines');
    assert.equal(clientIp('fd00::2', '2001:db8::7, fd00::1', trusted), '2001:db8::7');
    assert.equal(clientIp('10.0.0.2', '198.51.100.7:5555, [2001:db8::1]:443', trusted), '2001:db8::1');
    assert.equal(clientIp('10.0.0.2', '10.1.1.1, 10.2.2.2', trusted), '10.1.1.1', 'all trusted: the leftmost');
    assert.equal(clientIp('10.0.0.2', '', trusted), '10.0.0.2');
  });

  test('a malformed entry falls back to the peer', () => {
    for (const xff of ['unknown', '198.51.100.7, bogus, 10.0.0.1', '1.2.3.4:port', '[::1', '[::1]x', '999.1.1.1'])
      assert.equal(clientIp('10.0.0.2', xff, trusted), '10.0.0.2', xff);
  });

  test('property: never throws, and returns the peer or an address from the header', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.constantFrom('10.0.0.2', '203.0.113.1', 'garbage', ''), (xff, peer) => {
        const got = clientIp(peer, xff, trusted);
        const peerText = parseIp(peer) === undefined ? peer : formatIp(parseIp(peer)!);
        assert.ok(got === peerText || parseIp(got) !== undefined, got);
      }),
    );
  });
});
