// Koa with L402: every route costs 10 sats. Run: npx tsx examples/koa/server.ts
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { koaL402 } from 'aperture-ts/koa';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayListener } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const payDev = createDevPayListener(invoicer); // the dev backend's "wallet"

const app = new Koa();
app.use(koaL402({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 10, timeoutSeconds: 3600 }));
app.use((ctx) => {
  ctx.body = { quote: 'Stay humble, stack sats.', tokenId: ctx.state.l402?.tokenId };
});

const handle = app.callback();
const server = createServer((req, res) => (req.url === '/api/dev/pay' ? payDev(req, res) : handle(req, res)));
server.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${base}
  1. curl -si ${base}/quote                       # 402: WWW-Authenticate has macaroon="M" and invoice="I"
  2. curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"I"}'   # pays I, prints the preimage P
  3. curl -s -H 'Authorization: L402 M:P' ${base}/quote`);
});
