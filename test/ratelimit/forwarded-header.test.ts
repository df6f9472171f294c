// RFC 7239 `Forwarded` in clientIp: read only from trusted proxies and only when X-Forwarded-For
// is absent, walked from the right like X-Forwarded-For, every spelling of a node understood,
// and anything that is not an address (obfuscated, unknown, malformed) stopping the walk.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientIp } from '../../src/ratelimit/client-ip.js';
import { IpSet } from '../../src/ratelimit/ip-set.js';
import { formatIp, parseIp } from '../../src/ratelimit/parse-ip.js';

describe('clientIp with Forwarded', () => {
  const trusted = new IpSet(['10.0.0.0/8', 'fd00::/8']);
  const viaForwarded = (forwarded: string | string[], peer = '10.0.0.2'): string => clientIp(peer, undefined, trusted, forwarded);

  test('ignored unless the peer is a trusted proxy', () => {
    assert.equal(clientIp('203.0.113.5', undefined, trusted, 'for=198.51.100.7'), '203.0.113.5');
    assert.equal(clientIp('203.0.113.5', undefined, undefined, 'for=198.51.100.7'), '203.0.113.5');
  });

  test('X-Forwarded-For wins when both are present (a proxy appending to it may pass a forged Forwarded)', () => {
    assert.equal(clientIp('10.0.0.2', '198.51.100.7', trusted, 'for=6.6.6.6'), '198.51.100.7');
  });

  test('every spelling of a node: bare, quoted, with a port, IPv6 in brackets, parameters in any order and case', () => {
    const cases: Array<[string, string]> = [
      ['for=198.51.100.7', '198.51.100.7'],
      ['for="198.51.100.7"', '198.51.100.7'],
      ['for="198.51.100.7:4711"', '198.51.100.7'],
      ['for=198.51.100.7:4711', '198.51.100.7'],
      ['for="[2001:db8:cafe::17]"', '2001:db8:cafe::17'],
      ['for="[2001:db8:cafe::17]:4711"', '2001:db8:cafe::17'],
      ['For="[2001:DB8::1]"', '2001:db8::1'],
      ['for=192.0.2.43;proto=https;by=203.0.113.43', '192.0.2.43'],
      ['proto=http; FOR=192.0.2.43 ;host="example.com:8443"', '192.0.2.43'],
      ['for="198.51.100.7:_hidden-port"', '198.51.100.7'],
      ['for="[::ffff:198.51.100.7]"', '198.51.100.7'],
      ['host="a,b;c=d";for=192.0.2.9', '192.0.2.9'],
      ['for="\\1\\9\\2.0.2.10"', '192.0.2.10'],
    ];
    for (const [value, want] of cases) assert.equal(viaForwarded(value), want, value);
  });

  test('walks from the right past trusted proxies to the first untrusted node, across elements and lines', () => {
    assert.equal(viaForwarded('for=6.6.6.6, for=198.51.100.7, for=10.0.0.1'), '198.51.100.7', 'a spoofed left part is not believed');
    assert.equal(viaForwarded(['for=6.6.6.6', 'for=198.51.100.7;proto=https, for="[fd00::9]"']), '198.51.100.7', 'several header lines');
    assert.equal(viaForwarded('for=10.1.1.1, for=10.2.2.2'), '10.1.1.1', 'all trusted: the leftmost');
    assert.equal(viaForwarded('for="[2001:db8::7]", for="[fd00::1]:80"', 'fd00::2'), '2001:db8::7');
    assert.equal(viaForwarded(''), '10.0.0.2');
  });

  test('an obfuscated or unknown node, an element without for=, or malformed text stops the walk: the peer', () => {
    for (const value of [
      'for=_hidden',
      'for=unknown',
      'for="_gazonk"',
      'for=198.51.100.7, for=unknown',
      'for=198.51.100.7, for=_secret, for=10.0.0.1',
      'for=198.51.100.7, proto=https',
      'for=[2001:db8::1]x',
      'for="[2001:db8::1"',
      'for="[198.51.100.7]"',
      'for=198.51.100.7:port',
      'for="198.51.100.7',
      'for=198.51.100.7;for=198.51.100.8',
      'for',
      'for=198.51.100.7 bogus',
      'fo r=198.51.100.7',
      'for=999.1.1.1',
    ]) {
      assert.equal(viaForwarded(value), '10.0.0.2', value);
    }
  });

  test('property: never throws, and returns the peer or an address from the header', () => {
    const token = fc.constantFrom(
      'for',
      'For',
      '=',
      '"',
      '\\',
      ';',
      ',',
      ' ',
      '[',
      ']',
      ':',
      '_x',
      'unknown',
      '198.51.100.7',
      '2001:db8::1',
      '10.0.0.1',
      'proto=https',
      '4711',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.array(token, { maxLength: 30 }).map((t) => t.join('')),
        ),
        (value) => {
          const got = viaForwarded(value);
          assert.ok(got === '10.0.0.2' || (parseIp(got) !== undefined && formatIp(parseIp(got)!) === got), got);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('a 64 KB header of elements, or one long quoted value, is read whole', () => {
    const value = Array.from({ length: 3000 }, (_, i) => `for=10.0.${i % 250}.${i % 200};proto=https`).join(', ');
    assert.ok(value.length > 60_000);
    assert.equal(viaForwarded(`for=198.51.100.7, ${value}`), '198.51.100.7');
    const quoted = `for="${'\\a'.repeat(30_000)}"`;
    assert.equal(viaForwarded(quoted), '10.0.0.2');
  });
});
