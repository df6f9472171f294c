// The Express adapter on Express 4 (installed as the `express4` alias); the
// same conformance suite as Express 5 in express.test.ts.
import { createServer } from 'node:http';
import express4 from 'express4';
import { expressL402 } from '../../src/adapters/express/index.js';
import { handlerBody, listen, runConformance } from './conformance-suite.js';

runConformance({
  name: 'expressL402 on Express 4',
  protocols: ['http1'],
  async start(options) {
    const app = express4();
    app.use(expressL402(options));
    app.use((req, res) => {
      res.type('application/json').send(handlerBody(req.path, req.l402));
    });
    return listen(createServer(app));
  },
});
