/**
 * Mints L402 tokens: creates an invoice, a fresh root key and a macaroon bound
 * to the invoice's payment hash.
 */
import { L402Error } from './errors.js';
import { fromHexStrict, sha256, toHex } from './bytes.js';
import { encodeIdentifier, newTokenId } from './identifier.js';
import { Macaroon } from './macaroon.js';
import { servicesCaveat } from './caveats.js';
import { systemClock } from './types.js';
import type { Clock, Invoice, Invoicer, SecretStore, ServiceTier } from './types.js';

/** What to mint. */
export interface MintOptions {
  /** Services the token is valid for, usually `[{ name, tier: 0 }]`; empty for a token valid everywhere. */
  services: readonly ServiceTier[];
  /** Invoice amount in satoshis, a non-negative integer. */
  priceSats: number;
  /** Extra first-party caveats, added after the services caveat, e.g. capabilities or expiry. */
  caveats?: readonly string[];
  /** Invoice memo. */
  memo?: string;
  /** Invoice expiry in seconds; the backend's default when absent. */
  invoiceExpirySeconds?: number;
}

/** A freshly minted, unpaid token with its invoice. */
export interface MintedToken {
  /** The macaroon. */
  macaroon: Macaroon;
  /** Standard padded base64 of the V2 macaroon, for the challenge header. */
  macaroonBase64: string;
  /** The invoice to pay. */
  invoice: Invoice;
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Token ID, lower-case hex. */
  tokenId: string;
}

/** Options of {@link Minter}. */
export interface MinterOptions {
  /** Creates invoices. */
  invoicer: Invoicer;
  /** Stores one root key per token. */
  secrets: SecretStore;
  /** Macaroon location, default `lsat`. */
  location?: string;
  /** Clock (kept for callers that compute expiry caveats from the minter's time). */
  clock?: Clock;
}

/**
 * Creates tokens: `identifier = v0 ‖ payment_hash ‖ random token id`, one fresh
 * 32-byte root key per token stored under sha256(identifier), location `lsat`.
 *
 * @example
 * ```ts
 * const minter = new Minter({ invoicer, secrets: new MemorySecretStore() });
 * const { macaroonBase64, invoice } = await minter.mint({ services: [{ name: 'api', tier: 0 }], priceSats: 10 });
 * ```
 */
export class Minter {
  /** The clock given at construction. */
  readonly clock: Clock;
  private readonly invoicer: Invoicer;
  private readonly secrets: SecretStore;
  private readonly location: string;

  /** @param options - invoicer, secret store, location, clock */
  constructor(options: MinterOptions) {
    this.invoicer = options.invoicer;
    this.secrets = options.secrets;
    this.location = options.location ?? 'lsat';
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Mints a token.
   * @param options - services, price and caveats
   * @returns the macaroon, its invoice and ids
   * @throws L402Error `L402_ERR_TOKEN_BAD_PRICE` for a price that is not a non-negative safe integer,
   *   `L402_ERR_TOKEN_BAD_CAVEAT` for an invalid service, `L402_ERR_TOKEN_BAD_INVOICE` when the
   *   invoicer returns a payment hash that is not 32 bytes of hex; whatever the invoicer or the
   *   secret store throw (an `InvoiceError` `L402_ERR_LN_…` when the backend fails)
   */
  async mint(options: MintOptions): Promise<MintedToken> {
    if (!Number.isSafeInteger(options.priceSats) || options.priceSats < 0) {
      throw new L402Error('L402_ERR_TOKEN_BAD_PRICE', `price must be a non-negative integer of satoshis, got ${options.priceSats}`);
    }
    const conditions: string[] = [];
    if (options.services.length > 0) conditions.push(servicesCaveat(options.services));
    if (options.caveats !== undefined) conditions.push(...options.caveats);
    const request: { amountSats: number; memo?: string; expirySeconds?: number } = { amountSats: options.priceSats };
    if (options.memo !== undefined) request.memo = options.memo;
    if (options.invoiceExpirySeconds !== undefined) request.expirySeconds = options.invoiceExpirySeconds;
    const invoice = await this.invoicer.createInvoice(request);
    const paymentHash = fromHexStrict(invoice.paymentHash);
    if (paymentHash === undefined || paymentHash.length !== 32) {
      throw new L402Error('L402_ERR_TOKEN_BAD_INVOICE', 'the invoicer returned a payment hash that is not 32 bytes of hex');
    }
    const tokenId = newTokenId();
    const identifier = encodeIdentifier({ version: 0, paymentHash, tokenId });
    const rootKey = await this.secrets.newSecret(sha256(identifier));
    let macaroon = Macaroon.mint(rootKey, identifier, this.location);
    for (const c of conditions) macaroon = macaroon.withFirstPartyCaveat(c);
    return {
      macaroon,
      macaroonBase64: macaroon.toBase64(),
      invoice,
      paymentHash: toHex(paymentHash),
      tokenId: toHex(tokenId),
    };
  }
}
