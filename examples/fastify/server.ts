// Fastify with L402: GET /quote costs 10 sats, GET /health is free. Run: npx tsx examples/fastify/server.ts
import Fastify from 'fastify';
import { fastifyL402 } from 'aperture-ts/fastify';
import { MemorySecretStore } from 'aperture-ts';
import { DevInvoicer, createDevPayHandler } from 'aperture-ts/lightning/dev';

const invoicer = new DevInvoicer(); // dev Lightning backend: no node, no real money
const payDev = createDevPayHandler(invoicer); // the dev backend's "wallet"

const app = Fastify();
await app.register(fastifyL402, { invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 10, timeoutSeconds: 3600 });
app.get('/quote', async (request) => ({ quote: 'Stay humble, stack sats.', tokenId: request.l402?.tokenId }));
app.get('/health', { config: { l402: false } }, async () => ({ ok: true }));
app.post('/api/dev/pay', { config: { l402: false } }, async (request, reply) => {
  const { status, body } = await payDev(request.body, request.ip);
  return reply.code(status).send(body);
});

const base = await app.listen({ port: Number(process.env['PORT'] ?? 8080), host: '127.0.0.1' });
console.log(`listening on ${base}
  1. curl -si ${base}/quote                       # 402: WWW-Authenticate has macaroon="M" and invoice="I"
  2. curl -s -X POST ${base}/api/dev/pay -H 'content-type: application/json' -d '{"invoice":"I"}'   # prints the preimage P
  3. curl -s -H 'Authorization: L402 M:P' ${base}/quote`);
