/**
 * `honoL402()`: L402 middleware for Hono 4.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions } from '../node/l402-middleware-options.js';
import { discardUnreadBody } from '../node/discard-unread-body.js';
import { L402Policy } from '../node/l402-policy.js';
import { observeResponse } from '../node/observe-response.js';
import { groupHeaders } from '../node/write-node-decision.js';
import { fetchRequestView } from './fetch-request-view.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The verified L402 token, set by `honoL402()` when the request paid; `undefined` on free paths. */
    l402: VerifiedToken | undefined;
  }
}

/** Variables `honoL402()` sets on the context. */
export interface HonoL402Variables {
  /** The verified token; `undefined` on free paths. */
  l402: VerifiedToken | undefined;
}

/**
 * Hono middleware: requests the Gate allows continue with `c.get('l402')` set
 * to the verified token; others are answered with the challenge (402) or
 * rejection. The request view comes from the Fetch request; the client
 * address from `@hono/node-server`'s `c.env.incoming` when present.
 *
 * Fetch's `Headers` joins repeated header values into one line. Under
 * `@hono/node-server` the challenge's two `WWW-Authenticate` lines are put on
 * the Node response directly so they stay two lines, as the reference proxy
 * sends them; elsewhere they are one comma-joined line, which L402 clients
 * parse as well.
 *
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @returns Hono middleware
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the options are invalid
 * @example
 * ```ts
 * app.use('/quote', honoL402({ invoicer, secrets, service: 'quotes', priceSats: 10 }));
 * app.get('/quote', (c) => c.json({ quote: 42, token: c.get('l402')?.tokenId }));
 * ```
 */
export function honoL402(options: L402MiddlewareOptions): MiddlewareHandler<{ Variables: HonoL402Variables }> {
  const policy = new L402Policy(options);
  return async (c, next) => {
    const node = nodeBindings(c.env);
    const view = fetchRequestView(c.req.raw, node?.incoming.socket?.remoteAddress ?? '');
    const decision = await policy.decide(view);
    // Under @hono/node-server the Gate hears of the response when the Node response closes;
    // elsewhere when the handler's response is ready (its status, `completed` then true).
    const gate = policy.gate;
    const nodeRes = gate.observesResponses && node !== undefined ? observableResponse(node.outgoing) : undefined;
    if (nodeRes !== undefined) observeResponse(gate, nodeRes, view, decision);
    if (decision.kind === 'allow') {
      c.set('l402', decision.token);
      for (const [name, values] of groupHeaders(decision.headers ?? []))
        for (const value of values) c.header(name, value, { append: true });
      await next();
      if (gate.observesResponses && nodeRes === undefined) gate.responded(view, decision, { status: c.res.status, completed: true });
      return undefined;
    }
    if (gate.observesResponses && nodeRes === undefined) gate.responded(view, decision, { status: decision.status, completed: true });
    // On Node (@hono/node-server) a large body the answer does not use is not read either.
    if (node !== undefined && !node.outgoing.headersSent) {
      discardUnreadBody(node.incoming as IncomingMessage | Http2ServerRequest, node.outgoing as ServerResponse | Http2ServerResponse);
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, values] of groupHeaders(decision.headers)) {
      if (values.length > 1 && node !== undefined && !node.outgoing.headersSent) {
        node.outgoing.setHeader(name, values);
      } else {
        headers[name] = values.length === 1 ? (values[0] as string) : values;
      }
    }
    if (headers['content-type'] === undefined) headers['content-type'] = 'text/plain; charset=utf-8';
    return c.body(decision.body, decision.status as ContentfulStatusCode, headers);
  };
}

interface NodeBindings {
  incoming: Pick<IncomingMessage, 'socket'>;
  outgoing: Pick<ServerResponse, 'setHeader' | 'headersSent'>;
}

/** `@hono/node-server` passes `{ incoming, outgoing }` as the env; other runtimes pass something else. */
function nodeBindings(env: unknown): NodeBindings | undefined {
  if (typeof env !== 'object' || env === null) return undefined;
  const { incoming, outgoing } = env as Partial<NodeBindings>;
  if (typeof incoming !== 'object' || incoming === null) return undefined;
  if (typeof outgoing?.setHeader !== 'function') return undefined;
  return { incoming, outgoing };
}

/** The Node response under `@hono/node-server`, when it is one that reports its end. */
function observableResponse(outgoing: unknown): ServerResponse | Http2ServerResponse | undefined {
  const res = outgoing as Partial<ServerResponse>;
  return typeof res.once === 'function' && typeof res.statusCode === 'number' ? (outgoing as ServerResponse) : undefined;
}
