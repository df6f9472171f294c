/**
 * CORS headers the proxy puts on every response, so that browser wallets and
 * web apps can read challenges and send credentials cross-origin.
 */

/** Request headers a cross-origin client may send. */
const ALLOW_HEADERS =
  'Authorization, Content-Type, Grpc-Metadata-Macaroon, Macaroon, WWW-Authenticate, Payment-Receipt, X-Grpc-Web, X-User-Agent';
/** Response headers a cross-origin client may read. */
const EXPOSE_HEADERS = 'WWW-Authenticate, Payment-Receipt, Grpc-Metadata-Macaroon, Retry-After, Grpc-Status, Grpc-Message';

/** The CORS headers of every proxy response, as name/value pairs. */
export const CORS_HEADERS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ['access-control-allow-origin', '*'],
  ['access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
  ['access-control-allow-headers', ALLOW_HEADERS],
  ['access-control-expose-headers', EXPOSE_HEADERS],
] as const);

/** Anything with `setHeader`: an HTTP/1.1 or HTTP/2 compatibility response. */
interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/**
 * Sets the CORS headers on a response, replacing any the backend sent.
 * @param res - the response, before its head is written
 */
export function applyCors(res: HeaderSink): void {
  for (const [name, value] of CORS_HEADERS) res.setHeader(name, value);
}
