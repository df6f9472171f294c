/**
 * Invoicer over a Wavelength wallet daemon's HTTP/JSON gateway (the
 * reference's `wavelengthgateway`): `POST /v1/wallet/recv` with
 * `{"amt_sat": n, "memo": "…"}`, the macaroon hex-encoded in header
 * `macaroon`. The invoice is backed by an inbound swap, so the seller runs no
 * Lightning node. The gateway only creates invoices: it reports no settlement,
 * so this backend says so (`tracksSettlement: false`) and `lookupInvoice`
 * refuses, as the reference's client does.
 */
import { readFileSync } from 'node:fs';
import { InvoiceError, L402Error } from '../../core/errors.js';
import { parseMacaroonBinary } from '../../core/macaroon-binary.js';
import {
  systemClock,
  type BackendHealth,
  type Clock,
  type CreateInvoiceRequest,
  type Invoice,
  type InvoiceStatus,
  type Invoicer,
} from '../../core/types.js';
import { describeAnswer, field, HttpBackend, isHex32, type HttpAnswer } from '../http-backend.js';
import { returnedInvoice } from '../returned-invoice.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';

/** The gateway's route for an inbound payment. */
const RECV_PATH = '/v1/wallet/recv';

/** Options of {@link WavelengthInvoicer.connect}. */
export interface WavelengthInvoicerOptions {
  /** Base URL of the wallet daemon's HTTP/JSON gateway, `http://` or `https://`, e.g. `http://localhost:10061`. */
  gateway: string;
  /** The macaroon authorizing the calls: bytes, or hex. Never logged. */
  macaroon?: Uint8Array | string;
  /**
   * Or the file holding it (binary), read once at start. With neither, calls carry no credential, which only
   * a daemon started with `rpc.no-macaroons` accepts.
   */
  macaroonPath?: string;
  /** PEM CA certificate to trust for an `https://` gateway with a private CA (else the system's roots). */
  caCert?: string | Uint8Array;
  /** Timeout of each call, ms; 30 000 by default (a client waits on its 402 meanwhile). */
  timeoutMs?: number;
  /** Called when health changes. */
  onHealthChange?: (health: BackendHealth) => void;
  /** Time source. */
  clock?: Clock;
}

/**
 * {@link Invoicer} backed by a Wavelength wallet daemon.
 *
 * What it cannot do: report settlement. `onSettled` never fires and
 * `lookupInvoice` throws `L402_ERR_LN_UNSUPPORTED`, so strict verification
 * (`strictverify`) is refused with it, the ledger keeps its challenges
 * pending, and MPP sessions (whose refunds need a payer) are not offered.
 * L402 tokens and MPP charges are verified by their preimage and work.
 *
 * Health: the gateway has no call that does not create an invoice, so
 * `connect` checks the URL and the macaroon only; health is then the outcome
 * of the last call (not ok after a call that got no answer or a 5xx, ok again
 * after the next one that succeeds).
 *
 * @example
 * ```ts
 * const invoicer = await WavelengthInvoicer.connect({ gateway: 'http://localhost:10061', macaroonPath: 'wallet.macaroon' });
 * ```
 */
export class WavelengthInvoicer implements Invoicer {
  /** The gateway reports no settlement: `onSettled` never fires, `lookupInvoice` refuses. */
  readonly tracksSettlement = false;
  /** The gateway's base URL, without a trailing slash. */
  readonly gateway: string;
  readonly #http: HttpBackend;
  readonly #clock: Clock;
  readonly #onHealthChange: ((health: BackendHealth) => void) | undefined;
  #health: BackendHealth;
  #closed = false;

  private constructor(options: WavelengthInvoicerOptions, gateway: string, macaroonHex: string | undefined) {
    this.#clock = options.clock ?? systemClock;
    this.#onHealthChange = options.onHealthChange;
    this.gateway = gateway;
    this.#http = new HttpBackend({
      baseUrl: gateway,
      headers: macaroonHex === undefined ? {} : { macaroon: macaroonHex },
      ...(options.caCert !== undefined ? { caCert: options.caCert } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      failure: (_kind, message, cause) => new InvoiceError('L402_ERR_LN_UNAVAILABLE', `Wavelength: ${message}`, { status: 503, cause }),
    });
    this.#health = { ok: true, detail: `Wavelength gateway at ${gateway} (not yet called)`, since: this.#clock.now() };
  }

  /**
   * Checks the gateway URL and reads the macaroon. Nothing is called: the gateway's only call creates an invoice.
   * @param options - gateway URL, macaroon, CA, timeout
   * @returns the invoicer
   * @throws L402Error `L402_ERR_CONFIG_INVALID` for a gateway that is not an `http://` or `https://` URL with a host;
   *   `L402_ERR_LN_CREDENTIALS` when the macaroon cannot be read or is not a macaroon (a TLS certificate, a
   *   truncated file), or both `macaroon` and `macaroonPath` are given
   */
  static async connect(options: WavelengthInvoicerOptions): Promise<WavelengthInvoicer> {
    return new WavelengthInvoicer(options, checkGateway(options.gateway), readMacaroonHex(options));
  }

  /**
   * Creates an invoice (`POST /v1/wallet/recv`).
   * @param request - amount (positive: the gateway makes no any-amount invoices), memo. `expirySeconds` is not
   *   sent: the gateway takes none and sets its own; `Invoice.expiresAt` is the returned invoice's
   * @returns the invoice, checked: it decodes, carries the payment hash the gateway reported and the amount asked for
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400) for a bad or zero amount; `L402_ERR_LN_UNAVAILABLE`
   *   (no answer, 5xx), `L402_ERR_LN_AUTH_REFUSED` (401/403: a wrong or missing macaroon),
   *   `L402_ERR_LN_RPC_FAILED` (another refusal, with the gateway's message), `L402_ERR_LN_BAD_RESPONSE` (503)
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    if (request.amountSats === 0) {
      throw new InvoiceError('L402_ERR_LN_INVALID_REQUEST', 'the Wavelength gateway makes no invoices without an amount', {
        status: 400,
      });
    }
    if (this.#closed) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'the Wavelength invoicer is closed', { status: 503 });
    const json: Record<string, unknown> = { amt_sat: request.amountSats };
    if (request.memo !== undefined && request.memo !== '') json['memo'] = request.memo;
    let answer: HttpAnswer;
    try {
      answer = await this.#http.call('POST', RECV_PATH, { json });
    } catch (error) {
      this.#setHealth(false, (error as Error).message);
      throw error;
    }
    const body = this.#checked(answer);
    const bolt11 = field(body, 'invoice');
    if (typeof bolt11 !== 'string' || bolt11 === '') throw badResponse('no invoice');
    const reported = reportedHash(body);
    if (reported === null) throw badResponse('a payment hash that is not 32 bytes of hex');
    const invoice = returnedInvoice(bolt11, reported, request.amountSats, badResponse);
    this.#setHealth(true, `Wavelength gateway at ${this.gateway}`);
    return invoice;
  }

  /**
   * Not available: the gateway reports no invoice state.
   * @param paymentHash - 64 hex characters
   * @throws InvoiceError `L402_ERR_LN_INVALID_REQUEST` (400) for a malformed hash, else `L402_ERR_LN_UNSUPPORTED` (501)
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    normalizePaymentHash(paymentHash);
    throw new InvoiceError('L402_ERR_LN_UNSUPPORTED', 'the Wavelength gateway reports no invoice state: settlement is not tracked', {
      status: 501,
    });
  }

  /**
   * Accepts a listener that is never called: the gateway reports no settlement.
   * @returns a function that does nothing
   */
  onSettled(_listener: (status: InvoiceStatus) => void): () => void {
    return () => undefined;
  }

  /** Outcome of the last call (ok before the first). */
  health(): BackendHealth {
    return this.#health;
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#health = { ok: false, detail: 'closed', since: this.#clock.now() };
    await this.#http.close();
  }

  #checked(answer: HttpAnswer): unknown {
    if (answer.status === 401 || answer.status === 403) {
      this.#setHealth(false, `the gateway refused the macaroon (HTTP ${answer.status})`);
      throw new InvoiceError(
        'L402_ERR_LN_AUTH_REFUSED',
        `the Wavelength gateway refused the macaroon for POST ${RECV_PATH}: ${gatewayMessage(answer)}`,
        { status: 503 },
      );
    }
    if (answer.status >= 500) {
      this.#setHealth(false, `the gateway failed (HTTP ${answer.status})`);
      throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `the Wavelength gateway failed POST ${RECV_PATH}: ${gatewayMessage(answer)}`, {
        status: 503,
      });
    }
    if (answer.status !== 200) {
      throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `the Wavelength gateway refused POST ${RECV_PATH}: ${gatewayMessage(answer)}`, {
        status: 503,
      });
    }
    if (typeof answer.body !== 'object' || answer.body === null)
      throw badResponse(`something that is not JSON (${describeAnswer(answer)})`);
    return answer.body;
  }

  #setHealth(ok: boolean, detail: string): void {
    if (this.#closed || this.#health.ok === ok) return;
    this.#health = { ok, detail, since: this.#clock.now() };
    try {
      this.#onHealthChange?.(this.#health);
    } catch (error) {
      process.emitWarning(`onHealthChange listener threw: ${String(error)}`, { code: 'APERTURE_LISTENER' });
    }
  }
}

/**
 * The gateway URL without a trailing slash, or a coded error.
 * @internal
 */
export function checkGateway(gateway: string): string {
  let url: URL | undefined;
  try {
    url = new URL(gateway);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.host === '' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new L402Error(
      'L402_ERR_CONFIG_INVALID',
      `the Wavelength gateway must be an http:// or https:// URL with a host, got "${gateway}"`,
    );
  }
  return gateway.replace(/\/+$/, '');
}

/**
 * The macaroon as hex, checked to be a macaroon; undefined when none is configured.
 * @internal
 */
export function readMacaroonHex(options: Pick<WavelengthInvoicerOptions, 'macaroon' | 'macaroonPath'>): string | undefined {
  if (options.macaroon !== undefined && options.macaroonPath !== undefined) {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', 'give the Wavelength macaroon or its path, not both');
  }
  let bytes: Uint8Array;
  let where: string;
  if (options.macaroonPath !== undefined) {
    where = options.macaroonPath;
    try {
      bytes = readFileSync(options.macaroonPath);
    } catch (cause) {
      throw new L402Error('L402_ERR_LN_CREDENTIALS', `cannot read the Wavelength macaroon ${where}: ${(cause as Error).message}`, {
        cause,
      });
    }
  } else if (typeof options.macaroon === 'string') {
    where = 'the macaroon given';
    if (!/^([0-9a-fA-F]{2})+$/.test(options.macaroon))
      throw new L402Error('L402_ERR_LN_CREDENTIALS', 'a Wavelength macaroon given as a string must be hex');
    bytes = Buffer.from(options.macaroon, 'hex');
  } else if (options.macaroon !== undefined) {
    where = 'the macaroon given';
    bytes = options.macaroon;
  } else {
    return undefined;
  }
  // Parsed, not only read: a TLS certificate or a truncated file hex-encodes fine and would only be
  // refused later, by the daemon, as an authentication failure that does not say why.
  try {
    parseMacaroonBinary(bytes, () => undefined);
  } catch (cause) {
    throw new L402Error('L402_ERR_LN_CREDENTIALS', `${where} is not a macaroon: ${(cause as Error).message}`, { cause });
  }
  return Buffer.from(bytes).toString('hex');
}

/**
 * The payment hash the gateway reported beside the invoice: `entry.request.lightning_invoice.payment_hash`
 * (the reference reads it there), else the entry's `id` when it is a hash; `undefined` when it reported
 * none, `null` when what it reported is not a hash.
 */
function reportedHash(body: unknown): string | undefined | null {
  const entry = field(body, 'entry');
  const nested = field(field(field(entry, 'request'), 'lightning_invoice'), 'payment_hash');
  if (nested !== undefined && nested !== '') return isHex32(nested) ? nested.toLowerCase() : null;
  const id = field(entry, 'id');
  return isHex32(id) ? id.toLowerCase() : undefined;
}

/** The gateway's `{"message": …}` (grpc-gateway's error shape), else the answer. */
function gatewayMessage(answer: HttpAnswer): string {
  const message = field(answer.body, 'message');
  return typeof message === 'string' && message !== '' ? `HTTP ${answer.status}: ${message}` : describeAnswer(answer);
}

function badResponse(detail: string): InvoiceError {
  return new InvoiceError('L402_ERR_LN_BAD_RESPONSE', `the Wavelength gateway answered POST ${RECV_PATH} with ${detail}`, { status: 503 });
}
