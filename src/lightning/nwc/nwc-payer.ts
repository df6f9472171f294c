/**
 * Payer over Nostr Wallet Connect (NIP-47): `pay_invoice`, `lookup_invoice`.
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import { field, toBigInt } from '../http-backend.js';
import { paymentResult } from '../payment-result.js';
import { NwcConnection, NwcWalletError, type NwcEncryption } from './nwc-connection.js';
import { parseNwcUri } from './nwc-uri.js';

/** Options of {@link NwcPayer}. */
export interface NwcPayerOptions {
  /** The connection URI of a connection allowed `pay_invoice` (and `lookup_invoice`); never logged. Only its first relay is used. */
  uri: string;
  /** Force NIP-44 or NIP-04; by default what the wallet's info event offers. */
  encryption?: NwcEncryption;
  /** Time allowed for the relay connection and lookups, ms; 30 000 by default. */
  timeoutMs?: number;
  /** Payment timeout when a call sets no `timeoutMs`; 60 s by default. */
  defaultTimeoutMs?: number;
}

/**
 * Our code for a wallet's refusal of `pay_invoice`. NIP-47 has no code for an
 * already paid or an expired invoice: wallets say so in the message (under
 * `PAYMENT_FAILED` or `OTHER`), so those two are told by their text.
 */
function walletPayErrorCode(error: NwcWalletError): L402ErrorCode {
  if (/already paid/i.test(error.message)) return 'L402_ERR_PAY_ALREADY_PAID';
  if (/expired/i.test(error.message)) return 'L402_ERR_PAY_INVOICE_EXPIRED';
  return WALLET_ERRORS[error.code] ?? 'L402_ERR_PAY_FAILED';
}

/** NIP-47 error codes → ours. */
const WALLET_ERRORS: Record<string, L402ErrorCode> = {
  INSUFFICIENT_BALANCE: 'L402_ERR_PAY_INSUFFICIENT_BALANCE',
  UNAUTHORIZED: 'L402_ERR_PAY_AUTH_REFUSED',
  RESTRICTED: 'L402_ERR_PAY_AUTH_REFUSED',
  PAYMENT_FAILED: 'L402_ERR_PAY_FAILED',
  QUOTA_EXCEEDED: 'L402_ERR_PAY_FAILED',
  RATE_LIMITED: 'L402_ERR_PAY_FAILED',
  NOT_IMPLEMENTED: 'L402_ERR_PAY_FAILED',
  INTERNAL: 'L402_ERR_PAY_FAILED',
  OTHER: 'L402_ERR_PAY_FAILED',
};

/**
 * {@link Payer} backed by a wallet reachable through Nostr Wallet Connect.
 *
 * The relay connection opens on the first payment and again after it is lost.
 * Fee limit: NIP-47's `pay_invoice` takes none (the wallet's budget applies);
 * a fee above `maxFeeSats` is reported after the payment by a process warning
 * naming `maxFeeSats`.
 *
 * @example
 * ```ts
 * const payer = new NwcPayer({ uri: process.env.NWC_URI! });
 * const { preimage } = await payer.payInvoice(invoice);
 * ```
 */
export class NwcPayer implements Payer {
  readonly #connection: NwcConnection;
  readonly #defaultTimeoutMs: number;
  #closed = false;
  #opening: Promise<void> | undefined;

  /**
   * @param options - the connection URI and settings
   * @throws L402Error `L402_ERR_LN_CREDENTIALS` for a bad URI, `L402_ERR_DEPENDENCY_MISSING` without `nostr-tools` or `ws`
   */
  constructor(options: NwcPayerOptions) {
    const uri = parseNwcUri(options.uri);
    if (uri.relays.length > 1) {
      process.emitWarning(
        `Nostr Wallet Connect: only the first relay (${uri.relays[0] ?? ''}) is used; ignored: ${uri.relays.slice(1).join(', ')}`,
        { code: 'APERTURE_NWC_RELAYS' },
      );
    }
    this.#connection = new NwcConnection({
      uri,
      side: 'pay',
      feature: 'NwcPayer',
      timeoutMs: options.timeoutMs ?? 30_000,
      pingIntervalMs: 30_000,
      ...(options.encryption !== undefined ? { encryption: options.encryption } : {}),
    });
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  }

  /**
   * Pays an invoice (`pay_invoice`).
   * @param paymentRequest - BOLT11 invoice with an amount, or without one when `options.amountSats` is given
   * @param options - fee limit (checked afterwards), timeout (how long to wait for the wallet's answer), abort signal,
   *   the amount of an amountless invoice (sent as `amount`, msat)
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an amountless invoice without `amountSats`, or
   *   `amountSats` for an invoice with an amount), `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`,
   *   `L402_ERR_PAY_INSUFFICIENT_BALANCE`, `L402_ERR_PAY_AUTH_REFUSED`, `L402_ERR_PAY_INVOICE_EXPIRED`, `L402_ERR_PAY_FAILED`, `L402_ERR_PAY_TIMEOUT`
   *   (the payment may still complete: use trackPayment), `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_BAD_PREIMAGE`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    const amountSats = payAmount(decoded.amountMsat, options.amountSats);
    const amountMsat = amountSats !== undefined ? BigInt(amountSats) * 1000n : decoded.amountMsat;
    if (options.signal?.aborted === true)
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    await this.#open();
    const earlier = await this.#lookup(decoded.paymentHash);
    if (earlier !== undefined && isPaidOutgoing(earlier))
      throw new PaymentError('L402_ERR_PAY_ALREADY_PAID', `the wallet already paid ${decoded.paymentHash}`, { status: 409 });
    if (aborted(options.signal))
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal?.reason });
    // NIP-47's `amount` (msat) pays an invoice without an amount.
    const params = { invoice: paymentRequest, ...(amountSats !== undefined ? { amount: Number(amountMsat) } : {}) };
    const request = this.#connection.request('pay_invoice', params, options.timeoutMs ?? this.#defaultTimeoutMs);
    let result: Record<string, unknown>;
    try {
      result = await (options.signal === undefined ? request : abortable(request, options.signal));
    } catch (error) {
      if (!(error instanceof NwcWalletError)) throw error;
      const code = walletPayErrorCode(error);
      throw new PaymentError(
        code,
        `the wallet could not pay ${decoded.paymentHash} (${error.code}): ${error.message}`,
        code === 'L402_ERR_PAY_ALREADY_PAID' ? { status: 409 } : {},
      );
    }
    const fees = toBigInt(field(result, 'fees_paid')) ?? 0n;
    const paid = paymentResult('Nostr Wallet Connect', decoded.paymentHash, field(result, 'preimage'), amountMsat, fees);
    if (options.maxFeeSats !== undefined && paid.feeSats > options.maxFeeSats) {
      process.emitWarning(
        `the NWC wallet paid ${decoded.paymentHash} with a fee of ${paid.feeSats} sat, above maxFeeSats ${options.maxFeeSats}: NIP-47 takes no fee limit`,
        { code: 'APERTURE_NWC_FEE' },
      );
    }
    return paid;
  }

  /**
   * An earlier payment (`lookup_invoice` by `payment_hash`).
   * @param paymentHash - lower-case hex
   * @returns the payment when the wallet reports it paid; `undefined` when unknown or unpaid
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_AUTH_REFUSED`
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    const hash = paymentHash.toLowerCase();
    await this.#open();
    const found = await this.#lookup(hash);
    if (found === undefined || !isPaidOutgoing(found)) return undefined;
    const amount = toBigInt(field(found, 'amount'));
    if (amount === undefined) throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'the wallet reported a payment without amount');
    return paymentResult('Nostr Wallet Connect', hash, field(found, 'preimage'), amount, toBigInt(field(found, 'fees_paid')) ?? 0n);
  }

  /** Closes the relay connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#connection.close();
  }

  async #open(): Promise<void> {
    if (this.#closed) throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', 'the NWC payer is closed');
    if (this.#connection.connected) return;
    // One opening at a time, shared by concurrent payments.
    this.#opening ??= this.#connection.open().then(
      () => {
        this.#opening = undefined;
      },
      (error: unknown) => {
        this.#opening = undefined;
        throw error;
      },
    );
    await this.#opening;
  }

  async #lookup(hash: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.#connection.request('lookup_invoice', { payment_hash: hash });
    } catch (error) {
      if (!(error instanceof NwcWalletError)) throw error;
      if (error.code === 'NOT_FOUND' || error.code === 'NOT_IMPLEMENTED') return undefined;
      throw new PaymentError(
        WALLET_ERRORS[error.code] === 'L402_ERR_PAY_AUTH_REFUSED' ? 'L402_ERR_PAY_AUTH_REFUSED' : 'L402_ERR_PAY_UNAVAILABLE',
        `the wallet refused lookup_invoice (${error.code}): ${error.message}`,
      );
    }
  }
}

/** Whether the signal fired (read through a call, so that an earlier check does not narrow it). */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function isPaidOutgoing(tx: Record<string, unknown>): boolean {
  const settled = toBigInt(field(tx, 'settled_at'));
  const state = field(tx, 'state');
  return (
    field(tx, 'type') !== 'incoming' &&
    typeof field(tx, 'preimage') === 'string' &&
    (state === 'settled' || (state === undefined && settled !== undefined && settled > 0n))
  );
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void =>
      reject(
        new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted while the wallet was paying; it may still complete (use trackPayment)', {
          cause: signal.reason,
        }),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
