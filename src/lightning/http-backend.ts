/**
 * The HTTP transport shared by the backends that speak JSON over HTTP(S)
 * (Core Lightning's clnrest, LNbits, phoenixd): one undici agent per backend,
 * an optional pinned CA certificate, a timeout on every call, and failures
 * turned into coded errors by the caller's factory.
 * @internal
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { L402Error } from '../core/errors.js';

/** Why a call did not get an answer. */
export type HttpFailureKind = 'unreachable' | 'timeout' | 'aborted';

/** Options of {@link HttpBackend}. */
export interface HttpBackendOptions {
  /** `http://` or `https://` URL the paths are relative to, e.g. `https://127.0.0.1:3010`. */
  baseUrl: string;
  /** Headers sent with every call (credentials). */
  headers: Record<string, string>;
  /** PEM certificate(s) to trust for `https://` (a self-signed node certificate). */
  caCert?: string | Uint8Array;
  /** Timeout of each call, ms; 30 000 by default. */
  timeoutMs?: number;
  /** Builds the error thrown when no answer came (network down, timeout, aborted). */
  failure: (kind: HttpFailureKind, message: string, cause: unknown) => L402Error;
}

/** An answer: its status and its body, parsed as JSON when it is JSON, else the text. */
export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** One call. */
export interface HttpCall {
  /** JSON body. */
  json?: unknown;
  /** `application/x-www-form-urlencoded` body. */
  form?: Record<string, string>;
  /** Timeout of this call, ms, instead of the backend's. */
  timeoutMs?: number;
  /** Abort signal. */
  signal?: AbortSignal;
}

/**
 * A small JSON-over-HTTP client bound to one backend.
 * @internal
 */
export class HttpBackend {
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #dispatcher: Dispatcher;
  readonly #failure: HttpBackendOptions['failure'];

  /**
   * @param options - URL, headers, CA, timeout, error factory
   */
  constructor(options: HttpBackendOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#headers = options.headers;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#failure = options.failure;
    this.#dispatcher = new Agent({
      connect:
        options.caCert === undefined ? {} : { ca: typeof options.caCert === 'string' ? options.caCert : Buffer.from(options.caCert) },
      keepAliveTimeout: 10_000,
    });
  }

  /**
   * Calls the backend.
   * @param method - HTTP method
   * @param path - path (and query) after the base URL, starting with `/`
   * @param call - body, timeout, signal
   * @returns the status and body, whatever the status
   * @throws L402Error from the `failure` factory when no answer came
   */
  async call(method: 'GET' | 'POST', path: string, call: HttpCall = {}): Promise<HttpAnswer> {
    const timeoutMs = call.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = call.signal === undefined ? timeout : AbortSignal.any([timeout, call.signal]);
    const headers: Record<string, string> = { ...this.#headers, accept: 'application/json' };
    let body: string | null = null;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(call.form).toString();
    }
    try {
      const answer = await request(this.baseUrl + path, { method, headers, body, signal, dispatcher: this.#dispatcher });
      const text = await answer.body.text();
      let parsed: unknown = text;
      if (text !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: the text itself (a proxy's error page, a plain-text reason).
        }
      }
      return { status: answer.statusCode, body: parsed };
    } catch (error) {
      if (call.signal?.aborted === true) throw this.#failure('aborted', `${method} ${path} aborted`, error);
      if (timeout.aborted) throw this.#failure('timeout', `${method} ${this.baseUrl}${path} timed out after ${timeoutMs} ms`, error);
      throw this.#failure('unreachable', `${method} ${this.baseUrl}${path} failed: ${describeCause(error)}`, error);
    }
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#dispatcher.close().catch(() => undefined);
  }
}

/** The most telling message of a network error (undici wraps the socket's). */
export function describeCause(error: unknown): string {
  const e = error as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const inner = e.cause?.code ?? e.cause?.message;
  return [e.code ?? e.message ?? String(error), inner].filter((x) => x !== undefined && x !== '').join(': ');
}

/** The text of an error answer, shortened, for messages. */
export function describeAnswer(answer: HttpAnswer): string {
  const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  return `HTTP ${answer.status}${body === '' || body === undefined ? '' : `: ${body.length > 300 ? `${body.slice(0, 300)}…` : body}`}`;
}

/** A field of a JSON object, or `undefined` when the value is not an object. */
export function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

/** Whether `value` is a 64-hex payment hash or preimage. */
export function isHex32(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value);
}

/** A non-negative integer from a JSON number or decimal string (msat fields), else `undefined`. */
export function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'string' && /^\d+msat$/.test(value)) return BigInt(value.slice(0, -4));
  return undefined;
}
