/**
 * The one translator from Node's HTTP/1.1 and HTTP/2 requests to the core
 * {@link RequestView}. The proxy and every Node framework adapter build on it,
 * so that header and address handling cannot drift between them.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest, IncomingHttpHeaders as Http2Headers, ServerHttp2Stream } from 'node:http2';
import type { RequestView } from '../../core/types.js';

/** A Node request the translator understands: HTTP/1.1 or the HTTP/2 compatibility request. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** Options of {@link nodeRequestView} (and of the view of a raw HTTP/2 stream the proxy uses). */
export interface NodeRequestViewOptions {
  /**
   * Turns the socket peer address and the `X-Forwarded-For` and `Forwarded`
   * headers into the client address the core should see (trusted-proxy
   * handling, e.g. `clientIp` of `aperture-ts/ratelimit`). Without it the
   * socket peer is used and both headers are ignored.
   */
  resolveClientIp?: (peer: string, xff: string | undefined, forwarded: string | undefined) => string;
}

/**
 * `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) becomes `1.2.3.4`,
 * so that IPv4 masks (freebies, rate limits) see the address they expect.
 */
export function normalizePeerAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * Every value of `name` (lower-case) in a flat `[name, value, …]` list,
 * duplicates kept; the shared empty list when there is none (the usual answer
 * for `macaroon` and `grpc-metadata-macaroon`, asked on every paid request).
 */
function rawValues(raw: readonly string[], name: string): readonly string[] {
  let out: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length === name.length && key.toLowerCase() === name) (out ??= []).push(raw[i + 1] as string);
  }
  return out ?? NONE;
}

class NodeRequestView implements RequestView {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  #remote: string | undefined;
  /**
   * Every line of the three credential headers, read in one pass on first
   * use: the verifier and the credential re-emission both ask for all three
   * (`Authorization`, `Macaroon`, `Grpc-Metadata-Macaroon`) on every paid request.
   */
  #authorization: readonly string[] | undefined;
  #macaroon: readonly string[] = NONE;
  #grpcMacaroon: readonly string[] = NONE;
  readonly #headers: IncomingHttpHeaders | Http2Headers;
  readonly #raw: readonly string[];
  readonly #peer: string | undefined;
  readonly #resolve: NodeRequestViewOptions['resolveClientIp'];

  constructor(
    method: string,
    path: string,
    headers: IncomingHttpHeaders | Http2Headers,
    raw: readonly string[],
    peer: string | undefined,
    options: NodeRequestViewOptions | undefined,
  ) {
    this.method = method.toUpperCase();
    this.path = path;
    this.host = firstValue(headers[':authority']) ?? firstValue(headers.host) ?? '';
    this.#headers = headers;
    this.#raw = raw;
    this.#peer = peer;
    this.#resolve = options?.resolveClientIp;
  }

  get remoteAddress(): string {
    if (this.#remote === undefined) {
      const peer = normalizePeerAddress(this.#peer);
      this.#remote = this.#resolve === undefined ? peer : this.#resolve(peer, this.header('x-forwarded-for'), this.header('forwarded'));
    }
    return this.#remote;
  }

  header(name: string): string | undefined {
    // Node keeps only the first Authorization line in `headers`; the raw list has them all.
    if (name === 'authorization') return this.headerValues(name)[0];
    return firstValue(this.#headers[name]);
  }

  headerValues(name: string): readonly string[] {
    if (name === 'authorization') return this.#authorization ?? this.#readCredentialHeaders();
    if (name === 'macaroon') {
      if (this.#authorization === undefined) this.#readCredentialHeaders();
      return this.#macaroon;
    }
    if (name === 'grpc-metadata-macaroon') {
      if (this.#authorization === undefined) this.#readCredentialHeaders();
      return this.#grpcMacaroon;
    }
    return this.#values(name);
  }

  /** Reads the three credential headers in one pass over the raw list; returns the Authorization lines. */
  #readCredentialHeaders(): readonly string[] {
    const raw = this.#raw;
    let authorization: string[] | undefined;
    let macaroon: string[] | undefined;
    let grpcMacaroon: string[] | undefined;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const key = raw[i] as string;
      // Only names of the three lengths are lower-cased: most headers are skipped on their length.
      const length = key.length;
      if (length !== 13 && length !== 8 && length !== 22) continue;
      const lower = key.toLowerCase();
      const value = raw[i + 1] as string;
      if (lower === 'authorization') (authorization ??= []).push(value);
      else if (lower === 'macaroon') (macaroon ??= []).push(value);
      else if (lower === 'grpc-metadata-macaroon') (grpcMacaroon ??= []).push(value);
    }
    this.#macaroon = macaroon ?? this.#joined('macaroon');
    this.#grpcMacaroon = grpcMacaroon ?? this.#joined('grpc-metadata-macaroon');
    const lines = authorization ?? this.#joined('authorization');
    this.#authorization = lines;
    return lines;
  }

  #values(name: string): readonly string[] {
    const values = rawValues(this.#raw, name);
    return values.length > 0 ? values : this.#joined(name);
  }

  /** The parsed headers' value(s) of `name`, for a request whose raw list has none. */
  #joined(name: string): readonly string[] {
    const joined = this.#headers[name];
    if (joined === undefined) return NONE;
    return Array.isArray(joined) ? joined : [joined];
  }
}

/**
 * Builds the core request view of a Node HTTP/1.1 `IncomingMessage` or an
 * HTTP/2 compatibility `Http2ServerRequest`.
 *
 * `host` is the `Host` header, or the HTTP/2 `:authority`, port included.
 * `headerValues('authorization')` returns every Authorization line, read from
 * `rawHeaders`, because Node's parsed headers keep only the first one.
 * The remote address is the socket peer unless `resolveClientIp` says otherwise;
 * it is computed on first use.
 *
 * @param request - the Node request
 * @param options - trusted-proxy handling of the client address
 * @returns a read-only view; it reads the request lazily and never consumes the body
 * @example
 * ```ts
 * http.createServer((req, res) => {
 *   const view = nodeRequestView(req);
 *   const decision = await gate.decide(view, route);
 * });
 * ```
 */
export function nodeRequestView(request: NodeRequest, options?: NodeRequestViewOptions): RequestView {
  const headers = request.headers;
  const path = request.url ?? firstValue(headers[':path']) ?? '/';
  return new NodeRequestView(request.method ?? 'GET', path, headers, request.rawHeaders, request.socket?.remoteAddress, options);
}

/**
 * Builds the core request view of a raw HTTP/2 stream, for servers that use
 * the `'stream'` event instead of the compatibility API.
 *
 * @param stream - the server stream
 * @param headers - the headers object of the `'stream'` event
 * @param rawHeaders - the flat raw header list of the `'stream'` event, which keeps duplicates
 * @param options - trusted-proxy handling of the client address
 * @returns a read-only view of the request
 */
export function http2StreamRequestView(
  stream: ServerHttp2Stream,
  headers: Http2Headers,
  rawHeaders: readonly string[] = [],
  options?: NodeRequestViewOptions,
): RequestView {
  return new NodeRequestView(
    firstValue(headers[':method']) ?? 'GET',
    firstValue(headers[':path']) ?? '/',
    headers,
    rawHeaders,
    stream.session?.socket?.remoteAddress,
    options,
  );
}
