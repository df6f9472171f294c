/**
 * Writes a challenge or reject decision onto a Node response, HTTP/1.1
 * (`http.ServerResponse`, which Express extends) or HTTP/2 compatibility
 * (`http2.Http2ServerResponse`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { ChallengeDecision, HeaderList, RejectDecision } from '../../core/types.js';
import { discardUnreadBody } from './discard-unread-body.js';

/** A Node response of either protocol. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Groups a header list by lower-case name, keeping the order of repeated
 * names, so that two `WWW-Authenticate` lines stay two lines on the wire.
 * @param headers - ordered name/value pairs
 * @returns a map from lower-case name to its values in order
 */
export function groupHeaders(headers: HeaderList): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const values = grouped.get(key);
    if (values === undefined) grouped.set(key, [value]);
    else values.push(value);
  }
  return grouped;
}

/**
 * Ends `res` with the decision's status, headers and plain-text body (no body
 * for a `HEAD` request when `req` is given). Headers already set on `res`
 * (CORS, by other middleware) are kept unless the decision names them; the
 * content type is the decision's, else `text/plain; charset=utf-8`. Does
 * nothing when the response has already started or is destroyed. The
 * request's body is not read on: see {@link discardUnreadBody} (a large body
 * still to come closes an HTTP/1.1 connection after the answer, an HTTP/2
 * stream's request side is reset with `NO_ERROR`).
 * @param res - the response to write
 * @param decision - a challenge or reject decision from the Gate
 * @param req - the request, when known: its method decides whether a body is sent
 */
export function writeNodeDecision(
  res: NodeResponse,
  decision: ChallengeDecision | RejectDecision,
  req?: { readonly method?: string | undefined },
): void {
  if (res.headersSent || res.destroyed) return;
  const grouped = groupHeaders(decision.headers);
  for (const [name, values] of grouped) {
    (res as ServerResponse).setHeader(name, values.length === 1 ? (values[0] as string) : values);
  }
  if (!grouped.has('content-type')) (res as ServerResponse).setHeader('content-type', 'text/plain; charset=utf-8');
  const request = (res as { req?: IncomingMessage | Http2ServerRequest }).req;
  if (request !== undefined) discardUnreadBody(request, res);
  (res as ServerResponse).setHeader('content-length', Buffer.byteLength(decision.body));
  // writeHead, not statusCode: wrappers that observe the status (metrics) hook it.
  (res as ServerResponse).writeHead(decision.status);
  if (req?.method === 'HEAD') (res as ServerResponse).end();
  else (res as ServerResponse).end(decision.body);
}
