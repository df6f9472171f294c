// Express 5 with and without expressL402(): the cost of the middleware in an
// application. The route answers what the upstream answers, in process.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { expressL402 } from '../../src/adapters/express/express-l402.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { BenchInvoicer, mintAuthorizations, writeTokenFile } from '../lib/bench-tokens.js';
import { childParams, onStop, report } from '../lib/child.js';

interface Params {
  l402: boolean;
  /** Tokens to mint (with `l402`), written one per line to `tokenFile`. */
  tokens: number;
  tokenFile: string;
}

const params = childParams<Params>();
const app = express();
app.disable('x-powered-by');
app.disable('etag');
if (params.l402) {
  const secrets = new MemorySecretStore();
  app.use(expressL402({ invoicer: new BenchInvoicer(), secrets, service: 'bench', priceSats: 10 }));
  writeTokenFile(params.tokenFile, await mintAuthorizations(secrets, 'bench', params.tokens));
}
app.get('/', (_req, res) => {
  res.type('application/json').send('{"ok":true,"n":42}\n');
});
const server = app.listen(0, '127.0.0.1', () => {
  report({ type: 'ready', port: (server.address() as AddressInfo).port });
});
server.keepAliveTimeout = 120_000;
onStop(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
