/**
 * An undici interceptor (`dispatch => (opts, handler) => …`, for
 * `Agent.compose`) that pays L402 challenges for everything sent through the
 * composed dispatcher: `request()`, `stream()`, and `fetch(…, { dispatcher })`.
 */
import type { Dispatcher } from 'undici';
import { parseChallenges } from '../core/challenge.js';
import { L402Error } from '../core/errors.js';
import { clientErrorContext, withClientContext } from './client-error-context.js';
import { L402Client, mentionsL402, type L402Call, type L402ClientOptions } from './l402-client.js';
import { lightningOffers } from './mpp-payments.js';

/** Largest problem body kept from a 402 being answered, bytes. */
const MAX_PROBLEM_BYTES = 16 * 1024;

type Headers = Dispatcher.DispatchOptions['headers'];

/** Bodies undici can send again: none, strings and bytes. Streams and iterables are consumed by the first attempt. */
function isReplayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' || ArrayBuffer.isView(body);
}

/** Flattens undici's header forms into `[name, value]` pairs. */
function headerPairs(headers: Headers): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (name: unknown, value: unknown): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) for (const v of value) out.push([String(name), String(v)]);
    else out.push([String(name), String(value)]);
  };
  if (headers === undefined || headers === null) return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown as Array<[string, unknown]>) add(pair[0], pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
    }
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, unknown]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  return out;
}

function lowerCaseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Adds the request method to a client error (status and headers of the response are already on it). */
function withMethod(error: unknown, url: URL, method: string): Error {
  if (!(error instanceof L402Error)) return error as Error;
  return withClientContext(error, { ...(clientErrorContext(error) ?? { url: url.href }), requestMethod: method.toUpperCase() });
}

/** The `type` of a problem+json body, when it parses. */
function problemType(chunks: Uint8Array[] | undefined): string | undefined {
  if (chunks === undefined) return undefined;
  try {
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    const type = (JSON.parse(new TextDecoder().decode(bytes)) as { type?: unknown }).type;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}

function values(header: string | string[] | undefined): string[] {
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

class L402Handler implements Dispatcher.DispatchHandler {
  readonly #dispatch: Dispatcher.Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #pairs: Array<[string, string]>;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #call: L402Call;
  /**
   * Set when a redirect interceptor composed inside this one followed a
   * redirect: the response then comes from a URL this handler cannot see, so
   * a 402 for it is not paid under this call's key.
   */
  #redirected = false;
  /** Set while the current response is a challenge being answered (not forwarded). */
  #challenge: { status: number; headers: Record<string, string>; challenges: string[]; problem?: string } | undefined;
  /** The problem+json body of the challenge being answered, while it is small enough. */
  #problemBody: Uint8Array[] | undefined;
  #problemBytes = 0;

  constructor(
    dispatch: Dispatcher.Dispatch,
    opts: Dispatcher.DispatchOptions,
    pairs: Array<[string, string]>,
    handler: Dispatcher.DispatchHandler,
    call: L402Call,
  ) {
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#pairs = pairs;
    this.#handler = handler;
    this.#call = call;
  }

  send(): boolean {
    const headers = this.#pairs.flatMap(([name, value]) => [name, value]);
    if (this.#call.authorization !== undefined) headers.push('authorization', this.#call.authorization);
    return this.#dispatch({ ...this.#opts, headers }, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    // undici's redirect handler passes the URLs it has left in `context.history`.
    const history = (context as { history?: unknown } | null | undefined)?.history;
    if (Array.isArray(history) && history.length > 0) this.#redirected = true;
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    socket: import('node:stream').Duplex,
  ): void {
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    if (statusCode === 402 && isReplayable(this.#opts.body) && !this.#redirected) {
      const challenges = values(headers['www-authenticate']);
      // Only take over responses that carry an L402 challenge, or name L402 in one that cannot be
      // read (the client refuses that with ChallengeParseError, as wrapFetch does); anything else
      // goes to the caller as is.
      if (parseChallenges(challenges).length > 0 || mentionsL402(challenges) || lightningOffers(challenges).length > 0) {
        this.#challenge = { status: statusCode, headers: lowerCaseHeaders(headers), challenges };
        const type = this.#challenge.headers['content-type'] ?? '';
        this.#problemBody = /^application\/problem\+json/i.test(type) ? [] : undefined;
        this.#problemBytes = 0;
        return;
      }
    }
    this.#challenge = undefined;
    this.#call.responded({ status: statusCode, headers: lowerCaseHeaders(headers) });
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#challenge === undefined) {
      this.#handler.onResponseData?.(controller, chunk);
      return;
    }
    if (this.#problemBody === undefined) return;
    this.#problemBytes += chunk.length;
    if (this.#problemBytes > MAX_PROBLEM_BYTES) this.#problemBody = undefined;
    else this.#problemBody.push(chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    const challenge = this.#challenge;
    if (challenge === undefined) {
      this.#handler.onResponseEnd?.(controller, trailers);
      return;
    }
    this.#challenge = undefined;
    const type = problemType(this.#problemBody);
    this.#problemBody = undefined;
    if (type !== undefined) challenge.problem = type;
    this.#call.retryAfterChallenge(challenge).then(
      (retry) => {
        if (!retry) throw new Error('unreachable: the challenge was parsed before');
        this.send();
      },
      (error: unknown) => {
        this.#call.responded(undefined);
        this.#handler.onResponseError?.(controller, withMethod(error, this.#call.url, this.#opts.method));
      },
    );
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#call.responded(undefined);
    this.#handler.onResponseError?.(controller, error);
  }
}

/**
 * Creates an undici interceptor that pays L402 challenges.
 *
 * Bodies are replayed only when they can be: none, a string or bytes. A
 * streaming body (`Readable`, async iterable, and every body `fetch` hands to a
 * dispatcher) is sent once and a 402 for it reaches the caller unchanged (the
 * stored token is still sent, so it succeeds once a token exists). Requests
 * that carry their own `authorization` header are passed through.
 *
 * Redirects: compose undici's redirect interceptor outside this one
 * (`agent.compose(undiciL402Interceptor(…), interceptors.redirect())`) so that
 * every hop is its own call, with its origin's token, budget and payment.
 * Composed inside (`compose(interceptors.redirect(), undiciL402Interceptor(…))`),
 * a 402 reached after a redirect is passed to the caller unpaid: its URL is
 * not visible here, and paying it would store the token and charge the budget
 * under the first origin's key. The redirect handler drops `authorization` on
 * a cross-origin hop, so the first origin's token is not sent to another.
 *
 * @param options - client options, or an {@link L402Client} shared with other helpers
 * @returns the interceptor, for `new Agent().compose(undiciL402Interceptor({ payer }))`
 * @throws (through the handler's `onResponseError`) ChallengeParseError, PaymentError,
 *   BudgetExceededError with `url`, `requestMethod`, `responseStatus` and `responseHeaders`
 * @example
 * ```ts
 * const agent = new Agent().compose(undiciL402Interceptor({ payer, maxPriceSats: 100 }));
 * const { statusCode, body } = await request('https://api.example.com/quote', { dispatcher: agent });
 * ```
 */
export function undiciL402Interceptor(options: L402ClientOptions | L402Client = {}): Dispatcher.DispatcherComposeInterceptor {
  const client = options instanceof L402Client ? options : new L402Client(options);
  return (dispatch) => (opts, handler) => {
    const pairs = headerPairs(opts.headers);
    if (pairs.some(([name]) => name.toLowerCase() === 'authorization') || opts.origin === undefined) return dispatch(opts, handler);
    const url = new URL(opts.path, opts.origin);
    client.begin(url).then(
      (call) => new L402Handler(dispatch, opts, pairs, handler, call).send(),
      (error: unknown) => {
        // No request went out: report the failure through the handler as undici's own errors are.
        const controller: Dispatcher.DispatchController = {
          aborted: true,
          paused: false,
          reason: error as Error,
          abort: () => undefined,
          pause: () => undefined,
          resume: () => undefined,
        };
        handler.onResponseError?.(controller, withMethod(error, url, opts.method));
      },
    );
    return true;
  };
}
