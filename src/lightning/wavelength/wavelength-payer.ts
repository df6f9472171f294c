/**
 * Payer over a Wavelength wallet daemon's HTTP/JSON gateway, with the calls of
 * the wallet's public `wavewalletrpc.WalletService`: `POST /v1/wallet/prepare-send`
 * (`{"invoice", "max_fee_sat", "note"}` → a single-use `send_intent_id` and the
 * quoted fee), `POST /v1/wallet/send` (`{"send_intent_id"}` → the initial
 * `WalletEntry`), then `POST /v1/wallet/inspect/activity` (`{"id": <payment hash>}`)
 * until the entry is `ENTRY_STATUS_COMPLETE` with its `progress.preimage`, or
 * `ENTRY_STATUS_FAILED` with its `failure_code`. The macaroon goes hex-encoded
 * in header `macaroon`, as for {@link WavelengthInvoicer}.
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { describeAnswer, field, HttpBackend, isHex32, toBigInt, type HttpAnswer } from '../http-backend.js';
import { payAmount } from '../pay-amount.js';
import { paymentResult } from '../payment-result.js';
import { checkGateway, readMacaroonHex } from './wavelength-invoicer.js';

const PREPARE_PATH = '/v1/wallet/prepare-send';
const SEND_PATH = '/v1/wallet/send';
const INSPECT_PATH = '/v1/wallet/inspect/activity';

/** Options of {@link WavelengthPayer}. */
export interface WavelengthPayerOptions {
  /** Base URL of the wallet daemon's HTTP/JSON gateway, `http://` or `https://`, e.g. `http://localhost:10061`. */
  gateway: string;
  /** The macaroon authorizing sends: bytes, or hex. Never logged. */
  macaroon?: Uint8Array | string;
  /**
   * Or the file holding it (binary), read once by the constructor. With neither, calls carry no credential,
   * which only a daemon started with `rpc.no-macaroons` accepts.
   */
  macaroonPath?: string;
  /** PEM CA certificate to trust for an `https://` gateway with a private CA (else the system's roots). */
  caCert?: string | Uint8Array;
  /** Payment timeout when a call sets no `timeoutMs`; 60 s by default. */
  defaultTimeoutMs?: number;
  /** Interval of the status checks of a payment still pending, ms; 500 by default. */
  pollIntervalMs?: number;
}

/** The wallet's refusal messages → our codes (grpc-gateway `{code, message}`; the wallet's texts are not a contract). */
const FAILURES: [RegExp, L402ErrorCode][] = [
  [/already (been )?paid|already exists|duplicate/i, 'L402_ERR_PAY_ALREADY_PAID'],
  [/in[- ]flight|in progress/i, 'L402_ERR_PAY_IN_FLIGHT'],
  [/expired/i, 'L402_ERR_PAY_INVOICE_EXPIRED'],
  [/insufficient|not enough/i, 'L402_ERR_PAY_INSUFFICIENT_BALANCE'],
  [/no route|route not found|unable to find|max_fee_sat|fee limit/i, 'L402_ERR_PAY_NO_ROUTE'],
  [/timed? ?out/i, 'L402_ERR_PAY_TIMEOUT'],
];

/** `WalletEntry.failure_code` → our codes. */
const FAILURE_CODES: Record<string, L402ErrorCode> = {
  ENTRY_FAILURE_CODE_TIMED_OUT: 'L402_ERR_PAY_TIMEOUT',
  ENTRY_FAILURE_CODE_EXPIRED: 'L402_ERR_PAY_INVOICE_EXPIRED',
};

/**
 * {@link Payer} backed by a Wavelength wallet daemon (`waved`): the wallet pays
 * through its swap server (in-Ark or over Lightning), so the buyer runs no node
 * either.
 *
 * Amountless invoices: `PrepareSend` ignores `amt_sat` for an invoice and the
 * wallet refuses one without an amount, so this payer refuses them (and
 * `PayOptions.amountSats`) before calling anything; MPP session refunds, which
 * pay such invoices, need another backend.
 *
 * Fee limit: `maxFeeSats` is sent as `max_fee_sat` (the wallet's cap on routing
 * fees; without it the daemon's default applies). When the quote already knows
 * the fee and it is above `maxFeeSats`, nothing is sent
 * (`L402_ERR_PAY_NO_ROUTE`); a settled fee above it is reported by a process
 * warning naming `maxFeeSats`.
 *
 * @example
 * ```ts
 * const payer = new WavelengthPayer({ gateway: 'http://localhost:10061', macaroonPath: 'wallet.macaroon' });
 * const { preimage } = await payer.payInvoice(invoice);
 * ```
 */
export class WavelengthPayer implements Payer {
  /** The gateway's base URL, without a trailing slash. */
  readonly gateway: string;
  readonly #http: HttpBackend;
  readonly #defaultTimeoutMs: number;
  readonly #pollMs: number;

  /**
   * @param options - gateway URL, macaroon, CA, defaults
   * @throws L402Error `L402_ERR_CONFIG_INVALID` for a gateway that is not an `http://` or `https://` URL with a host;
   *   `L402_ERR_LN_CREDENTIALS` when the macaroon cannot be read or is not a macaroon, or both forms are given
   */
  constructor(options: WavelengthPayerOptions) {
    this.gateway = checkGateway(options.gateway);
    const macaroonHex = readMacaroonHex(options);
    this.#http = new HttpBackend({
      baseUrl: this.gateway,
      headers: macaroonHex === undefined ? {} : { macaroon: macaroonHex },
      ...(options.caCert !== undefined ? { caCert: options.caCert } : {}),
      failure: (kind, message, cause) =>
        new PaymentError(
          kind === 'aborted' ? 'L402_ERR_PAY_ABORTED' : kind === 'timeout' ? 'L402_ERR_PAY_TIMEOUT' : 'L402_ERR_PAY_UNAVAILABLE',
          `Wavelength: ${message}`,
          { cause },
        ),
    });
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.#pollMs = options.pollIntervalMs ?? 500;
  }

  /**
   * Pays an invoice (prepare-send, send, then the entry's status until it is final).
   * @param paymentRequest - BOLT11 invoice with an amount (the wallet pays no invoice without one)
   * @param options - fee limit (sent as `max_fee_sat`), timeout, abort signal
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an invoice without an amount, and when
   *   `amountSats` is given), `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`, `L402_ERR_PAY_IN_FLIGHT`,
   *   `L402_ERR_PAY_INSUFFICIENT_BALANCE`, `L402_ERR_PAY_NO_ROUTE` (also for a quoted fee above `maxFeeSats`),
   *   `L402_ERR_PAY_INVOICE_EXPIRED`, `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_FAILED`, `L402_ERR_PAY_UNAVAILABLE`,
   *   `L402_ERR_PAY_AUTH_REFUSED`, `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    if (decoded.amountMsat === 0n) {
      payAmount(decoded.amountMsat, options.amountSats); // a missing or bad amountSats is refused by the shared rule first
      throw new PaymentError(
        'L402_ERR_PAY_INVALID_INVOICE',
        'Wavelength cannot pay an invoice without an amount: POST /v1/wallet/prepare-send takes no amount for invoices and refuses such invoices',
        { status: 400 },
      );
    }
    payAmount(decoded.amountMsat, options.amountSats);
    if (options.maxFeeSats !== undefined && (!Number.isSafeInteger(options.maxFeeSats) || options.maxFeeSats < 0)) {
      throw new PaymentError('L402_ERR_PAY_INVALID_INVOICE', 'maxFeeSats must be a whole number of satoshis, 0 or more', { status: 400 });
    }
    if (options.signal?.aborted === true)
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    const hash = decoded.paymentHash;
    const signal = options.signal !== undefined ? { signal: options.signal } : {};
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const deadline = Date.now() + timeoutMs;

    const before = await this.#entry(hash, signal);
    if (before !== undefined && isSend(before) && field(before, 'status') === 'ENTRY_STATUS_COMPLETE') {
      throw new PaymentError('L402_ERR_PAY_ALREADY_PAID', `the Wavelength wallet already paid ${hash}`, { status: 409 });
    }

    const prepareBody: Record<string, unknown> = { invoice: paymentRequest, note: 'L402' };
    // max_fee_sat 0 means "the daemon's default" on the wire, so a limit of 0 is enforced here only (below).
    if (options.maxFeeSats !== undefined && options.maxFeeSats > 0) prepareBody['max_fee_sat'] = String(options.maxFeeSats);
    const prepared = this.#checked(
      await this.#http.call('POST', PREPARE_PATH, { json: prepareBody, timeoutMs: remaining(deadline), ...signal }),
      PREPARE_PATH,
      hash,
    );
    const intent = field(prepared, 'send_intent_id');
    if (typeof intent !== 'string' || intent === '') throw badResponse(PREPARE_PATH, 'no send_intent_id');
    const quotedFee = toBigInt(field(prepared, 'expected_fee_sat'));
    if (
      options.maxFeeSats !== undefined &&
      field(prepared, 'fee_known') === true &&
      quotedFee !== undefined &&
      quotedFee > options.maxFeeSats
    ) {
      throw new PaymentError(
        'L402_ERR_PAY_NO_ROUTE',
        `the Wavelength wallet quotes a fee of ${quotedFee} sat for ${hash}, above maxFeeSats ${options.maxFeeSats}: nothing was sent`,
      );
    }

    const sent = this.#checked(
      await this.#http.call('POST', SEND_PATH, { json: { send_intent_id: intent }, timeoutMs: remaining(deadline), ...signal }),
      SEND_PATH,
      hash,
    );
    let entry: unknown = field(sent, 'entry');
    // The entry is followed by the id the wallet gave it: the payment hash for a swap-backed send (the proto),
    // possibly another id for one drawn from credit. The preimage is checked against the invoice's hash anyway.
    const sentId = field(entry, 'id');
    const id = typeof sentId === 'string' && sentId !== '' ? sentId : hash;
    let completeWithoutPreimage = false;
    for (;;) {
      if (entry !== undefined && sameEntry(entry, id)) {
        const status = field(entry, 'status');
        // The proto: the preimage is empty until it is durably known (and absent before the wallet's June 2026 API).
        completeWithoutPreimage = status === 'ENTRY_STATUS_COMPLETE';
        if (status === 'ENTRY_STATUS_COMPLETE' && preimageOf(entry) !== '') {
          const result = toResult(hash, entry, decoded.amountMsat);
          if (options.maxFeeSats !== undefined && result.feeSats > options.maxFeeSats) {
            process.emitWarning(
              `the Wavelength wallet paid ${hash} with a fee of ${result.feeSats} sat, above maxFeeSats ${options.maxFeeSats}`,
              { code: 'APERTURE_WAVELENGTH_FEE' },
            );
          }
          return result;
        }
        if (status === 'ENTRY_STATUS_FAILED') throw entryFailure(hash, entry);
      }
      if (Date.now() >= deadline)
        throw new PaymentError(
          'L402_ERR_PAY_TIMEOUT',
          completeWithoutPreimage
            ? `the Wavelength wallet reports the payment of ${hash} complete but gave no preimage within ${timeoutMs} ms (a daemon older than the entry's progress.preimage gives none); check it with trackPayment`
            : `the payment of ${hash} is still pending after ${timeoutMs} ms; check it with trackPayment`,
        );
      await sleep(Math.min(this.#pollMs, remaining(deadline)), options.signal, hash);
      entry = await this.#entry(id, signal);
    }
  }

  /**
   * An earlier payment (`POST /v1/wallet/inspect/activity` with its hash).
   * @param paymentHash - 64 hex characters
   * @returns the payment when the wallet reports it complete with its preimage; `undefined` when unknown, failed or pending
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_AUTH_REFUSED`, `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    if (!isHex32(paymentHash)) return undefined;
    const hash = paymentHash.toLowerCase();
    const entry = await this.#entry(hash, {});
    if (entry === undefined || !isSend(entry) || field(entry, 'status') !== 'ENTRY_STATUS_COMPLETE' || preimageOf(entry) === '')
      return undefined;
    return toResult(hash, entry, undefined);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#http.close();
  }

  /** The wallet's entry of an id (a payment hash for swap-backed sends); `undefined` when it has none (NotFound). */
  async #entry(id: string, call: { signal?: AbortSignal }): Promise<unknown> {
    const answer = await this.#http.call('POST', INSPECT_PATH, { json: { id }, ...call });
    if (answer.status === 404) return undefined;
    const body = this.#checked(answer, INSPECT_PATH, id);
    const entry = field(body, 'entry');
    return sameEntry(entry, id) ? entry : undefined;
  }

  #checked(answer: HttpAnswer, path: string, hash: string): unknown {
    if (answer.status === 401 || answer.status === 403) {
      throw new PaymentError(
        'L402_ERR_PAY_AUTH_REFUSED',
        `the Wavelength gateway refused the macaroon for POST ${path}: ${gatewayMessage(answer)}`,
      );
    }
    if (answer.status !== 200) {
      const message = field(answer.body, 'message');
      const text = typeof message === 'string' && message !== '' ? message : '';
      // grpc-gateway: Unavailable is 503; another 5xx without the wallet's message is no answer from it either.
      const code =
        FAILURES.find(([pattern]) => pattern.test(text))?.[1] ??
        (answer.status === 503 || (answer.status >= 500 && text === '') ? 'L402_ERR_PAY_UNAVAILABLE' : 'L402_ERR_PAY_FAILED');
      throw new PaymentError(
        code,
        `the Wavelength wallet could not pay ${hash} (POST ${path}): ${gatewayMessage(answer)}`,
        code === 'L402_ERR_PAY_ALREADY_PAID' ? { status: 409 } : {},
      );
    }
    if (typeof answer.body !== 'object' || answer.body === null)
      throw badResponse(path, `something that is not JSON (${describeAnswer(answer)})`);
    return answer.body;
  }
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined, hash: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = (): void => {
      clearTimeout(timer);
      reject(
        new PaymentError('L402_ERR_PAY_ABORTED', `stopped waiting for the payment of ${hash}; it may still complete (trackPayment)`, {
          cause: signal?.reason,
        }),
      );
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }, ms);
    if (signal?.aborted === true) aborted();
    else signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Whether an entry is the one of `id` (compared without case when both are hashes). */
function sameEntry(entry: unknown, id: string): boolean {
  const own = field(entry, 'id');
  return typeof own === 'string' && (own === id || (isHex32(own) && isHex32(id) && own.toLowerCase() === id.toLowerCase()));
}

function isSend(entry: unknown): boolean {
  const kind = field(entry, 'kind');
  return kind === 'ENTRY_KIND_SEND' || kind === 1;
}

function preimageOf(entry: unknown): string {
  const preimage = field(field(entry, 'progress'), 'preimage');
  return typeof preimage === 'string' ? preimage : '';
}

function entryFailure(hash: string, entry: unknown): PaymentError {
  const reason = field(entry, 'failure_reason');
  const text = typeof reason === 'string' && reason !== '' ? reason : 'no reason given';
  const failureCode = field(entry, 'failure_code');
  const code =
    (typeof failureCode === 'string' ? FAILURE_CODES[failureCode] : undefined) ??
    FAILURES.find(([pattern]) => pattern.test(text))?.[1] ??
    'L402_ERR_PAY_FAILED';
  const named = typeof failureCode === 'string' ? ` (${failureCode})` : '';
  return new PaymentError(code, `the Wavelength wallet reports the payment of ${hash} failed${named}: ${text}`);
}

/** Outgoing amounts are negative in `WalletEntry.amount_sat`; the fee is `fee_sat`. int64 fields come as decimal strings. */
function toResult(hash: string, entry: unknown, invoiceMsat: bigint | undefined): PaymentResult {
  const amount = toBigInt(field(entry, 'amount_sat'));
  const fee = toBigInt(field(entry, 'fee_sat')) ?? 0n;
  const abs = (x: bigint): bigint => (x < 0n ? -x : x);
  // The invoice's own amount when known (exact to the msat); else what the entry reports, whole satoshis.
  const amountMsat = invoiceMsat ?? (amount !== undefined && amount !== 0n ? abs(amount) * 1000n : undefined);
  if (amountMsat === undefined) throw badResponse(INSPECT_PATH, 'a payment without amount_sat');
  return paymentResult('the Wavelength wallet', hash, preimageOf(entry), amountMsat, abs(fee) * 1000n);
}

/** The gateway's `{"message": …}` (grpc-gateway's error shape), else the answer. */
function gatewayMessage(answer: HttpAnswer): string {
  const message = field(answer.body, 'message');
  return typeof message === 'string' && message !== '' ? `HTTP ${answer.status}: ${message}` : describeAnswer(answer);
}

function badResponse(path: string, detail: string): PaymentError {
  return new PaymentError('L402_ERR_PAY_UNAVAILABLE', `the Wavelength gateway answered POST ${path} with ${detail}`);
}
