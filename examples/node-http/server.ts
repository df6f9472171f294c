// Plain node:http with L402: every path but /api/dev/pay costs 10 sats. Run: npx tsx examples/node-http/server.ts
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeL402 } from 'aperture-ts/node';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayListener } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const payDev = createDevPayListener(invoicer); // the dev backend's "wallet"
const paywall = {
  invoicer,
  secrets: new MemorySecretStore(),
  service: 'quotes',
  priceSats: 10,
  timeoutSeconds: 3600,
  freePaths: [/^\/api\/dev\/pay$/],
};

const server = createServer(
  nodeL402(paywall, (req, res) => {
    if (req.url === '/api/dev/pay') return payDev(req, res);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ quote: 'Stay humble, stack sats.', tokenId: req.l402?.tokenId }));
  }),
);

server.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${base}
  1. curl -si ${base}/quote                       # 402: WWW-Authenticate has macaroon="M" and invoice="I"
  2. curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"I"}'   # pays I, prints the preimage P
  3. curl -s -H 'Authorization: L402 M:P' ${base}/quote`);
});
