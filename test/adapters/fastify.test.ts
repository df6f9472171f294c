import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { fastifyL402 } from '../../src/adapters/fastify/index.js';
import { handlerBody, runConformance } from './conformance-suite.js';

runConformance({
  name: 'fastifyL402',
  protocols: ['http1', 'http2'],
  async start(options, transport) {
    const app: FastifyInstance = (transport.protocol === 'http1'
      ? Fastify()
      : Fastify({ http2: true, https: { key: transport.key, cert: transport.cert } })) as unknown as FastifyInstance;
    await app.register(fastifyL402, options);
    app.get('/*', async (request, reply) => {
      reply.type('application/json');
      return handlerBody(new URL(request.url, 'http://x').pathname, request.l402);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    return {
      port: typeof address === 'object' && address !== null ? address.port : 0,
      close: () => app.close(),
    };
  },
});
