/**
 * `fastifyL402`: L402 plugin for Fastify 5, an `onRequest` hook.
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedToken } from '../../core/types.js';
import type { L402MiddlewareOptions, L402RouteSettings } from '../node/l402-middleware-options.js';
import { L402Policy } from '../node/l402-policy.js';
import { nodeRequestView } from '../node/request-view.js';
import { discardUnreadBody } from '../node/discard-unread-body.js';
import { markHandlerFailed, observeResponse } from '../node/observe-response.js';
import { groupHeaders } from '../node/write-node-decision.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified L402 token, set by `fastifyL402` when the request paid; absent on free paths. */
    l402?: VerifiedToken;
  }
  interface FastifyContextConfig {
    /** Route settings merged over the plugin's for this route; `false` makes the route free. */
    l402?: L402RouteSettings | false;
  }
}

/**
 * Fastify plugin: adds an `onRequest` hook to the context it is registered in
 * (it is not encapsulated, like a `fastify-plugin` plugin) and decorates the
 * request with `l402`. Allowed requests reach the route with `request.l402`
 * set to the verified token; others are answered with the challenge (402) or
 * rejection before the body is read. A route's `config.l402` refines the
 * settings for that route, or `false` makes it free.
 *
 * Works on HTTP/1.1 and HTTP/2 (`fastify({ http2: true })`).
 *
 * @param fastify - the instance (Fastify passes it)
 * @param options - Gate source and route settings, see {@link L402MiddlewareOptions}
 * @param done - completion callback (Fastify passes it)
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` (through registration) when the options are invalid
 * @example
 * ```ts
 * await app.register(fastifyL402, { invoicer, secrets, service: 'quotes', priceSats: 10 });
 * app.get('/quote', async (request) => ({ quote: 42, token: request.l402?.tokenId }));
 * ```
 */
export const fastifyL402: FastifyPluginCallback<L402MiddlewareOptions> = (fastify, options, done) => {
  let policy: L402Policy;
  try {
    policy = new L402Policy(options);
  } catch (error) {
    done(error as Error);
    return;
  }
  if (!fastify.hasRequestDecorator('l402')) fastify.decorateRequest('l402', undefined);
  if (policy.gate.observesResponses) {
    // A handler that fails, or a streamed payload that errors (Fastify then cuts a
    // response under way), is the handler's failure, not a client that left.
    fastify.addHook('onError', async (_request: FastifyRequest, reply: FastifyReply) => {
      markHandlerFailed(reply.raw);
    });
    fastify.addHook('onSend', async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (typeof payload === 'object' && payload !== null && typeof (payload as { once?: unknown }).once === 'function')
        (payload as NodeJS.EventEmitter).once('error', () => markHandlerFailed(reply.raw));
      return payload;
    });
  }
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const override = request.routeOptions.config.l402;
    const view = nodeRequestView(request.raw);
    const decision = await policy.decide(view, override);
    observeResponse(policy.gate, reply.raw, view, decision);
    if (decision.kind === 'allow') {
      for (const [name, values] of groupHeaders(decision.headers ?? [])) reply.header(name, values.length === 1 ? values[0] : values);
      if (decision.token !== undefined) request.l402 = decision.token;
      return;
    }
    // The answer does not read the body: a large one still to come is not read either.
    discardUnreadBody(request.raw, reply.raw);
    reply.code(decision.status);
    const grouped = groupHeaders(decision.headers);
    for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0] : values);
    if (!grouped.has('content-type')) reply.type('text/plain; charset=utf-8');
    return reply.send(decision.body);
  });
  done();
};

// What `fastify-plugin` does, without depending on it: register into the
// caller's context instead of an encapsulated child, so the hook guards the
// caller's routes.
const meta = fastifyL402 as unknown as Record<symbol, unknown>;
meta[Symbol.for('skip-override')] = true;
meta[Symbol.for('fastify.display-name')] = 'aperture-ts-l402';
meta[Symbol.for('plugin-meta')] = { name: 'aperture-ts-l402', fastify: '5.x' };
