/**
 * Payer over an `lnd` handle of the `lightning` / `ln-service` packages.
 */
import { createHash } from 'node:crypto';
import type { L402ErrorCode } from '../../core/error-codes.js';
import { PaymentError } from '../../core/errors.js';
import type { Payer, PaymentResult, PayOptions } from '../../core/types.js';
import { decodeInvoice } from '../decode-invoice.js';
import { payAmount } from '../pay-amount.js';
import { describeLnServiceError, importLnServiceFunctions, type LnServiceFunctions, type LnServiceLnd } from './ln-service-functions.js';

/** Options of {@link LnServicePayer.create}. */
export interface LnServicePayerOptions {
  /** `authenticatedLndGrpc(...).lnd` with a macaroon allowed to pay. */
  lnd: LnServiceLnd;
  /** The package's functions; `import('lightning')` (or `ln-service`) when absent. */
  functions?: LnServiceFunctions;
  /** Fee limit when a call sets none, sat; 10 by default. */
  defaultMaxFeeSats?: number;
}

/** lnd's failure names as the package reports them → our codes. */
const FAILURES: [RegExp, L402ErrorCode][] = [
  [/AlreadyPaid|already paid/i, 'L402_ERR_PAY_ALREADY_PAID'],
  [/TimedOut|Timeout/i, 'L402_ERR_PAY_TIMEOUT'],
  [/FailedToFindPossibleRoute|FailedToFindPayableRouteToDestination|NoRoute/i, 'L402_ERR_PAY_NO_ROUTE'],
  [/PaymentExecutionCanceled|Canceled/i, 'L402_ERR_PAY_CANCELED'],
  [/InsufficientBalance/i, 'L402_ERR_PAY_INSUFFICIENT_BALANCE'],
  [/PaymentRejectedByDestination|IncorrectPaymentDetails|UnknownPaymentHash/i, 'L402_ERR_PAY_INCORRECT_DETAILS'],
  [/UNAVAILABLE|No connection established|ECONNREFUSED/i, 'L402_ERR_PAY_UNAVAILABLE'],
];

/**
 * {@link Payer} that calls `pay` and `getPayment` of the `lightning` / `ln-service` package.
 */
export class LnServicePayer implements Payer {
  readonly #lnd: LnServiceLnd;
  readonly #fns: LnServiceFunctions;
  readonly #defaultMaxFeeSats: number;

  private constructor(options: LnServicePayerOptions, fns: LnServiceFunctions) {
    this.#lnd = options.lnd;
    this.#fns = fns;
    this.#defaultMaxFeeSats = options.defaultMaxFeeSats ?? 10;
  }

  /**
   * @param options - the lnd handle and, optionally, the package's functions
   * @returns the payer
   * @throws L402Error `L402_ERR_LN_SERVICE_MISSING` when no functions are given and the package is not installed
   */
  static async create(options: LnServicePayerOptions): Promise<LnServicePayer> {
    return new LnServicePayer(options, options.functions ?? (await importLnServiceFunctions()));
  }

  /**
   * Pays an invoice (`pay`).
   * @param paymentRequest - BOLT11 invoice
   * @param options - fee limit, timeout (as the package's pathfinding timeout), abort signal (checked before
   *   paying), the amount of an amountless invoice (sent as `tokens`; refused for an invoice with an amount)
   * @returns preimage, amount, fee
   * @throws PaymentError `L402_ERR_PAY_INVALID_INVOICE`, `L402_ERR_PAY_ABORTED`, `L402_ERR_PAY_ALREADY_PAID`,
   *   `L402_ERR_PAY_NO_ROUTE`, `L402_ERR_PAY_TIMEOUT`, `L402_ERR_PAY_INSUFFICIENT_BALANCE`,
   *   `L402_ERR_PAY_INCORRECT_DETAILS`, `L402_ERR_PAY_UNAVAILABLE`, `L402_ERR_PAY_BAD_PREIMAGE`, `L402_ERR_PAY_FAILED`
   */
  async payInvoice(paymentRequest: string, options: PayOptions = {}): Promise<PaymentResult> {
    const decoded = decodeInvoice(paymentRequest);
    const tokens = payAmount(decoded.amountMsat, options.amountSats);
    if (options.signal?.aborted === true) {
      throw new PaymentError('L402_ERR_PAY_ABORTED', 'payment aborted before it started', { cause: options.signal.reason });
    }
    let paid: Awaited<ReturnType<LnServiceFunctions['pay']>>;
    try {
      paid = await this.#fns.pay({
        lnd: this.#lnd,
        request: paymentRequest,
        ...(tokens !== undefined ? { tokens } : {}),
        max_fee: options.maxFeeSats ?? this.#defaultMaxFeeSats,
        ...(options.timeoutMs !== undefined ? { pathfinding_timeout: options.timeoutMs } : {}),
      });
    } catch (error) {
      const { message } = describeLnServiceError(error);
      const code = FAILURES.find(([pattern]) => pattern.test(message))?.[1] ?? 'L402_ERR_PAY_FAILED';
      throw new PaymentError(code, `payment ${decoded.paymentHash} failed: ${message}`, { cause: error });
    }
    return toResult(decoded.paymentHash, paid);
  }

  /**
   * An earlier payment (`getPayment`).
   * @param paymentHash - lower-case hex
   * @returns the payment when it succeeded; `undefined` when unknown, failed or still pending
   * @throws PaymentError `L402_ERR_PAY_UNAVAILABLE` when the node cannot be reached
   */
  async trackPayment(paymentHash: string): Promise<PaymentResult | undefined> {
    try {
      const found = await this.#fns.getPayment({ lnd: this.#lnd, id: paymentHash.toLowerCase() });
      if (!found.is_confirmed || found.payment === undefined) return undefined;
      return toResult(paymentHash.toLowerCase(), found.payment);
    } catch (error) {
      const { status, message } = describeLnServiceError(error);
      if (status === 404 || /NotFound/i.test(message)) return undefined;
      throw new PaymentError('L402_ERR_PAY_UNAVAILABLE', `looking up payment ${paymentHash} failed: ${message}`, {
        status: 503,
        cause: error,
      });
    }
  }
}

function toResult(
  paymentHash: string,
  paid: { secret: string; fee: number; fee_mtokens?: string; tokens: number; mtokens?: string },
): PaymentResult {
  const preimage = paid.secret.toLowerCase();
  if (createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex') !== paymentHash) {
    throw new PaymentError('L402_ERR_PAY_BAD_PREIMAGE', `the node returned a preimage that does not match ${paymentHash}`);
  }
  const feeSats = paid.fee_mtokens !== undefined ? Number((BigInt(paid.fee_mtokens) + 999n) / 1000n) : paid.fee;
  const amountSats =
    paid.mtokens !== undefined ? Number((BigInt(paid.mtokens) - BigInt(paid.fee_mtokens ?? '0')) / 1000n) : paid.tokens - paid.fee;
  return { paymentHash, preimage, amountSats, feeSats };
}
