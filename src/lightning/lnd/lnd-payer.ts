/**
 * The production Payer: pays BOLT11 invoices through lnd's router
 * (`routerrpc.Router.SendPaymentV2`), and finds earlier payments again with
 * `TrackPaymentV2` after a crash.
 */
import type * as grpc from '@grpc/grpc-js';
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import {
  GrpcStatusCode,
  createLndClients,
  describeGrpcError,
  isConnectivityError,
  isGrpcError,
  serverStream,
  type LndClients,
  type LndConnectionOptions,
} from './lnd-grpc.js';

/** Options of {@link LndPayer}. */
export interface LndPayerOptions extends LndConnectionOptions {
  /** Fee limit when a call sets no `maxFeeSats`; 10 sat by default (the reference client's cap). */
  defaultMaxFeeSats?: number;
  /** Payment timeout when a call sets no `timeoutMs`; 60 s by default. */
  defaultTimeoutMs?: number;
}

/** lnd's Payment message as decoded. */
interface RpcPayment {
  payment_hash: string;
  payment_preimage: string;
  value_sat: string;
  value_msat: string;
  status: 'UNKNOWN' | 'IN_FLIGHT' | 'SUCCEEDED' | 'FAILED' | 'INITIATED';
  fee_sat: string;
  fee_msat: string;
  failure_reason: string;
}

/** lnd's PaymentFailureReason → our code and a human explanation. */
const FAILURES: Record<string, [code: L402ErrorCode, text: string]> = {
  FAILURE_REASON_TIMEOUT: ['L402_ERR_PAY_TIMEOUT', 'no route found before the payment timeout'],
  FAILURE_REASON_NO_ROUTE: ['L402_ERR_PAY_NO_ROUTE', 'no route to the payee within the fee limit'],
  FAILURE_REASON_ERROR: ['L402_ERR_PAY_FAILED', 'the payment failed with a non-recoverable error'],
  FAILURE_REASON_INCORRECT_PAYMENT_DETAILS: [
    'L402_ERR_PAY_INCORRECT_DETAILS',
    'the payee rejected the payment (unknown, expired or already paid invoice, or wrong amount)',
  ],
  FAILURE_REASON_INSUFFICIENT_BALANCE: ['L402_ERR_PAY_INSUFFICIENT_BALANCE', 'not enough outbound balance'],
  FAILURE_REASON_CANCELED: ['L402_ERR_PAY_CANCELED', 'the payment was canceled'],
};

/**
 * {@link Payer} backed by lnd's router.
 *
 * @example
 * ```ts
 * const payer = new LndPayer({ host: 'localhost:10009', tlsCertPath, macaroonPath: 'admin.macaroon' });
 * const { preimage } = await payer.payInvoice(invoice, { maxFeeSats: 10 });
 * ```
 */
export class LndPayer implements Payer {
  readonly #clients: LndClients;
  readonly #defaultMaxFeeSats: number;
  readonly #defaultTimeoutMs: number;

  /**
   * Creates the payer; the connection is made on the first payment.
   * @param options - host, TLS certificate, macaroon (one allowed to send payments), defaults
   * @throws L402Error `L402_ERR_LN_CREDENTIALS` when the certificate or macaroon cannot be read,
   *   `L402_ERR_DEPENDENCY_MISSING` when the gRPC packages are not installed
   */
  constructor(options: LndPayerOptions) {
    this.#clients = createLndClients(options, { initialMs: 250, maxMs: 30_000 }, 'LndPayer');
    this.#defaultMaxFeeSats = options.defaultMaxFeeSats ?? 10;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  }

  /**
   * Pays an invoice and waits for the final outcome.
   * @param paymentRequest - BOLT11 invoice with an amount, or without one when `options.amountSats` is given
   * @param options - fee limit (sat), timeout (rounded up to whole seconds), abort signal, the amount of an
   *   amountless invoice (sent as `amt`)
   * @returns preimage, amount and fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE` (also for an amountless invoice without `amountSats`,
   *   or `amountSats` for an invoice with an amount); `L402_ERR_PAY_ALREADY_PAID` when lnd already paid
   *   that hash; `L402_ERR_PAY_IN_FLIGHT` when a payment of it is under way; `L402_ERR_PAY_NO_ROUTE`,
   *   `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_INCORRECT_DETAILS`, `L402_ERR_PAY_INSUFFICIENT_BALANCE`,
   *   `L402_ERR_PAY_INVOICE_EXPIRED` (410) when lnd refuses the invoice as expired,
   *   `L402_ERR_PAY_CANCELED`, `L402_ERR_PAY_FAILED` from lnd's failure reason; `L402_ERR_PAY_UNAVAILABLE`
   *   when lnd cannot be reached; `L402_ERR_PAY_ABORTED` when `signal` fires (the payment may still
   *   complete: use {@link LndPayer.trackPayment})
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    const amt = payAmount(decoded.amountMsat, options.amountSats);
    if (options.signal?.aborted === true) {
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    }
    const timeoutSeconds = Math.max(1, Math.ceil((options.timeoutMs ?? this.#defaultTimeoutMs) / 1000));
    const stream = serverStream(this.#clients.router, 'SendPaymentV2', {
      payment_request: paymentRequest,
      ...(amt !== undefined ? { amt: String(amt) } : {}),
      timeout_seconds: timeoutSeconds,
      fee_limit_sat: String(options.maxFeeSats ?? this.#defaultMaxFeeSats),
      no_inflight_updates: true,
    });
    return this.#outcome(stream, options.signal, decoded.paymentHash);
  }

  /**
   * Finds an earlier payment by hash (TrackPaymentV2), waiting for the outcome
   * when it is still in flight.
   * @param paymentHash - lower-case hex
   * @returns the payment when it succeeded, `undefined` when lnd never made it or it failed
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE` when lnd cannot be reached
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    if (!/^[0-9a-fA-F]{64}$/.test(paymentHash)) return undefined;
    const stream = serverStream(this.#clients.router, 'TrackPaymentV2', {
      payment_hash: Buffer.from(paymentHash, 'hex'),
      no_inflight_updates: true,
    });
    try {
      return await this.#outcome(stream, undefined, paymentHash.toLowerCase());
    } catch (error) {
      if (error instanceof PaymentError && error.code !== 'L402_ERR_PAY_UNAVAILABLE') return undefined;
      throw error;
    }
  }

  /** Closes the connection to lnd. */
  async close(): Promise<void> {
    this.#clients.close();
  }

  #outcome(stream: grpc.ClientReadableStream<unknown>, signal: AbortSignal | undefined, paymentHash: string): Promise<PaymentResult> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (action: () => void): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        stream.cancel();
        action();
      };
      const onAbort = (): void =>
        finish(() =>
          reject(
            new PaymentError('L402_ERR_PAY_ABORTED', `payment ${paymentHash} aborted; it may still complete`, { cause: signal?.reason }),
          ),
        );
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (payment: RpcPayment) => {
        if (payment.status === 'SUCCEEDED') {
          finish(() =>
            resolve({
              paymentHash: payment.payment_hash,
              preimage: payment.payment_preimage,
              amountSats: Number(BigInt(payment.value_msat || '0') / 1000n),
              feeSats: Number((BigInt(payment.fee_msat || '0') + 999n) / 1000n),
            }),
          );
        } else if (payment.status === 'FAILED') {
          const [code, text] = FAILURES[payment.failure_reason] ?? ['L402_ERR_PAY_FAILED', `payment failed (${payment.failure_reason})`];
          finish(() => reject(new PaymentError(code, `payment ${paymentHash} failed: ${text}`)));
        }
      });
      stream.on('error', (error: unknown) => finish(() => reject(mapStreamError(error, paymentHash))));
      stream.on('end', () =>
        finish(() => reject(new PaymentError('L402_ERR_PAY_FAILED', `lnd ended the payment stream of ${paymentHash} without an outcome`))),
      );
    });
  }
}

function mapStreamError(error: unknown, paymentHash: string): PaymentError {
  const detail = describeGrpcError(error);
  if (isConnectivityError(error))
    return new PaymentError('L402_ERR_PAY_UNAVAILABLE', `lnd is unavailable: ${detail}`, { status: 503, cause: error });
  if (isGrpcError(error) && error.code === GrpcStatusCode.ALREADY_EXISTS) {
    return /already paid/i.test(error.details)
      ? new PaymentError('L402_ERR_PAY_ALREADY_PAID', `invoice ${paymentHash} is already paid`, { status: 409, cause: error })
      : new PaymentError('L402_ERR_PAY_IN_FLIGHT', `a payment of ${paymentHash} is already under way`, { status: 409, cause: error });
  }
  // lnd's router refuses an expired invoice before sending anything: `invoice expired. Valid until …`.
  if (isGrpcError(error) && /invoice expired/i.test(detail)) {
    return new PaymentError('L402_ERR_PAY_INVOICE_EXPIRED', `invoice ${paymentHash} has expired; lnd sent nothing: ${detail}`, {
      status: 410,
      cause: error,
    });
  }
  if (isGrpcError(error) && error.code === GrpcStatusCode.NOT_FOUND) {
    return new PaymentError('L402_ERR_PAY_NOT_FOUND', `lnd knows no payment ${paymentHash}`, { status: 404, cause: error });
  }
  return new PaymentError('L402_ERR_PAY_FAILED', `lnd refused the payment of ${paymentHash}: ${detail}`, { cause: error });
}
