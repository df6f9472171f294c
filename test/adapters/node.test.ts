import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { nodeL402 } from '../../src/adapters/node/index.js';
import { handlerBody, listen, runConformance } from './conformance-suite.js';

runConformance({
  name: 'nodeL402',
  protocols: ['http1', 'http2'],
  async start(options, transport) {
    if (transport.protocol === 'http1') {
      return listen(
        createServer(
          nodeL402(options, (req, res) => {
            res.setHeader('content-type', 'application/json');
            res.end(handlerBody(new URL(req.url ?? '/', 'http://x').pathname, req.l402));
          }),
        ),
      );
    }
    return listen(
      createSecureServer(
        transport,
        nodeL402(options, (req: Http2ServerRequest, res: Http2ServerResponse) => {
          res.setHeader('content-type', 'application/json');
          res.end(handlerBody(new URL(req.url, 'http://x').pathname, req.l402));
        }),
      ),
    );
  },
});
