import { createSecureServer } from 'node:http2';
import type { Server } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { honoL402 } from '../../src/adapters/hono/index.js';
import { handlerBody, listen, runConformance } from './conformance-suite.js';

runConformance({
  name: 'honoL402 on @hono/node-server',
  protocols: ['http1', 'http2'],
  async start(options, transport) {
    const app = new Hono();
    app.use(honoL402(options));
    app.get('*', (c) => c.body(handlerBody(c.req.path, c.get('l402')), 200, { 'content-type': 'application/json' }));
    const server =
      transport.protocol === 'http1'
        ? createAdaptorServer({ fetch: app.fetch })
        : createAdaptorServer({
            fetch: app.fetch,
            createServer: createSecureServer,
            serverOptions: { key: transport.key, cert: transport.cert },
          });
    return listen(server as unknown as Server);
  },
});
