/**
 * `koaL402()`: L402 middleware for Koa 2 and 3.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions } from '../node/l402-middleware-options.js';
// Loads Koa's types (only) so that the augmentation below has a module to extend.
import type {} from 'koa';
import { L402Policy } from '../node/l402-policy.js';
import { nodeRequestView } from '../node/request-view.js';
import { discardUnreadBody } from '../node/discard-unread-body.js';
import { markHandlerFailed, observeResponse } from '../node/observe-response.js';
import { groupHeaders } from '../node/write-node-decision.js';

declare module 'koa' {
  interface DefaultState {
    /** The verified L402 token, set by `koaL402()` when the request paid; absent on free paths. */
    l402?: VerifiedToken;
  }
}

/**
 * The part of Koa's context the middleware uses, written without Koa's types
 * so that the adapter loads nothing of Koa.
 */
export interface KoaL402Context {
  req: IncomingMessage | Http2ServerRequest;
  res: ServerResponse | Http2ServerResponse;
  state: { l402?: VerifiedToken };
  status: number;
  body: unknown;
  set(field: string, value: string | string[]): void;
}

/** The middleware's shape: `(ctx, next) => Promise<void>`. */
export type KoaL402Middleware = (ctx: KoaL402Context, next: () => Promise<unknown>) => Promise<void>;

/**
 * Koa middleware: requests the Gate allows continue with `ctx.state.l402` set
 * to the verified token; others get the challenge (402) or rejection as
 * `ctx.status`, headers and `ctx.body`, and downstream middleware does not run.
 * Gate failures are thrown into Koa's error handling.
 *
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @returns Koa middleware
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` when the options are invalid
 * @example
 * ```ts
 * app.use(koaL402({ invoicer, secrets, service: 'quotes', priceSats: 10 }));
 * app.use((ctx) => { ctx.body = { quote: 42, token: ctx.state.l402?.tokenId }; });
 * ```
 */
export function koaL402(options: L402MiddlewareOptions): KoaL402Middleware {
  const policy = new L402Policy(options);
  return async (ctx, next) => {
    const view = nodeRequestView(ctx.req);
    const decision = await policy.decide(view);
    observeResponse(policy.gate, ctx.res, view, decision);
    if (decision.kind === 'allow') {
      for (const [name, values] of groupHeaders(decision.headers ?? []))
        ctx.set(name, values.length === 1 ? (values[0] as string) : values);
      if (decision.token !== undefined) ctx.state.l402 = decision.token;
      try {
        await next();
      } catch (error) {
        markHandlerFailed(ctx.res);
        throw error;
      }
      // A streamed body that fails is the handler's failure, not a client that left.
      const body = ctx.body;
      if (isEmitter(body)) body.once('error', () => markHandlerFailed(ctx.res));
      return;
    }
    // The answer does not read the body: a large one still to come is not read either.
    discardUnreadBody(ctx.req, ctx.res);
    ctx.status = decision.status;
    for (const [name, values] of groupHeaders(decision.headers)) {
      ctx.set(name, values.length === 1 ? (values[0] as string) : values);
    }
    // A string body makes Koa answer text/plain unless the decision named a type.
    ctx.body = decision.body;
  };
}

/** Whether a body is a stream (an event emitter) whose errors can be heard. */
function isEmitter(body: unknown): body is NodeJS.EventEmitter {
  return typeof body === 'object' && body !== null && typeof (body as { once?: unknown }).once === 'function';
}
