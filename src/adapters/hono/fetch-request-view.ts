/**
 * Translates a Fetch API `Request` into the core's request view, for runtimes
 * that hand out Fetch requests (Hono on any runtime).
 */
import type { RequestView } from '../../core/types.js';

// A Fetch `Headers` joins repeated values with ", ", so two Authorization lines
// (Go clients send LSAT then L402) arrive as one. Split them again before each
// scheme token; a comma inside one credential (several macaroons) is not
// followed by a scheme and stays.
const AUTHORIZATION_SPLIT = /,\s*(?=(?:L402|LSAT|Macaroon|Payment)\s)/i;

/**
 * A request view over a Fetch request.
 * @param request - the Fetch request
 * @param remoteAddress - the client address, when the runtime knows it
 * @returns the request view; `host` is the Host header, else the URL's host
 */
export function fetchRequestView(request: Request, remoteAddress = ''): RequestView {
  const url = new URL(request.url);
  const headers = request.headers;
  return {
    method: request.method.toUpperCase(),
    host: headers.get('host') ?? url.host,
    path: `${url.pathname}${url.search}`,
    remoteAddress,
    header: (name) => headers.get(name) ?? undefined,
    headerValues: (name) => {
      const value = headers.get(name);
      if (value === null) return [];
      return name === 'authorization' ? value.split(AUTHORIZATION_SPLIT) : [value];
    },
  };
}
