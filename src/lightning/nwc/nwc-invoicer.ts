/**
 * Invoicer over Nostr Wallet Connect (NIP-47): `make_invoice`,
 * `lookup_invoice`, `payment_received` notifications.
 */
import { createHash, randomBytes } from 'node:crypto';
import { InvoiceError } from '../../core/errors.js';
import {
  systemClock,
  type BackendHealth,
  type Clock,
  type CreateInvoiceRequest,
  type Invoice,
  type InvoiceStatus,
  type Invoicer,
} from '../../core/types.js';
import type { BackoffOptions } from '../backoff.js';
import { returnedInvoice } from '../returned-invoice.js';
import { field, isHex32, toBigInt } from '../http-backend.js';
import { FeedInvoicerCore } from '../feed-invoicer-core.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';
import { NwcConnection, NwcWalletError, type NwcEncryption } from './nwc-connection.js';
import { parseNwcUri } from './nwc-uri.js';

/** Options of {@link NwcInvoicer.connect}. */
export interface NwcInvoicerOptions {
  /**
   * The connection URI, `nostr+walletconnect://<wallet pubkey>?relay=…&secret=…`, of a
   * connection allowed `make_invoice` and `lookup_invoice` (and sending `payment_received`
   * notifications); never logged. Only its first relay is used (a warning names the others).
   */
  uri: string;
  /** Force NIP-44 or NIP-04; by default what the wallet's info event offers (NIP-44 first). */
  encryption?: NwcEncryption;
  /** Time allowed for the relay connection and each request, ms; 30 000 by default. */
  timeoutMs?: number;
  /** Ping interval of the relay connection, ms; 30 000 by default. */
  pingIntervalMs?: number;
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /** Called when the relay connection goes down or comes back. */
  onHealthChange?: (health: BackendHealth) => void;
  /** Time source. */
  clock?: Clock;
}

/**
 * {@link Invoicer} backed by a wallet reachable through Nostr Wallet Connect
 * (Alby Hub and others).
 *
 * Health is the state of the relay connection. Notifications are ephemeral
 * events that relays do not keep, so after a reconnect every invoice created
 * here that is still pending is looked up with `lookup_invoice`.
 *
 * @example
 * ```ts
 * const invoicer = await NwcInvoicer.connect({ uri: process.env.NWC_URI! });
 * ```
 */
export class NwcInvoicer implements Invoicer {
  readonly #connection: NwcConnection;
  readonly #core: FeedInvoicerCore;
  readonly #clock: Clock;

  private constructor(options: NwcInvoicerOptions) {
    const uri = parseNwcUri(options.uri);
    if (uri.relays.length > 1) {
      process.emitWarning(
        `Nostr Wallet Connect: only the first relay (${uri.relays[0] ?? ''}) is used; ignored: ${uri.relays.slice(1).join(', ')}`,
        { code: 'APERTURE_NWC_RELAYS' },
      );
    }
    this.#clock = options.clock ?? systemClock;
    this.#connection = new NwcConnection({
      uri,
      side: 'invoice',
      feature: 'NwcInvoicer',
      timeoutMs: options.timeoutMs ?? 30_000,
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
      ...(options.encryption !== undefined ? { encryption: options.encryption } : {}),
      onNotification: (n) => this.#onNotification(n),
    });
    this.#core = new FeedInvoicerCore(options, {
      backend: 'Nostr Wallet Connect',
      name: `Nostr Wallet Connect through ${this.#connection.relay}`,
      clock: this.#clock,
      open: () => this.#connection.open(),
      lookup: (hash) => this.lookupInvoice(hash),
      closeTransport: () => this.#connection.close(),
    });
  }

  /**
   * Connects to the relay and checks that the wallet answers this connection
   * (a `lookup_invoice` of an unknown hash must come back "not found").
   * @param options - the connection URI and settings
   * @returns the invoicer
   * @throws L402Error `L402_ERR_LN_CREDENTIALS` for a bad URI, `L402_ERR_DEPENDENCY_MISSING` without `nostr-tools`
   *   or `ws`; InvoiceError `L402_ERR_LN_UNAVAILABLE` (relay unreachable, wallet silent), `L402_ERR_LN_AUTH_REFUSED`
   *   (the wallet refuses the connection)
   */
  static async connect(options: NwcInvoicerOptions): Promise<NwcInvoicer> {
    const invoicer = new NwcInvoicer(options);
    await invoicer.#core.connect({
      after: async () => {
        const probe = createHash('sha256').update(randomBytes(32)).digest('hex');
        await invoicer.lookupInvoice(probe).catch((error: unknown) => {
          if ((error as { code?: string }).code !== 'L402_ERR_LN_INVOICE_NOT_FOUND') throw error;
        });
      },
    });
    return invoicer;
  }

  /** The encryption in use (`nip44` or `nip04`). */
  get encryption(): NwcEncryption | undefined {
    return this.#connection.encryption;
  }

  /**
   * Creates an invoice (`make_invoice` with `amount` in msat, `description`, `expiry`).
   * @param request - amount, memo, expiry (the wallet's default when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400); `L402_ERR_LN_UNAVAILABLE`, `L402_ERR_LN_AUTH_REFUSED`,
   *   `L402_ERR_LN_RPC_FAILED`, `L402_ERR_LN_BAD_RESPONSE` (503)
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#core.assertOpen();
    const result = await this.#call('make_invoice', {
      amount: request.amountSats * 1000,
      description: request.memo ?? '',
      ...(request.expirySeconds !== undefined ? { expiry: request.expirySeconds } : {}),
    });
    const bolt11 = field(result, 'invoice');
    if (typeof bolt11 !== 'string') throw badResponse('make_invoice', 'no invoice');
    // The payment hash beside the invoice is optional in NIP-47; when given, it must be the invoice's.
    const hash = field(result, 'payment_hash');
    const invoice = returnedInvoice(bolt11, hash === undefined ? undefined : String(hash), request.amountSats, (detail) =>
      badResponse('make_invoice', detail),
    );
    this.#core.feed.track(invoice.paymentHash, invoice.expiresAt);
    return invoice;
  }

  /**
   * Looks an invoice up (`lookup_invoice` by `payment_hash`).
   * @param paymentHash - 64 hex characters
   * @returns its status; `expired`/`failed`, or unpaid past `expires_at`, is `canceled`
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400), `L402_ERR_LN_INVOICE_NOT_FOUND` (404); 503 codes as createInvoice
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#core.assertOpen();
    const result = await this.#call('lookup_invoice', { payment_hash: hash });
    const settledAt = toBigInt(field(result, 'settled_at'));
    const state = field(result, 'state');
    if (state === 'settled' || (state === undefined && settledAt !== undefined && settledAt > 0n)) {
      const amount = toBigInt(field(result, 'amount'));
      if (amount === undefined) throw badResponse('lookup_invoice', 'a settled invoice without amount');
      const status: InvoiceStatus = {
        paymentHash: hash,
        state: 'settled',
        amountPaidSats: Number(amount / 1000n),
        settledAt: settledAt === undefined ? this.#clock.now() : Number(settledAt) * 1000,
      };
      this.#core.feed.deliver(status);
      return status;
    }
    const expiresAt = toBigInt(field(result, 'expires_at'));
    if (state === 'expired' || state === 'failed' || (expiresAt !== undefined && Number(expiresAt) * 1000 <= this.#clock.now()))
      return { paymentHash: hash, state: 'canceled' };
    return { paymentHash: hash, state: 'open' };
  }

  /**
   * Registers a settlement listener; each settlement is delivered once.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#core.onSettled(listener);
  }

  /**
   * Health of the relay connection.
   * @returns ok while it is open
   */
  health(): BackendHealth {
    return this.#core.health();
  }

  /** Closes the relay connection. */
  close(): Promise<void> {
    return this.#core.close();
  }

  async #call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return await this.#connection.request(method, params);
    } catch (error) {
      if (!(error instanceof NwcWalletError)) throw error;
      if (error.code === 'NOT_FOUND')
        throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `the wallet does not know that invoice: ${error.message}`, { status: 404 });
      if (error.code === 'UNAUTHORIZED' || error.code === 'RESTRICTED') {
        throw new InvoiceError(
          'L402_ERR_LN_AUTH_REFUSED',
          `the wallet refuses ${method} to this connection (${error.code}): ${error.message}`,
        );
      }
      throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `the wallet refused ${method} (${error.code}): ${error.message}`);
    }
  }

  /** `{"notification_type":"payment_received","notification":{payment_hash, amount (msat), settled_at, …}}`. */
  #onNotification(message: unknown): void {
    if (field(message, 'notification_type') !== 'payment_received') return;
    const n = field(message, 'notification');
    const hash = field(n, 'payment_hash');
    const amount = toBigInt(field(n, 'amount'));
    if (!isHex32(hash) || amount === undefined) return;
    const settledAt = toBigInt(field(n, 'settled_at'));
    this.#core.feed.deliver({
      paymentHash: hash.toLowerCase(),
      state: 'settled',
      amountPaidSats: Number(amount / 1000n),
      settledAt: settledAt === undefined ? this.#clock.now() : Number(settledAt) * 1000,
    });
  }
}

function badResponse(method: string, detail: string): InvoiceError {
  return new InvoiceError('L402_ERR_LN_BAD_RESPONSE', `the wallet answered ${method} with ${detail}`);
}
