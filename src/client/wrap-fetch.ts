/**
 * Wraps a Fetch API function (the global `fetch`, undici's `fetch`) so that it
 * pays L402 challenges: send the stored token, and on a 402 with an L402
 * challenge pay (within the limits) and retry once with the new token.
 */
import { L402Error } from '../core/errors.js';
import { clientErrorContext, withClientContext } from './client-error-context.js';
import { L402Client, type L402ClientOptions } from './l402-client.js';

/** The part of the Fetch API `wrapFetch` needs; matches the global `fetch` and undici's. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

function isRequest(input: unknown): input is Request {
  return (
    typeof input === 'object' &&
    input !== null &&
    !(input instanceof URL) &&
    typeof (input as Request).clone === 'function' &&
    typeof (input as Request).url === 'string'
  );
}

/** Bodies that can be sent twice. Streams and async iterables are consumed by the first attempt. */
function isReplayable(body: unknown): boolean {
  if (body === undefined || body === null || typeof body === 'string') return true;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams) return true;
  if (typeof Blob !== 'undefined' && body instanceof Blob) return true;
  if (typeof FormData !== 'undefined' && body instanceof FormData) return true;
  return false;
}

/** Most of a refused response's body kept on the error. */
const KEPT_BODY_BYTES = 64 * 1024;
/** How long to wait for that body: a server that stalls it must not hold the error back. */
const KEPT_BODY_WAIT_MS = 1000;

/**
 * A copy of a response whose body can still be read, for the error thrown
 * about it; the original body is consumed (or cancelled), which frees the
 * connection. A body over {@link KEPT_BODY_BYTES} or slower than
 * {@link KEPT_BODY_WAIT_MS} is dropped rather than truncated.
 */
async function keptCopy(response: Response): Promise<Response> {
  const init = { status: response.status, statusText: response.statusText, headers: response.headers };
  if (response.body === null) return new Response(null, init);
  const reader = response.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), KEPT_BODY_WAIT_MS);
    timer.unref?.();
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === 'expired') return new Response(null, init);
      if (next.done) return new Response(new Blob(chunks), init);
      size += next.value.byteLength;
      if (size > KEPT_BODY_BYTES) return new Response(null, init);
      chunks.push(next.value);
    }
  } catch {
    return new Response(null, init);
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Whether fetch followed redirects to a URL with another token key (another
 * origin, or another `service`). Such a 402 is not answered: paying it would
 * store the token and charge the budget under the original origin's key and
 * replace that origin's token, and replaying the request there is not what
 * the caller asked for. An empty `response.url` (a synthetic response) means
 * no redirect is known.
 */
function redirectedElsewhere(client: L402Client, key: string, response: Response): boolean {
  if (response.url === '') return false;
  let finalUrl: URL;
  try {
    finalUrl = new URL(response.url);
  } catch {
    return true;
  }
  return client.keyOf(finalUrl) !== key;
}

/** Largest problem body read from a 402, bytes. */
const MAX_PROBLEM_BYTES = 16 * 1024;

/** The RFC 9457 `type` of a problem+json 402, read from a copy (the response stays readable). */
async function problemOf(response: Response): Promise<{ problem?: string }> {
  if (!/^application\/problem\+json/i.test(response.headers.get('content-type') ?? '')) return {};
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_PROBLEM_BYTES) return {};
  try {
    const text = await response.clone().text();
    if (text.length > MAX_PROBLEM_BYTES) return {};
    const type = (JSON.parse(text) as { type?: unknown }).type;
    return typeof type === 'string' ? { problem: type } : {};
  } catch {
    return {};
  }
}

/** Adds the request method (and the response, when there is one) to a client error. */
async function decorate(error: unknown, url: string, requestMethod: string, response?: Response): Promise<unknown> {
  if (!(error instanceof L402Error)) {
    await response?.body?.cancel().catch(() => undefined);
    return error;
  }
  const context = clientErrorContext(error) ?? { url };
  return withClientContext(error, { ...context, requestMethod, ...(response === undefined ? {} : { response: await keptCopy(response) }) });
}

/**
 * Returns a fetch that pays L402 challenges.
 *
 * - A stored token for the origin is sent as `Authorization: L402 <mac>:<preimage>`.
 * - On a 402 carrying an L402/LSAT challenge: the invoice is checked (payment
 *   hash equal to the macaroon's, price ≤ `maxPriceSats`, budgets), paid once
 *   (concurrent calls share one payment), stored, and the request retried.
 * - A request that already has an `Authorization` header is passed through untouched.
 * - Redirects: a 402 reached after fetch followed a redirect to another origin
 *   (or another `service` key) is returned as is, unpaid: the token, the
 *   payment and the per-origin budget belong to the origin that was called,
 *   and a token of one origin is never sent to another (fetch drops
 *   `Authorization` on a cross-origin redirect, per the Fetch standard; a
 *   fetch that does not must not be wrapped, or use `redirect: 'manual'`).
 *   Call the final URL yourself to pay it under its own key and budget.
 * - A body that cannot be replayed (a `ReadableStream` or async iterable in
 *   `init.body`) is sent once: a 402 for it is returned as is (a stored token is
 *   still sent). `Request` objects are replayable (they are cloned, which
 *   buffers the body in memory).
 *
 * @param fetch - the fetch to wrap
 * @param options - client options, or an {@link L402Client} to share tokens and budgets with other helpers
 * @returns a function with the same signature as `fetch`
 * @throws (from the returned function) ChallengeParseError, PaymentError, BudgetExceededError
 *   with `url`, `requestMethod`, `responseStatus`, `responseHeaders` and `response` (the 402 as a
 *   `Response` whose body is still readable); nothing is paid when a check fails
 * @example
 * ```ts
 * const pay = wrapFetch(fetch, { payer: new LndPayer({ … }), maxPriceSats: 100 });
 * const res = await pay('https://api.example.com/quote');
 * ```
 */
export function wrapFetch<F extends FetchLike>(fetch: F, options: L402ClientOptions | L402Client = {}): F {
  const client = options instanceof L402Client ? options : new L402Client(options);
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = isRequest(input) ? input : undefined;
    const baseHeaders = new Headers(init?.headers ?? request?.headers);
    if (baseHeaders.has('authorization')) return fetch(input, init);
    const replayable = init?.body !== undefined ? isReplayable(init.body) : true;
    const url = request?.url ?? String(input);
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    let call;
    try {
      call = await client.begin(url);
    } catch (error) {
      throw await decorate(error, url, method);
    }
    // Keep one unused copy of a Request so that its body can be sent again.
    let spare = request;
    const send = (): Promise<Response> => {
      const headers = new Headers(baseHeaders);
      if (call.authorization !== undefined) headers.set('authorization', call.authorization);
      let target: string | URL | Request = input;
      if (spare !== undefined) {
        target = spare;
        spare = replayable ? spare.clone() : undefined;
      }
      return fetch(target, { ...init, headers });
    };
    let response: Response;
    try {
      response = await send();
      while (response.status === 402 && replayable && !redirectedElsewhere(client, call.key, response)) {
        const challenges = response.headers.get('www-authenticate');
        let retry: boolean;
        try {
          retry = await call.retryAfterChallenge({
            status: response.status,
            headers: Object.fromEntries(response.headers),
            challenges: challenges === null ? [] : [challenges],
            ...(await problemOf(response)),
          });
        } catch (error) {
          throw await decorate(error, url, method, response);
        }
        if (!retry) break;
        await response.body?.cancel().catch(() => undefined);
        response = await send();
      }
    } catch (error) {
      call.responded(undefined);
      throw error;
    }
    call.responded({ status: response.status, headers: Object.fromEntries(response.headers) });
    return response;
  };
  return wrapped as F;
}
