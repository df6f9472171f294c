// The header matrix of PROTOCOL §2, as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readCredential, formatAuthorization } from '../../src/core/credentials.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { request } from './support.js';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/macaroon-vectors.json', import.meta.url), 'utf8')) as {
  macaroons: Array<{ base64: string; hex: string; rootKeyHex: string; idHex: string }>;
};
const B64 = vectors.macaroons[0]!.base64;
const B64_2 = vectors.macaroons[1]!.base64;
const URL_NOPAD = B64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const PRE = 'ab'.repeat(32);
const PRE_UPPER = PRE.toUpperCase();
const PRE_OTHER = 'cd'.repeat(32);
const withPreimage = Macaroon.fromBase64(B64).withFirstPartyCaveat(`preimage=${PRE}`).toHex();

type Row = [name: string, headers: Record<string, string | string[]>, expect: 'none' | 'L402' | 'LSAT' | 'Macaroon' | `L402_ERR_${string}`];

const rows: Row[] = [
  ['no headers', {}, 'none'],
  ['L402', { authorization: `L402 ${B64}:${PRE}` }, 'L402'],
  ['LSAT', { authorization: `LSAT ${B64}:${PRE}` }, 'LSAT'],
  ['scheme lower case', { authorization: `l402 ${B64}:${PRE}` }, 'L402'],
  ['scheme mixed case', { authorization: `LsAt ${B64}:${PRE}` }, 'LSAT'],
  ['several spaces', { authorization: `L402    ${B64}:${PRE}` }, 'L402'],
  ['tab after scheme', { authorization: `L402\t${B64}:${PRE}` }, 'L402'],
  ['upper-case preimage', { authorization: `L402 ${B64}:${PRE_UPPER}` }, 'L402'],
  ['URL-safe unpadded macaroon', { authorization: `L402 ${URL_NOPAD}:${PRE}` }, 'L402'],
  ['two macaroons', { authorization: `L402 ${B64},${B64_2}:${PRE}` }, 'L402'],
  ['two macaroons with a space', { authorization: `L402 ${B64}, ${B64_2}:${PRE}` }, 'L402'],
  ['Go client LSAT + L402 lines, same credential', { authorization: [`LSAT ${B64}:${PRE}`, `L402 ${B64}:${PRE}`] }, 'LSAT'],
  ['joined duplicate headers, same credential', { authorization: `LSAT ${B64}:${PRE}, L402 ${B64}:${PRE}` }, 'LSAT'],
  ['same credential, different encodings', { authorization: [`L402 ${B64}:${PRE}`, `L402 ${URL_NOPAD}:${PRE_UPPER}`] }, 'L402'],
  ['two different preimages', { authorization: [`LSAT ${B64}:${PRE}`, `L402 ${B64}:${PRE_OTHER}`] }, 'L402_ERR_TOKEN_CONFLICTING'],
  ['two different macaroons, joined', { authorization: `L402 ${B64}:${PRE}, L402 ${B64_2}:${PRE}` }, 'L402_ERR_TOKEN_CONFLICTING'],
  ['Bearer only', { authorization: 'Bearer abc.def' }, 'none'],
  ['Bearer then L402, joined', { authorization: `Bearer abc, L402 ${B64}:${PRE}` }, 'L402'],
  ['Payment scheme ignored', { authorization: 'Payment eyJhIjoxfQ' }, 'none'],
  ['missing preimage', { authorization: `L402 ${B64}` }, 'L402_ERR_TOKEN_MALFORMED'],
  ['short preimage', { authorization: `L402 ${B64}:${PRE.slice(2)}` }, 'L402_ERR_TOKEN_MALFORMED'],
  ['non-hex preimage', { authorization: `L402 ${B64}:${'zz'.repeat(32)}` }, 'L402_ERR_TOKEN_MALFORMED'],
  ['empty credential', { authorization: 'L402 ' }, 'L402_ERR_TOKEN_MALFORMED'],
  ['bad base64', { authorization: `L402 !!!!:${PRE}` }, 'L402_ERR_MACAROON_BAD_ENCODING'],
  ['empty macaroon in list', { authorization: `L402 ${B64},:${PRE}` }, 'L402_ERR_TOKEN_MALFORMED'],
  ['truncated macaroon', { authorization: `L402 ${B64.slice(0, 40)}:${PRE}` }, 'L402_ERR_MACAROON_MALFORMED'],
  ['Macaroon header with preimage caveat', { macaroon: withPreimage }, 'Macaroon'],
  ['Grpc-Metadata-Macaroon header', { 'grpc-metadata-macaroon': withPreimage }, 'Macaroon'],
  ['both macaroon headers, same', { macaroon: withPreimage, 'grpc-metadata-macaroon': withPreimage }, 'Macaroon'],
  ['Macaroon header without preimage caveat', { macaroon: vectors.macaroons[0]!.hex }, 'L402_ERR_TOKEN_MALFORMED'],
  ['Macaroon header not hex', { macaroon: 'xyz' }, 'L402_ERR_MACAROON_BAD_ENCODING'],
  [
    'different macaroon headers',
    { macaroon: withPreimage, 'grpc-metadata-macaroon': vectors.macaroons[0]!.hex },
    'L402_ERR_TOKEN_CONFLICTING',
  ],
  ['Authorization wins over Macaroon', { authorization: `L402 ${B64}:${PRE}`, macaroon: 'xyz' }, 'L402'],
];

for (const [name, headers, expect] of rows) {
  test(`credential: ${name}`, () => {
    const r = readCredential(request(headers));
    if (expect === 'none') return assert.equal(r.kind, 'none');
    if (expect.startsWith('L402_ERR_')) {
      assert.equal(r.kind, 'invalid');
      if (r.kind === 'invalid') assert.equal(r.code, expect, r.reason);
      return;
    }
    assert.equal(r.kind, 'credential', r.kind === 'invalid' ? r.reason : '');
    if (r.kind !== 'credential') return;
    assert.equal(r.credential.scheme, expect);
    const wanted = expect === 'Macaroon' ? withPreimage : vectors.macaroons[0]!.hex;
    assert.equal(Buffer.from(r.credential.macaroons[0]!.toBinary()).toString('hex'), wanted);
    assert.equal(Buffer.from(r.credential.preimage).toString('hex'), PRE);
  });
}

test('two macaroons: the first is the token, the second is kept', () => {
  const r = readCredential(request({ authorization: `L402 ${B64},${B64_2}:${PRE}` }));
  assert.equal(r.kind, 'credential');
  if (r.kind === 'credential') assert.equal(Buffer.from(r.credential.macaroons[1]!.toBinary()).toString('hex'), vectors.macaroons[1]!.hex);
});

test('more than 8 macaroons are refused', () => {
  const r = readCredential(request({ authorization: `L402 ${Array(9).fill(B64).join(',')}:${PRE}` }));
  assert.equal(r.kind, 'invalid');
});

test('formatAuthorization round-trips and lower-cases the preimage', () => {
  const value = formatAuthorization(B64, PRE_UPPER);
  assert.equal(value, `L402 ${B64}:${PRE}`);
  assert.equal(formatAuthorization(B64, PRE, 'LSAT'), `LSAT ${B64}:${PRE}`);
  assert.equal(readCredential(request({ authorization: value })).kind, 'credential');
  assert.throws(() => formatAuthorization(B64, 'abc'), { code: 'L402_ERR_TOKEN_MALFORMED' });
});

test('a RequestView that throws gives an invalid result, not an exception', () => {
  const bad = {
    ...request(),
    headerValues: () => {
      throw new Error('boom');
    },
  };
  assert.equal(readCredential(bad).kind, 'invalid');
});
