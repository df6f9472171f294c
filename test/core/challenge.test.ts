import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatChallenge, parseChallenges } from '../../src/core/challenge.js';

const MAC = 'AgEEbHNhdAJCAAA+/w==';
const INV = 'lnbc10n1pjexample';

test('formatChallenge: reference form, LSAT line first', () => {
  assert.deepEqual(formatChallenge(MAC, INV), [
    ['WWW-Authenticate', `LSAT macaroon="${MAC}", invoice="${INV}"`],
    ['WWW-Authenticate', `L402 macaroon="${MAC}", invoice="${INV}"`],
  ]);
  assert.deepEqual(formatChallenge(MAC, INV, 'spec'), [['WWW-Authenticate', `L402 version="0", token="${MAC}", invoice="${INV}"`]]);
});

const cases: Array<[string, string | string[], Array<{ scheme: string; macaroon: string; invoice: string; version?: string }>]> = [
  [
    'both reference lines',
    formatChallenge(MAC, INV).map(([, v]) => v),
    [
      { scheme: 'LSAT', macaroon: MAC, invoice: INV },
      { scheme: 'L402', macaroon: MAC, invoice: INV },
    ],
  ],
  [
    'joined by fetch',
    formatChallenge(MAC, INV)
      .map(([, v]) => v)
      .join(', '),
    [
      { scheme: 'LSAT', macaroon: MAC, invoice: INV },
      { scheme: 'L402', macaroon: MAC, invoice: INV },
    ],
  ],
  ['spec form', `L402 version="0", token="${MAC}", invoice="${INV}"`, [{ scheme: 'L402', macaroon: MAC, invoice: INV, version: '0' }]],
  ['parameter order and case', `l402 Invoice="${INV}", MACAROON="${MAC}"`, [{ scheme: 'L402', macaroon: MAC, invoice: INV }]],
  ['unquoted values', `LSAT macaroon=${MAC}, invoice=${INV}`, [{ scheme: 'LSAT', macaroon: MAC, invoice: INV }]],
  ['no space after comma', `L402 macaroon="${MAC}",invoice="${INV}"`, [{ scheme: 'L402', macaroon: MAC, invoice: INV }]],
  [
    'other schemes around',
    `Payment id="x", realm="r", method="lightning", Bearer realm="a", L402 macaroon="${MAC}", invoice="${INV}", Basic abc==`,
    [{ scheme: 'L402', macaroon: MAC, invoice: INV }],
  ],
  ['Bearer token68 first', `Bearer abc==, LSAT macaroon="${MAC}", invoice="${INV}"`, [{ scheme: 'LSAT', macaroon: MAC, invoice: INV }]],
  ['escaped quote', `L402 macaroon="${MAC}", invoice="a\\"b"`, [{ scheme: 'L402', macaroon: MAC, invoice: 'a"b' }]],
  ['missing invoice is skipped', `L402 macaroon="${MAC}"`, []],
  ['empty', '', []],
  ['garbage', '",,,===  \\', []],
];

for (const [name, input, expected] of cases) {
  test(`parseChallenges: ${name}`, () => {
    assert.deepEqual(parseChallenges(input), expected);
  });
}
