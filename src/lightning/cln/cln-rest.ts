/**
 * Core Lightning's REST interface, `clnrest`: every RPC method is
 * `POST /v1/<method>` with the named parameters as a JSON object and the rune
 * in the `Rune` header. Success is HTTP 201 (200 accepted too) with the
 * method's result; an RPC error is a JSON `{code, message}`; a refused rune 401.
 * @internal
 */
import type { L402ErrorCode } from '../../core/error-codes.js';
import { InvoiceError, PaymentError, type L402Error } from '../../core/errors.js';
import { describeAnswer, HttpBackend, type HttpFailureKind } from '../http-backend.js';

/** Connection options shared by {@link ClnInvoicer} and {@link ClnPayer}. */
export interface ClnConnectionOptions {
  /** clnrest's URL, e.g. `https://127.0.0.1:3010` (`clnrest-port`, `clnrest-protocol`). */
  url: string;
  /** A rune (`lightning-cli createrune`) that allows the methods used; never logged. */
  rune: string;
  /**
   * clnrest's CA certificate (PEM; `ca.pem` in `clnrest-certs`, by default the
   * network directory), to trust its self-signed certificate.
   */
  caCert?: string | Uint8Array;
  /** Timeout of each ordinary call, ms; 30 000 by default. */
  timeoutMs?: number;
}

/** A JSON-RPC error CLN answered. */
export interface ClnRpcFailure {
  code: number | undefined;
  message: string;
}

/** Which side calls, deciding the error classes. */
export type ClnSide = 'invoice' | 'pay';

/**
 * A clnrest client for one node.
 * @internal
 */
export class ClnRest {
  readonly #http: HttpBackend;
  readonly #side: ClnSide;

  /**
   * @param options - URL, rune, CA
   * @param side - invoicer or payer (error classes and codes)
   */
  constructor(options: ClnConnectionOptions, side: ClnSide) {
    this.#side = side;
    this.#http = new HttpBackend({
      baseUrl: options.url,
      headers: { rune: options.rune },
      ...(options.caCert !== undefined ? { caCert: options.caCert } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      failure: (kind, message, cause) => this.#failure(kind, `Core Lightning: ${message}`, cause),
    });
  }

  /** The base URL. */
  get url(): string {
    return this.#http.baseUrl;
  }

  /**
   * Calls an RPC method.
   * @param method - e.g. `invoice`
   * @param params - named parameters
   * @param call - timeout and abort signal
   * @returns the result object, or the RPC error CLN answered
   * @throws InvoiceError / PaymentError: unreachable, timeout, refused rune, malformed answer
   */
  async call(
    method: string,
    params: Record<string, unknown>,
    call: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ result: Record<string, unknown> } | { error: ClnRpcFailure }> {
    const answer = await this.#http.call('POST', `/v1/${method}`, { json: params, ...call });
    if (answer.status === 401 || answer.status === 403) {
      throw this.#error(
        this.#side === 'invoice' ? 'L402_ERR_LN_AUTH_REFUSED' : 'L402_ERR_PAY_AUTH_REFUSED',
        `Core Lightning refused the rune for ${method}: ${describeAnswer(answer)}`,
      );
    }
    const body = answer.body;
    const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
    if (answer.status === 200 || answer.status === 201) {
      if (!isObject)
        throw this.#error(
          this.#side === 'invoice' ? 'L402_ERR_LN_BAD_RESPONSE' : 'L402_ERR_PAY_UNAVAILABLE',
          `Core Lightning answered ${method} with something that is not a JSON object: ${describeAnswer(answer)}`,
        );
      return { result: body as Record<string, unknown> };
    }
    if (isObject && typeof (body as { message?: unknown }).message === 'string') {
      const code = (body as { code?: unknown }).code;
      return { error: { code: typeof code === 'number' ? code : undefined, message: (body as { message: string }).message } };
    }
    if (answer.status >= 502 && answer.status <= 504)
      throw this.#failure('unreachable', `Core Lightning (${method}): ${describeAnswer(answer)}`, undefined);
    throw this.#error(
      this.#side === 'invoice' ? 'L402_ERR_LN_BAD_RESPONSE' : 'L402_ERR_PAY_UNAVAILABLE',
      `Core Lightning answered ${method} with ${describeAnswer(answer)}`,
    );
  }

  /** Closes the connections. */
  close(): Promise<void> {
    return this.#http.close();
  }

  #failure(kind: HttpFailureKind, message: string, cause: unknown): L402Error {
    if (this.#side === 'invoice') return new InvoiceError('L402_ERR_LN_UNAVAILABLE', message, { cause });
    return new PaymentError(
      kind === 'aborted' ? 'L402_ERR_PAY_ABORTED' : kind === 'timeout' ? 'L402_ERR_PAY_TIMEOUT' : 'L402_ERR_PAY_UNAVAILABLE',
      message,
      { cause },
    );
  }

  #error(code: L402ErrorCode, message: string): L402Error {
    return this.#side === 'invoice' ? new InvoiceError(code, message) : new PaymentError(code, message);
  }
}
