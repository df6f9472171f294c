// The client's own BOLT11 reader, SHA-256 and hex/base64, written without Node so that
// the client runs in browsers: checked against the bolt11 package, node:crypto and Buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import bolt11 from 'bolt11';
import fc from 'fast-check';
import { readInvoice } from '../../src/client/read-invoice.js';
import { sha256 } from '../../src/client/sha256.js';
import { base64Of, bytesOfBase64, bytesOfHex, hexOf } from '../../src/client/encoding.js';
import { InvoiceSigner } from '../../src/lightning/invoice-signer.js';
import type { LightningNetwork } from '../../src/lightning/network.js';

const signers = new Map<LightningNetwork, InvoiceSigner>();
function signerFor(network: LightningNetwork): InvoiceSigner {
  let signer = signers.get(network);
  if (signer === undefined) {
    for (;;) {
      try {
        signer = new InvoiceSigner({ privateKey: randomBytes(32), network });
        break;
      } catch {
        // A random 32 bytes above the curve order: draw again.
      }
    }
    signers.set(network, signer);
  }
  return signer;
}

test('BOLT 11 example: $3 for a cup of coffee within one minute (2500u, expiry 60)', () => {
  const invoice =
    'lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpuaztrnwngzn3kdzw5hydlzf03qdgm2hdq27cqv3agm2awhz5se903vruatfhq77w3ls4evs3ch9zw97j25emudupq63nyw24cg27h2rspfj9srp';
  assert.deepEqual(readInvoice(invoice), {
    paymentHash: '0001020304050607080900010203040506070809000102030405060708090102',
    amountMsat: 250_000_000n,
    expiresAt: (1496314658 + 60) * 1000,
  });
  assert.deepEqual(readInvoice(invoice.toUpperCase()), readInvoice(invoice), 'read in either case');
});

test('signed invoices of every network, amount and expiry read as the bolt11 package decodes them', () => {
  const networks: LightningNetwork[] = ['mainnet', 'testnet', 'signet', 'regtest', 'simnet'];
  fc.assert(
    fc.property(
      fc.constantFrom(...networks),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      // Whole satoshis up to 21M BTC, odd millisatoshi amounts (p multiplier), and none.
      fc.oneof(fc.bigInt({ min: 0n, max: 2_100_000_000_000_000_000n }), fc.bigInt({ min: 1n, max: 10_000n }), fc.constant(0n)),
      fc.integer({ min: 1, max: 31_536_000 }),
      fc.integer({ min: 1_500_000_000, max: 2_000_000_000 }),
      fc.string({ maxLength: 40 }),
      (network, hash, amountMsat, expirySeconds, timestampSeconds, memo) => {
        const invoice = signerFor(network).sign({ paymentHash: hash, amountMsat, expirySeconds, timestampSeconds, memo });
        const decoded = bolt11.decode(invoice, {
          bech32: invoice.slice(2, invoice.lastIndexOf('1')).replace(/\d+[munp]?$/, ''),
          pubKeyHash: 0x6f,
          scriptHash: 0xc4,
          validWitnessVersions: [0, 1],
        });
        const read = readInvoice(invoice);
        assert.equal(read.paymentHash, decoded.tagsObject.payment_hash);
        assert.equal(read.paymentHash, Buffer.from(hash).toString('hex'));
        assert.equal(read.amountMsat, BigInt(decoded.millisatoshis ?? '0'));
        assert.equal(read.amountMsat, amountMsat);
        assert.equal(read.expiresAt, (timestampSeconds + expirySeconds) * 1000);
      },
    ),
    { numRuns: 200 },
  );
});

// A bech32 codec of the test's own (BIP 173), to build invoices the signer would not.
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
function polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i] as number;
  }
  return chk;
}
const hrpWords = (hrp: string): number[] => [
  ...[...hrp].map((c) => c.charCodeAt(0) >>> 5),
  0,
  ...[...hrp].map((c) => c.charCodeAt(0) & 31),
];
const bech32 = {
  encode(hrp: string, words: number[], _limit?: number): string {
    const mod = polymod([...hrpWords(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
    const checksum = Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
    return `${hrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join('')}`;
  },
  decode(text: string, _limit?: number): { words: number[] } {
    const sep = text.lastIndexOf('1');
    return { words: [...text.slice(sep + 1)].map((c) => CHARSET.indexOf(c)).slice(0, -6) };
  },
};

/** Re-encodes an invoice's data under another human-readable part, with a valid checksum. */
function withPrefix(invoice: string, hrp: string): string {
  const { words } = bech32.decode(invoice, 10_000);
  return bech32.encode(hrp, words, 10_000);
}

test('what is not a well-formed invoice is refused with a reason', () => {
  const good = signerFor('regtest').sign({
    paymentHash: new Uint8Array(32).fill(7),
    amountMsat: 10_000n,
    expirySeconds: 600,
    timestampSeconds: 1_700_000_000,
  });
  const flipped = `${good.slice(0, 40)}${good[40] === 'q' ? 'p' : 'q'}${good.slice(41)}`;
  const cases: Array<[string, RegExp]> = [
    [flipped, /bad checksum/],
    [`${good.slice(0, 30)}b${good.slice(31)}`, /not bech32/],
    ['lnbcrt', /bad prefix/],
    ['hello1qqqq', /bad prefix/],
    [withPrefix(good, 'lnbcrt11p'), /fraction of a millisatoshi/],
    [withPrefix(good, 'lnbcrt010n'), /leading zeros/],
    [bech32.encode('lnbcrt', [0, 0, 0, 0, 0, 0, 0, ...new Array<number>(104).fill(0)], 10_000), /no valid payment hash/],
    [bech32.encode('lnbcrt', [0, 0, 0, 0, 0, 0, 0, 1, 1, 20, ...new Array<number>(104).fill(0)], 10_000), /truncated/],
    [bech32.encode('lnbcrt', [0, 0, 0], 10_000), /too short/],
    [`lnbc1${'q'.repeat(8000)}`, /over 7089 characters/],
  ];
  for (const [invoice, reason] of cases) assert.throws(() => readInvoice(invoice), reason, invoice.slice(0, 60));
  // A `p` field of another length is skipped (BOLT 11), then the real one read.
  const { words } = bech32.decode(good, 10_000);
  const extra = [1, 0, 3, 1, 2, 3];
  const skipped = bech32.encode('lnbcrt100n', [...words.slice(0, 7), ...extra, ...words.slice(7)], 10_000);
  assert.equal(readInvoice(skipped).paymentHash, '07'.repeat(32));
  assert.equal(readInvoice(withPrefix(good, 'lnbcrt10p')).amountMsat, 1n);
  assert.equal(readInvoice(withPrefix(good, 'lnbcrt2')).amountMsat, 200_000_000_000n);
});

test('sha256 agrees with node:crypto, across block boundaries', () => {
  for (const length of [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const data = randomBytes(length);
    assert.equal(hexOf(sha256(data)), createHash('sha256').update(data).digest('hex'), `length ${length}`);
  }
  assert.equal(hexOf(sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('hex and base64 agree with Buffer; bad text is refused', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const buffer = Buffer.from(bytes);
      assert.equal(hexOf(bytes), buffer.toString('hex'));
      assert.deepEqual(bytesOfHex(buffer.toString('hex').toUpperCase()), new Uint8Array(bytes));
      assert.equal(base64Of(bytes), buffer.toString('base64'));
      assert.deepEqual(bytesOfBase64(buffer.toString('base64')), new Uint8Array(bytes));
      assert.deepEqual(bytesOfBase64(buffer.toString('base64url')), new Uint8Array(bytes));
    }),
  );
  assert.equal(base64Of(new Uint8Array(100_000).fill(255)), Buffer.alloc(100_000, 255).toString('base64'));
  for (const bad of ['abc', 'zz', '0g']) assert.equal(bytesOfHex(bad), undefined);
  for (const bad of ['a', 'ab$c', 'abcde', '====']) assert.equal(bytesOfBase64(bad), undefined, bad);
});
