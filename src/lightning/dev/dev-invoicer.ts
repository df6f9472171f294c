/**
 * A Lightning backend without Lightning: invoices are real signed BOLT11
 * (regtest by default) and are "paid" in process, which reveals the preimage.
 * For development, tests, examples and benchmarks. Never for real money: it
 * refuses mainnet.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError, InvoiceError, PaymentError } from '../../core/errors.js';
import {
  systemClock,
  type BackendHealth,
  type Clock,
  type CreateInvoiceRequest,
  type Invoice,
  type InvoiceStatus,
  type Invoicer,
  type PaymentResult,
} from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { InvoiceSigner } from '../invoice-signer.js';
import { isLightningNetwork, type LightningNetwork } from '../network.js';
import { loadOrCreateNodeKey } from '../node-key-file.js';
import { SettlementListeners } from '../settlement-listeners.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';

/** The warning every {@link DevInvoicer} gives when it is created. */
export const DEV_BACKEND_WARNING =
  'DEV LIGHTNING BACKEND - NOT FOR PRODUCTION: invoices are paid in process by anyone who can reach /api/dev/pay; no money moves.';

/** Networks the dev backend accepts. Mainnet is deliberately absent. */
export type DevNetwork = Exclude<LightningNetwork, 'mainnet'>;

/** Options of {@link DevInvoicer}. */
export interface DevInvoicerOptions {
  /**
   * File holding the node private key (64 hex characters), created with mode
   * 0600 when absent, e.g. `<basedir>/dev-node.key`. Without it (and without
   * `privateKey`) a fresh key is used for the life of the process.
   */
  keyFile?: string;
  /** The node private key itself, 32 bytes; takes precedence over `keyFile`. */
  privateKey?: Uint8Array;
  /** Network of the invoices; `regtest` (`lnbcrt…`) by default. `mainnet` is refused. */
  network?: DevNetwork;
  /** Expiry of invoices created without one, seconds; 3600 by default (lnd's default). */
  defaultExpirySeconds?: number;
  /**
   * Unpaid invoices kept at most (each holds its BOLT11 text, payment hash and preimage,
   * under 1 KB);
   * 10,000 by default. When full, the oldest unpaid invoice is forgotten to make room
   * (with equal expiries, the first to expire): it can no longer be paid or looked up.
   */
  maxUnpaidInvoices?: number;
  /** Time source. */
  clock?: Clock;
  /** Receives {@link DEV_BACKEND_WARNING}; by default a process warning on stderr. */
  onWarning?: (message: string) => void;
}

interface Entry {
  invoice: Invoice;
  preimage: string;
  state: 'open' | 'settled';
  settledAt?: number;
  /** Satoshis paid: the invoice's amount, or what the payer chose for an amountless one. */
  paidSats?: number;
}

/** Open invoices expired longer than this are forgotten, to bound memory. */
const FORGET_EXPIRED_AFTER_MS = 10 * 60_000;
/** Default of {@link DevInvoicerOptions.maxUnpaidInvoices}. */
export const DEFAULT_MAX_UNPAID_DEV_INVOICES = 10_000;

/**
 * In-memory Lightning backend that signs real BOLT11 invoices and settles them
 * when {@link DevInvoicer.pay} is called.
 *
 * Invoice states: `open` → `settled` on payment; an open invoice past its
 * expiry reports `canceled` (as lnd does) and can no longer be paid.
 *
 * Memory: unpaid invoices are kept until 10 minutes past their expiry, at most
 * `maxUnpaidInvoices` of them (the oldest is forgotten first), so that clients
 * asking for challenges without paying cannot grow the process without bound.
 * Settled invoices are kept for the life of the process (each took a payment).
 *
 * @example
 * ```ts
 * const invoicer = new DevInvoicer({ keyFile: join(basedir, 'dev-node.key') });
 * const invoice = await invoicer.createInvoice({ amountSats: 10 });
 * const { preimage } = await invoicer.pay(invoice.paymentRequest);
 * ```
 */
export class DevInvoicer implements Invoicer {
  /** The loud "not for production" warning, also given to `onWarning` at construction. */
  readonly warning = DEV_BACKEND_WARNING;
  /** Network of the invoices. */
  readonly network: DevNetwork;
  /** Public key of the dev node that signs the invoices, lower-case hex. */
  readonly nodePubkey: string;

  readonly #signer: InvoiceSigner;
  readonly #clock: Clock;
  readonly #defaultExpirySeconds: number;
  readonly #maxUnpaid: number;
  /** Unpaid invoices, oldest first. */
  readonly #open = new Map<string, Entry>();
  /** Paid invoices. */
  readonly #settled = new Map<string, Entry>();
  #evicted = 0;
  readonly #listeners = new SettlementListeners();
  readonly #since: number;
  #closed = false;

  /**
   * @param options - key file or key, network, default expiry, clock
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` for `network: 'mainnet'` or an unknown network,
   *   or a bad `defaultExpirySeconds` or `maxUnpaidInvoices`
   * @throws L402Error `L402_ERR_DEV_KEY_INVALID` when the key file cannot be read, created or parsed
   */
  constructor(options: DevInvoicerOptions = {}) {
    const network: unknown = options.network ?? 'regtest';
    if (network === 'mainnet' || !isLightningNetwork(network)) {
      throw new ConfigError([
        {
          path: 'authenticator.network',
          message:
            network === 'mainnet'
              ? 'the dev Lightning backend refuses mainnet: it gives invoices away for free; use lnd for real payments'
              : `unknown network ${JSON.stringify(network)}; use regtest, testnet, signet or simnet`,
        },
      ]);
    }
    const expiry = options.defaultExpirySeconds ?? 3600;
    if (!Number.isSafeInteger(expiry) || expiry <= 0) {
      throw new ConfigError([{ path: 'defaultExpirySeconds', message: 'must be a positive whole number of seconds' }]);
    }
    const maxUnpaid = options.maxUnpaidInvoices ?? DEFAULT_MAX_UNPAID_DEV_INVOICES;
    if (!Number.isSafeInteger(maxUnpaid) || maxUnpaid <= 0) {
      throw new ConfigError([{ path: 'maxUnpaidInvoices', message: 'must be a positive whole number' }]);
    }
    this.network = network as DevNetwork;
    this.#defaultExpirySeconds = expiry;
    this.#maxUnpaid = maxUnpaid;
    this.#clock = options.clock ?? systemClock;
    const privateKey = options.privateKey ?? (options.keyFile !== undefined ? loadOrCreateNodeKey(options.keyFile) : randomBytes(32));
    this.#signer = new InvoiceSigner({ privateKey, network });
    this.nodePubkey = this.#signer.nodePubkey;
    this.#since = this.#clock.now();
    const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'APERTURE_DEV_BACKEND' }));
    warn(DEV_BACKEND_WARNING);
  }

  /**
   * Creates and signs an invoice with a fresh random preimage.
   * @param request - amount, memo, expiry
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400) for a bad amount or expiry;
   *   `L402_ERR_LN_UNAVAILABLE` (503) after {@link DevInvoicer.close}
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    this.#assertOpen();
    validateInvoiceRequest(request);
    const now = this.#clock.now();
    this.#makeRoom(now);
    const preimage = randomBytes(32);
    const paymentHash = createHash('sha256').update(preimage).digest();
    const expirySeconds = request.expirySeconds ?? this.#defaultExpirySeconds;
    const timestampSeconds = Math.floor(now / 1000);
    const signed = this.#signer.sign({
      paymentHash,
      amountMsat: BigInt(request.amountSats) * 1000n,
      ...(request.memo !== undefined ? { memo: request.memo } : {}),
      expirySeconds,
      timestampSeconds,
    });
    // The encoder builds the text one character at a time: V8 keeps that as a tree of
    // about 280 pieces (8.8 KB) until it is flattened. A flat copy is 0.4 KB.
    const paymentRequest = Buffer.from(signed, 'latin1').toString('latin1');
    const invoice: Invoice = {
      paymentRequest,
      paymentHash: paymentHash.toString('hex'),
      amountSats: request.amountSats,
      expiresAt: (timestampSeconds + expirySeconds) * 1000,
    };
    this.#open.set(invoice.paymentHash, { invoice, preimage: preimage.toString('hex'), state: 'open' });
    return invoice;
  }

  /** Unpaid invoices kept now (at most `maxUnpaidInvoices`). */
  get unpaidInvoices(): number {
    return this.#open.size;
  }

  /** Unpaid, unexpired invoices forgotten so far because `maxUnpaidInvoices` were kept. */
  get evictedInvoices(): number {
    return this.#evicted;
  }

  /**
   * The state of an invoice this backend issued.
   * @param paymentHash - 64 hex characters
   * @returns its status; an expired unpaid invoice is `canceled`
   * @throws InvoiceError `L402_ERR_LN_INVOICE_NOT_FOUND` (404) when it was never issued here (or was
   *   forgotten: 10 minutes after expiring unpaid, or unpaid when `maxUnpaidInvoices` newer ones
   *   were issued); `L402_ERR_LN_INVALID_REQUEST` (400) for a bad hash
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    const entry = this.#open.get(hash) ?? this.#settled.get(hash);
    if (entry === undefined) {
      throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `no invoice with payment hash ${hash}`, { status: 404 });
    }
    return this.#status(hash, entry);
  }

  /**
   * Pays (settles) an invoice this backend issued, as if a payment had arrived.
   *
   * Paying twice is refused, as a real node refuses a second payment of the
   * same invoice: the preimage is revealed once.
   * @param paymentRequest - a BOLT11 invoice from {@link DevInvoicer.createInvoice}
   * @param amountSats - satoshis to pay an invoice created without an amount (an MPP return invoice);
   *   not allowed for an invoice with an amount
   * @returns the preimage, amount and a fee of 0
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (400) when it does not decode, when `amountSats`
   *   is given for an invoice with an amount, or is not a positive whole number;
   *   `L402_ERR_DEV_UNKNOWN_INVOICE` (404) when this node did not issue it (or forgot it, see
   *   {@link DevInvoicer.lookupInvoice});
   *   `L402_ERR_DEV_INVOICE_EXPIRED` (410) past its expiry;
   *   `L402_ERR_DEV_ALREADY_PAID` (409) when it was paid before
   */
  async pay(paymentRequest: string, amountSats?: number): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    if (amountSats !== undefined) {
      if (decoded.amountMsat !== 0n) {
        throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'an amount may only be chosen for an invoice without one', { status: 400 });
      }
      if (!Number.isSafeInteger(amountSats) || amountSats <= 0) {
        throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'the amount to pay must be a positive whole number of satoshis', {
          status: 400,
        });
      }
    }
    const entry =
      decoded.payee === this.nodePubkey ? (this.#open.get(decoded.paymentHash) ?? this.#settled.get(decoded.paymentHash)) : undefined;
    if (entry === undefined || entry.invoice.paymentRequest !== paymentRequest.toLowerCase()) {
      throw new PaymentError('L402_ERR_DEV_UNKNOWN_INVOICE', 'this dev node did not issue that invoice', { status: 404 });
    }
    if (entry.state === 'settled') {
      throw new PaymentError('L402_ERR_DEV_ALREADY_PAID', `invoice ${decoded.paymentHash} is already paid`, { status: 409 });
    }
    const now = this.#clock.now();
    if (now >= entry.invoice.expiresAt) {
      throw new PaymentError('L402_ERR_DEV_INVOICE_EXPIRED', `invoice ${decoded.paymentHash} expired`, { status: 410 });
    }
    entry.state = 'settled';
    entry.settledAt = now;
    entry.paidSats = amountSats ?? entry.invoice.amountSats;
    this.#open.delete(decoded.paymentHash);
    this.#settled.set(decoded.paymentHash, entry);
    this.#listeners.emit(this.#status(decoded.paymentHash, entry));
    return { paymentHash: decoded.paymentHash, preimage: entry.preimage, amountSats: entry.paidSats, feeSats: 0 };
  }

  /**
   * Registers a settlement listener; it fires synchronously inside {@link DevInvoicer.pay}.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Always healthy while open: there is nothing to lose a connection to.
   * @returns `{ ok: true }` until closed
   */
  health(): BackendHealth {
    return this.#closed ? { ok: false, detail: 'closed', since: this.#since } : { ok: true, detail: 'dev backend', since: this.#since };
  }

  /** Drops the listeners; later `createInvoice` calls fail with `L402_ERR_LN_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }

  #status(paymentHash: string, entry: Entry): InvoiceStatus {
    if (entry.state === 'settled') {
      return { paymentHash, state: 'settled', amountPaidSats: entry.paidSats ?? entry.invoice.amountSats, settledAt: entry.settledAt ?? 0 };
    }
    return { paymentHash, state: this.#clock.now() >= entry.invoice.expiresAt ? 'canceled' : 'open' };
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'the dev Lightning backend is closed');
  }

  /**
   * Forgets unpaid invoices that expired a while ago, then, while `maxUnpaidInvoices`
   * are kept, the oldest unpaid ones. Unpaid invoices are in creation order, so both
   * scans stop at the first invoice still worth keeping: the cost is the number forgotten.
   */
  #makeRoom(now: number): void {
    for (const [hash, entry] of this.#open) {
      if (now >= entry.invoice.expiresAt + FORGET_EXPIRED_AFTER_MS) this.#open.delete(hash);
      else break;
    }
    for (const [hash, entry] of this.#open) {
      if (this.#open.size < this.#maxUnpaid) break;
      this.#open.delete(hash);
      if (now < entry.invoice.expiresAt) this.#evicted++;
    }
  }
}
