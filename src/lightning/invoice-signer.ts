/**
 * Creates real, signed BOLT11 invoices with a node key held in memory. Used by
 * the dev backend and by the test fake of lnd, so that every invoice they hand
 * out decodes and verifies like one from a real node.
 */
import { createECDH, randomBytes } from 'node:crypto';
import bolt11 from 'bolt11';
import { L402Error } from '../core/errors.js';
import { bolt11Network, type LightningNetwork } from './network.js';

/** What to put in an invoice. */
export interface SignInvoiceRequest {
  /** Payment hash, 32 bytes. */
  paymentHash: Uint8Array;
  /** Amount in millisatoshis; 0 for an any-amount invoice. */
  amountMsat: bigint;
  /** Description (`d` field). */
  memo?: string;
  /** Seconds after `timestampSeconds` that the invoice stays payable. */
  expirySeconds: number;
  /** Creation time, Unix seconds. */
  timestampSeconds: number;
  /** Payment secret (`s` field), 32 bytes; random when absent. */
  paymentSecret?: Uint8Array;
}

/** Options of {@link InvoiceSigner}. */
export interface InvoiceSignerOptions {
  /** The node's secp256k1 private key, 32 bytes. */
  privateKey: Uint8Array;
  /** Network of the invoices (decides the `ln…` prefix). */
  network: LightningNetwork;
}

/**
 * Encodes and signs BOLT11 invoices with one node key.
 */
export class InvoiceSigner {
  /** The node's public key, 33-byte compressed, lower-case hex. */
  readonly nodePubkey: string;
  /** Network of the invoices. */
  readonly network: LightningNetwork;
  readonly #privateKeyHex: string;

  /**
   * @param options - the node key and network
   * @throws L402Error `L402_ERR_DEV_KEY_INVALID` when the key is not a valid secp256k1 private key
   */
  constructor(options: InvoiceSignerOptions) {
    this.network = options.network;
    this.#privateKeyHex = Buffer.from(options.privateKey).toString('hex');
    this.nodePubkey = publicKeyOf(options.privateKey);
  }

  /**
   * Encodes and signs an invoice.
   * @param request - payment hash, amount, memo, expiry and timestamp
   * @returns the BOLT11 payment request
   */
  sign(request: SignInvoiceRequest): string {
    const tags: { tagName: string; data: string | number }[] = [
      { tagName: 'payment_hash', data: Buffer.from(request.paymentHash).toString('hex') },
      { tagName: 'payment_secret', data: Buffer.from(request.paymentSecret ?? randomBytes(32)).toString('hex') },
      { tagName: 'description', data: request.memo ?? '' },
      { tagName: 'expire_time', data: request.expirySeconds },
      { tagName: 'min_final_cltv_expiry', data: 80 },
    ];
    const unsigned = bolt11.encode(
      {
        network: bolt11Network(this.network),
        timestamp: request.timestampSeconds,
        ...(request.amountMsat > 0n ? { millisatoshis: request.amountMsat.toString() } : {}),
        tags,
      },
      true,
    );
    const signed = bolt11.sign(unsigned, this.#privateKeyHex);
    // Unreachable: bolt11's sign() sets paymentRequest on every path that returns (its type
    // marks it optional only because decode() shares the type). A programmer-error assertion.
    if (signed.paymentRequest === undefined) throw new Error('bolt11.sign returned no payment request');
    return signed.paymentRequest;
  }
}

/** The compressed public key of a secp256k1 private key (ECDH rejects zero and scalars ≥ n). */
function publicKeyOf(privateKey: Uint8Array): string {
  if (privateKey.length !== 32) {
    throw new L402Error('L402_ERR_DEV_KEY_INVALID', `node private key must be 32 bytes, got ${privateKey.length}`);
  }
  try {
    const ecdh = createECDH('secp256k1');
    ecdh.setPrivateKey(privateKey);
    return ecdh.getPublicKey('hex', 'compressed');
  } catch (cause) {
    throw new L402Error('L402_ERR_DEV_KEY_INVALID', 'node private key is not a valid secp256k1 private key', { cause });
  }
}
