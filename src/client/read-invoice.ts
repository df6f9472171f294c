/**
 * Reads the fields of a BOLT11 invoice a client checks before paying: payment
 * hash, amount and expiry. The network is taken from the invoice's own prefix,
 * so invoices of any chain (mainnet, testnet, signet, regtest, simnet, others)
 * read; which network the payer can actually pay on is the payer's business.
 *
 * Written out here, in plain JavaScript without `Buffer` or `node:crypto`, so
 * that the client runs in browsers and edge runtimes. It checks the bech32
 * checksum and the structure, not the signature: the signature names the node
 * that issued the invoice, which a client has nothing to compare with, and the
 * paying node verifies it before paying. What binds the invoice to the token is
 * its payment hash, which the client compares with the macaroon's.
 *
 * Not `decodeInvoice` from the lightning area on purpose: that one accepts only
 * the networks a backend of this project runs on (and throws `PaymentError`
 * codes of the paying side), while a client must read any invoice a server
 * sends, also of chains it does not know, and report it under its own codes.
 */
import { L402Error } from '../core/errors.js';
import { hexOf } from './encoding.js';

/** What a client needs to know about an invoice before paying it. */
export interface InvoiceDetails {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Amount in millisatoshis; 0 for an any-amount invoice. */
  amountMsat: bigint;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
/** Longest invoice read; BOLT11 sets no limit, this keeps a hostile one from costing much. */
const MAX_LENGTH = 7089;
const HRP = /^ln([a-z]+?)(\d+[munp]?)?$/;
/** Millisatoshis per unit of each amount multiplier (`p` is a tenth of one). */
const MSAT_PER_UNIT: Record<string, bigint> = { '': 100_000_000_000n, m: 100_000_000n, u: 100_000n, n: 100n };
const TAG_PAYMENT_HASH = 1;
const TAG_EXPIRY = 6;
const SIGNATURE_WORDS = 104;

function notAnInvoice(reason: string): L402Error {
  return new L402Error('L402_ERR_CLIENT_INVOICE_INVALID', reason);
}

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i] as number;
  }
  return chk;
}

function expandHrp(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >>> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

/** 5-bit words to bytes, dropping the padding bits at the end. */
function wordsToBytes(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.floor((words.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let i = 0;
  for (const w of words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[i++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

function wordsToNumber(words: readonly number[]): number {
  let n = 0;
  for (const w of words) n = n * 32 + w;
  return n;
}

function amountMsatOf(amount: string | undefined): bigint {
  if (amount === undefined) return 0n;
  const unit = /[munp]$/.test(amount) ? amount.slice(-1) : '';
  const digits = unit === '' ? amount : amount.slice(0, -1);
  if (digits.length > 1 && digits.startsWith('0')) throw notAnInvoice('invoice amount has leading zeros');
  const value = BigInt(digits);
  if (unit !== 'p') return value * (MSAT_PER_UNIT[unit] as bigint);
  if (value % 10n !== 0n) throw notAnInvoice('invoice amount is a fraction of a millisatoshi');
  return value / 10n;
}

/**
 * Reads a BOLT11 invoice.
 * @param paymentRequest - the invoice
 * @returns payment hash, amount and expiry
 * @throws L402Error `L402_ERR_CLIENT_INVOICE_INVALID` (the message says why) when it is not a
 *   well-formed BOLT11 invoice
 */
export function readInvoice(paymentRequest: string): InvoiceDetails {
  const lower = paymentRequest.trim().toLowerCase();
  if (lower.length > MAX_LENGTH) throw notAnInvoice(`not a BOLT11 invoice (over ${MAX_LENGTH} characters)`);
  const separator = lower.lastIndexOf('1');
  const hrp = lower.slice(0, separator);
  const hrpParts = HRP.exec(hrp);
  if (separator < 0 || hrpParts === null || hrpParts[1] === undefined) throw notAnInvoice('not a BOLT11 invoice (bad prefix)');
  const words: number[] = [];
  for (const ch of lower.slice(separator + 1)) {
    const w = CHARSET.indexOf(ch);
    if (w < 0) throw notAnInvoice(`not a BOLT11 invoice (character ${JSON.stringify(ch)} is not bech32)`);
    words.push(w);
  }
  if (polymod([...expandHrp(hrp), ...words]) !== 1) throw notAnInvoice('not a BOLT11 invoice (bad checksum)');
  const data = words.slice(0, -6);
  if (data.length < 7 + SIGNATURE_WORDS) throw notAnInvoice('not a BOLT11 invoice (too short)');
  const timestamp = wordsToNumber(data.slice(0, 7));
  let paymentHash: string | undefined;
  let expirySeconds = 3600;
  const end = data.length - SIGNATURE_WORDS;
  for (let pos = 7; pos < end;) {
    if (pos + 3 > end) throw notAnInvoice('invoice field truncated');
    const type = data[pos] as number;
    const length = (data[pos + 1] as number) * 32 + (data[pos + 2] as number);
    const field = data.slice(pos + 3, pos + 3 + length);
    pos += 3 + length;
    if (pos > end) throw notAnInvoice('invoice field truncated');
    // Readers skip a p field of another length (BOLT 11), and keep the first valid one.
    if (type === TAG_PAYMENT_HASH && length === 52 && paymentHash === undefined) paymentHash = hexOf(wordsToBytes(field));
    if (type === TAG_EXPIRY) expirySeconds = wordsToNumber(field);
  }
  if (paymentHash === undefined) throw notAnInvoice('invoice has no valid payment hash');
  return { paymentHash, amountMsat: amountMsatOf(hrpParts[2]), expiresAt: (timestamp + expirySeconds) * 1000 };
}
