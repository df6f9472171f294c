// Pairing phrase → entropy → scrypt → session ID and stream IDs, against the
// known answers of the LNC design brief (§4.2), and the phrases refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { BIP39_ENGLISH_WORDS } from '../../src/lnc/bip39-english.js';
import { entropyToPairingPhrase, pairingPhraseToEntropy, stretchPairingEntropy } from '../../src/lnc/pairing-phrase.js';
import { sessionId, sessionStreams } from '../../src/lnc/session-id.js';

const PHRASE = 'satoshi light zoo abandon tiger bridge ocean piano hammer wolf';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('the embedded word list is the BIP-39 English list', () => {
  assert.equal(BIP39_ENGLISH_WORDS.length, 2048);
  assert.equal(
    createHash('sha256')
      .update(`${BIP39_ENGLISH_WORDS.join('\n')}\n`)
      .digest('hex'),
    '2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda',
  );
  assert.deepEqual(
    PHRASE.split(' ').map((w) => BIP39_ENGLISH_WORDS.indexOf(w)),
    [1531, 1036, 2047, 0, 1807, 222, 1223, 1312, 836, 2022],
  );
});

test('phrase → entropy → SID → stream IDs', () => {
  const entropy = pairingPhraseToEntropy(PHRASE);
  assert.equal(hex(entropy), 'bf7033ff800e1e37a63d20689f98');
  assert.deepEqual(pairingPhraseToEntropy(PHRASE.split(' ')), entropy);
  const sid = sessionId({ entropy });
  assert.equal(
    hex(sid),
    'dc80ddcc8f87fb72e61d3f0cab4505126feb3c15a96f6c0286eddbdb2bfabceed653c74eade7bcd56a2078c8bd018346fabd4ade67baf42733bf6200c429d995',
  );
  const streams = sessionStreams(sid);
  assert.equal(
    streams.clientReceive.toString('base64'),
    '3IDdzI+H+3LmHT8Mq0UFEm/rPBWpb2wChu3b2yv6vO7WU8dOree81WogeMi9AYNG+r1K3me69Cczv2IAxCnZlQ==',
  );
  assert.equal(
    streams.clientSend.toString('base64'),
    '3IDdzI+H+3LmHT8Mq0UFEm/rPBWpb2wChu3b2yv6vO7WU8dOree81WogeMi9AYNG+r1K3me69Cczv2IAxCnZlA==',
  );
  // Fresh copies: changing one leaves the SID alone.
  streams.clientSend[0] = 0;
  assert.equal(sid[0], 0xdc);
});

test('entropy → phrase is the inverse', () => {
  assert.equal(entropyToPairingPhrase(Buffer.from('bf7033ff800e1e37a63d20689f98', 'hex')), PHRASE);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2047 }), { minLength: 10, maxLength: 10 }), (indices) => {
      const phrase = indices.map((i) => BIP39_ENGLISH_WORDS[i]).join(' ');
      const entropy = pairingPhraseToEntropy(phrase);
      assert.equal(entropy.length, 14);
      assert.equal((entropy[13] as number) & 0b11, 0, 'the last 2 bits are zero');
      assert.equal(entropyToPairingPhrase(entropy), phrase);
    }),
  );
});

test('scrypt stretching (N=2^16, r=8, p=1) equals the reference', async () => {
  assert.equal(
    hex(await stretchPairingEntropy(Buffer.from('bf7033ff800e1e37a63d20689f98', 'hex'))),
    '36f38d53742675e655227ffb244ba60622bc319bd359c7dd1d86062a62f7fd5f',
  );
  assert.equal(hex(await stretchPairingEntropy(Buffer.alloc(14, 1))), '649cd33ac2f1c14afe3b04c52b5e2ff4942fbbc3bf881f92c5f6c172c84df148');
  await assert.rejects(stretchPairingEntropy(Buffer.alloc(0)), { code: 'L402_ERR_LNC_PHRASE_INVALID' });
});

test('9, 11 or unknown words, and stray spaces, are refused', () => {
  const words = PHRASE.split(' ');
  for (const [phrase, message] of [
    [words.slice(0, 9).join(' '), /10 words .* not 9/],
    [[...words, 'zoo'].join(' '), /not 11/],
    [words.join('  '), /not 19/],
    [` ${PHRASE}`, /not 11/],
    [`${PHRASE} `, /not 11/],
    ['', /not 1$/],
    [[...words.slice(0, 4), 'bitcoin', ...words.slice(5)].join(' '), /word 5 .* not in the BIP-39 English word list \("bitcoin"\)/],
    [PHRASE.toUpperCase(), /word 1 .*"SATOSHI"/],
  ] as const) {
    assert.throws(() => pairingPhraseToEntropy(phrase), { code: 'L402_ERR_LNC_PHRASE_INVALID', message }, JSON.stringify(phrase));
  }
  assert.throws(() => pairingPhraseToEntropy(words.slice(1)), { code: 'L402_ERR_LNC_PHRASE_INVALID' });
  assert.throws(() => entropyToPairingPhrase(Buffer.alloc(13)), { code: 'L402_ERR_LNC_PHRASE_INVALID' });
});
