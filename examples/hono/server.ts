// Hono (on @hono/node-server) with L402: GET /quote costs 10 sats. Run: npx tsx examples/hono/server.ts
import { serve } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { honoL402 } from 'aperture-ts/hono';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayHandler } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const payDev = createDevPayHandler(invoicer); // the dev backend's "wallet"

const app = new Hono<{ Bindings: HttpBindings }>();
app.use('/quote', honoL402({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 10, timeoutSeconds: 3600 }));
app.get('/quote', (c) => c.json({ quote: 'Stay humble, stack sats.', tokenId: c.get('l402')?.tokenId }));
app.post('/api/dev/pay', async (c) => {
  const { status, body } = await payDev(await c.req.text(), c.env.incoming.socket.remoteAddress ?? '');
  return c.json(body, status as 200);
});

serve({ fetch: app.fetch, port: Number(process.env['PORT'] ?? 8080), hostname: '127.0.0.1' }, ({ port }) => {
  const base = `http://127.0.0.1:${port}`;
  console.log(`listening on ${base}
  1. curl -si ${base}/quote                       # 402: WWW-Authenticate has macaroon="M" and invoice="I"
  2. curl -s -X POST ${base}/api/dev/pay -d '{"invoice":"I"}'   # pays I, prints the preimage P
  3. curl -s -H 'Authorization: L402 M:P' ${base}/quote`);
});
