/**
 * Lightning Node Connect pairing phrases: 10 words of the BIP-39 English list,
 * 11 bits each, packed most significant bit first into 14 bytes of entropy (110
 * bits used, the last 2 zero); and the scrypt stretching of that entropy into the
 * SPAKE2 password of the pairing handshake.
 *
 * @internal Not exported from the package.
 */
import { scrypt } from 'node:crypto';
import { L402Error } from '../core/errors.js';
import { BIP39_ENGLISH_WORDS } from './bip39-english.js';

/** Words in a pairing phrase. */
export const PAIRING_PHRASE_WORDS = 10;
/** Bytes of entropy a pairing phrase encodes. */
export const PAIRING_ENTROPY_BYTES = 14;

const BITS_PER_WORD = 11;
const WORD_INDEX = new Map(BIP39_ENGLISH_WORDS.map((word, index) => [word, index]));

/**
 * The entropy of a pairing phrase.
 *
 * The phrase is split on single spaces, as the reference does, so a double space
 * or a leading or trailing space is an error; unlike the reference, which maps an
 * unknown word to index 0, an unknown word is refused.
 *
 * @param phrase - 10 words separated by single spaces, or the 10 words
 * @returns the 14 bytes of entropy
 * @throws L402Error `L402_ERR_LNC_PHRASE_INVALID` when there are not exactly 10 known words
 */
export function pairingPhraseToEntropy(phrase: string | readonly string[]): Buffer {
  const words = typeof phrase === 'string' ? phrase.split(' ') : phrase;
  if (words.length !== PAIRING_PHRASE_WORDS) {
    throw new L402Error(
      'L402_ERR_LNC_PHRASE_INVALID',
      `a pairing phrase has ${PAIRING_PHRASE_WORDS} words separated by single spaces, not ${words.length}`,
    );
  }
  let acc = 0n;
  for (const [i, word] of words.entries()) {
    const index = WORD_INDEX.get(word);
    if (index === undefined) {
      throw new L402Error(
        'L402_ERR_LNC_PHRASE_INVALID',
        `word ${i + 1} of the pairing phrase is not in the BIP-39 English word list (${JSON.stringify(word.slice(0, 20))})`,
      );
    }
    acc = (acc << BigInt(BITS_PER_WORD)) | BigInt(index);
  }
  acc <<= BigInt(PAIRING_ENTROPY_BYTES * 8 - PAIRING_PHRASE_WORDS * BITS_PER_WORD);
  return Buffer.from(acc.toString(16).padStart(PAIRING_ENTROPY_BYTES * 2, '0'), 'hex');
}

/**
 * The pairing phrase of some entropy (the inverse of {@link pairingPhraseToEntropy};
 * the last 2 bits of the entropy are not encoded).
 * @param entropy - 14 bytes
 * @returns the 10 words separated by single spaces
 * @throws L402Error `L402_ERR_LNC_PHRASE_INVALID` when the entropy is not 14 bytes
 */
export function entropyToPairingPhrase(entropy: Uint8Array): string {
  if (entropy.length !== PAIRING_ENTROPY_BYTES) {
    throw new L402Error('L402_ERR_LNC_PHRASE_INVALID', `pairing entropy has ${PAIRING_ENTROPY_BYTES} bytes, not ${entropy.length}`);
  }
  let acc = BigInt(`0x${Buffer.from(entropy).toString('hex')}`);
  acc >>= BigInt(PAIRING_ENTROPY_BYTES * 8 - PAIRING_PHRASE_WORDS * BITS_PER_WORD);
  const words: string[] = [];
  for (let i = 0; i < PAIRING_PHRASE_WORDS; i++) {
    words.unshift(BIP39_ENGLISH_WORDS[Number(acc & 0x7ffn)] as string);
    acc >>= BigInt(BITS_PER_WORD);
  }
  return words.join(' ');
}

/** scrypt parameters of the reference (N = 2^16, r = 8, p = 1, 32 bytes). */
const SCRYPT = { N: 1 << 16, r: 8, p: 1, maxmem: 128 * 1024 * 1024 } as const;

/**
 * The SPAKE2 password of the pairing (XX) handshake: scrypt of the entropy with
 * the entropy as its own salt. Asynchronous: it takes a noticeable fraction of a
 * second and 64 MiB, off the event loop.
 * @param entropy - the pairing entropy (14 bytes from a phrase)
 * @returns the 32-byte stretched secret
 * @throws L402Error `L402_ERR_LNC_PHRASE_INVALID` when the entropy is empty
 */
export function stretchPairingEntropy(entropy: Uint8Array): Promise<Buffer> {
  if (entropy.length === 0) {
    return Promise.reject(new L402Error('L402_ERR_LNC_PHRASE_INVALID', 'pairing entropy is empty'));
  }
  return new Promise((resolve, reject) => {
    scrypt(entropy, entropy, 32, SCRYPT, (error, key) => {
      if (error) reject(new L402Error('L402_ERR_LNC_PHRASE_INVALID', `scrypt failed: ${error.message}`, { cause: error }));
      else resolve(key);
    });
  });
}
