/**
 * Reads the fields of a BOLT11 invoice a client checks before paying. The
 * network is taken from the invoice's own prefix, so invoices of any chain
 * (mainnet, testnet, signet, regtest, simnet, others) decode; which network the
 * payer can actually pay on is the payer's business.
 *
 * Not `decodeInvoice` from the lightning area on purpose: that one accepts
 * only the networks a backend of this project runs on (and throws
 * `PaymentError` codes of the paying side), while a client must read any
 * invoice a server sends, also of chains it does not know, and report it
 * under its own codes. The client also stays free of the lightning area.
 */
import bolt11 from 'bolt11';

/** What a client needs to know about an invoice before paying it. */
export interface InvoiceDetails {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Amount in millisatoshis; 0 for an any-amount invoice. */
  amountMsat: bigint;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

const HRP = /^ln([a-z]+?)(\d+[munp]?)?$/;

/**
 * Decodes a BOLT11 invoice and verifies its signature.
 * @param paymentRequest - the invoice
 * @returns payment hash, amount and expiry
 * @throws Error (plain, with a reason) when it is not a valid BOLT11 invoice; callers wrap it
 */
export function readInvoice(paymentRequest: string): InvoiceDetails {
  const lower = paymentRequest.trim().toLowerCase();
  const hrp = HRP.exec(lower.slice(0, lower.lastIndexOf('1')));
  if (hrp === null || hrp[1] === undefined) throw new Error('not a BOLT11 invoice (bad prefix)');
  const chain = hrp[1];
  // Fallback-address versions only matter for on-chain fallbacks; use mainnet's for `bc`, test networks' otherwise.
  const network = chain === 'bc'
    ? { bech32: chain, pubKeyHash: 0x00, scriptHash: 0x05, validWitnessVersions: [0, 1] }
    : { bech32: chain, pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] };
  const decoded = bolt11.decode(lower, network);
  const hash = decoded.tagsObject.payment_hash;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new Error('invoice has no valid payment hash');
  const timestamp = decoded.timestamp ?? 0;
  const expiry = decoded.tagsObject.expire_time ?? 3600;
  return { paymentHash: hash, amountMsat: BigInt(decoded.millisatoshis ?? '0'), expiresAt: (timestamp + expiry) * 1000 };
}
