// Plain node:http with the Payment scheme (MPP), charge intent: each request to /quote costs
// 10 sats, paid per request. Run: npx tsx examples/mpp-charge/server.ts
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MppScheme } from 'aperture-ts/mpp';
import { MemoryStore } from 'aperture-ts/store';
import { DevInvoicer, createDevPayListener } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const payDev = createDevPayListener(invoicer); // the dev backend's "wallet"
const scheme = new MppScheme({
  realm: 'quotes.example',
  secret: randomBytes(32),
  invoicer,
  network: invoicer.network,
  charges: new MemoryStore(),
});
const target = { service: 'quotes', priceSats: 10 };

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/api/dev/pay') return payDev(req, res);
  const authorization = req.headers.authorization === undefined ? [] : [req.headers.authorization];
  const verdict = await scheme.verify({ headerValues: (name) => (name === 'authorization' ? authorization : []) }, target);
  if (verdict.kind === 'accepted') {
    for (const [name, value] of scheme.responseHeaders(verdict)) res.setHeader(name, value);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ quote: 'Stay humble, stack sats.', paymentHash: verdict.reference }));
    return;
  }
  const reply = scheme.challengeResponse(await scheme.offers(target), verdict.kind === 'refused' ? verdict : undefined);
  res.writeHead(reply.status, reply.headers.map(([name, value]) => [name, value]).flat());
  res.end(reply.body);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    // The invoicer or the store failed: no payment was taken.
    if (!res.headersSent) res.writeHead(503);
    res.end();
  });
});

server.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${base}
  1. curl -si ${base}/quote      # 402: WWW-Authenticate: Payment … request="R" (base64url JSON with the invoice)
  2. curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"I"}'   # pays the invoice I of R, prints the preimage P
  3. send Authorization: Payment <base64url of {"challenge":{…the challenge's parameters…},"payload":{"preimage":"P"}}>`);
});
