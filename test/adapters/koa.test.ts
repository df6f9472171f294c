import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import Koa from 'koa';
import { koaL402 } from '../../src/adapters/koa/index.js';
import { handlerBody, listen, runConformance } from './conformance-suite.js';

runConformance({
  name: 'koaL402',
  protocols: ['http1', 'http2'],
  async start(options, transport) {
    const app = new Koa();
    app.use(koaL402(options));
    app.use((ctx) => {
      ctx.type = 'application/json';
      ctx.body = handlerBody(ctx.path, ctx.state.l402);
    });
    return listen(transport.protocol === 'http1' ? createServer(app.callback()) : createSecureServer(transport, app.callback()));
  },
});
