import { createServer } from 'node:http';
import express from 'express';
import { expressL402 } from '../../src/adapters/express/index.js';
import { handlerBody, listen, runConformance } from './conformance-suite.js';

runConformance({
  name: 'expressL402',
  protocols: ['http1'],
  async start(options) {
    const app = express();
    app.use(expressL402(options));
    app.use((req, res) => {
      res.type('application/json').send(handlerBody(req.path, req.l402));
    });
    return listen(createServer(app));
  },
});
