// Express with L402: GET /quote costs 10 sats. Run: npx tsx examples/express/server.ts
import type { AddressInfo } from 'node:net';
import express from 'express';
import { expressL402 } from 'aperture-ts/express';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayListener } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
// A paid token is a pass for 'quotes': any number of requests for an hour, then pay again.
const paywall = expressL402({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 10, timeoutSeconds: 3600 });

const app = express();
app.post('/api/dev/pay', createDevPayListener(invoicer)); // the dev backend's "wallet"
app.get('/quote', paywall, (req, res) => {
  res.json({ quote: 'Stay humble, stack sats.', tokenId: req.l402?.tokenId });
});

const server = app.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${base}
  1. curl -si ${base}/quote                       # 402: WWW-Authenticate has macaroon="M" and invoice="I"
  2. curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"I"}'   # pays I, prints the preimage P
  3. curl -s -H 'Authorization: L402 M:P' ${base}/quote`);
});
