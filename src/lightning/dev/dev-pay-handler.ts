/**
 * `POST /api/dev/pay`: lets a local client pay a dev-backend invoice over HTTP
 * and get the preimage back. Framework-free: the caller reads the JSON body and
 * writes the answer.
 */
import { L402Error } from '../../core/errors.js';
import type { DevInvoicer } from './dev-invoicer.js';
import { isLoopback } from './loopback.js';
import type { L402ErrorCode } from '../../core/error-codes.js';

/** What to answer: an HTTP status and a JSON body. */
export interface DevPayResponse {
  /** HTTP status: 200, 400, 403, 404, 409, 410 or 500. */
  status: number;
  /** `{ preimage, payment_hash, amount_sats }` on success, `{ error: { code, message } }` otherwise. */
  body: object;
}

/** The handler {@link createDevPayHandler} returns. */
export type DevPayHandler = (body: unknown, remoteAddress: string) => Promise<DevPayResponse>;

/**
 * Creates the handler of `POST /api/dev/pay`.
 *
 * Request body `{"invoice":"<bolt11>"}`; answer `200 {"preimage":"<hex>",
 * "payment_hash":"<hex>","amount_sats":n}`. Only loopback clients are served:
 * anything else gets 403, since whoever can call this gets tokens for free.
 * Errors are `{"error":{"code":"L402_ERR_…","message":"…"}}`.
 *
 * @param invoicer - the dev backend whose invoices are paid
 * @returns `(body, remoteAddress) => { status, body }`; `body` is the parsed JSON
 *   (or the raw string, which is parsed here)
 * @example
 * ```ts
 * const pay = createDevPayHandler(invoicer);
 * const { status, body } = await pay(JSON.parse(text), req.socket.remoteAddress ?? '');
 * ```
 */
export function createDevPayHandler(invoicer: DevInvoicer): DevPayHandler {
  return async (body, remoteAddress) => {
    if (typeof remoteAddress !== 'string' || !isLoopback(remoteAddress)) {
      return failure(403, 'L402_ERR_DEV_FORBIDDEN', '/api/dev/pay only serves loopback clients');
    }
    let parsed = body;
    if (typeof parsed === 'string') {
      try {
        parsed = JSON.parse(parsed) as unknown;
      } catch {
        return failure(400, 'L402_ERR_DEV_BAD_REQUEST', 'body must be JSON {"invoice":"<bolt11>"}');
      }
    }
    const invoice = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['invoice'] : undefined;
    if (typeof invoice !== 'string' || invoice.length === 0) {
      return failure(400, 'L402_ERR_DEV_BAD_REQUEST', 'body must be JSON {"invoice":"<bolt11>"}');
    }
    try {
      const paid = await invoicer.pay(invoice.trim());
      return { status: 200, body: { preimage: paid.preimage, payment_hash: paid.paymentHash, amount_sats: paid.amountSats } };
    } catch (error) {
      if (error instanceof L402Error) return failure(error.status ?? 500, error.code, error.message);
      return failure(500, 'L402_ERR_DEV_PAY_FAILED', `paying failed: ${String(error)}`);
    }
  };
}

function failure(status: number, code: L402ErrorCode, message: string): DevPayResponse {
  return { status, body: { error: { code, message } } };
}
