// The reverse proxies a Node user would otherwise pick, for comparison:
// http-proxy-3 (native http path, keep-alive agent towards the backend: the
// configuration its docs recommend for throughput; the default agent opens a
// connection per request and would flatter aperture) and Fastify with
// @fastify/reply-from (undici, keep-alive by default).
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import { childParams, onStop, report } from '../lib/child.js';

interface Params {
  kind: 'http-proxy-3' | 'fastify-reply-from';
  upstreamPort: number;
}

const params = childParams<Params>();
const target = `http://127.0.0.1:${params.upstreamPort}`;

if (params.kind === 'http-proxy-3') {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = createProxyServer({ target, agent, xfwd: true });
  proxy.on('error', (_error, _req, res) => {
    const out = res as { headersSent?: boolean; writeHead?: (s: number) => void; end?: () => void; destroy?: () => void };
    if (out.headersSent === false && out.writeHead !== undefined) {
      out.writeHead(502);
      out.end?.();
    } else {
      out.destroy?.();
    }
  });
  const server: Server = createServer((req, res) => proxy.web(req, res));
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => report({ type: 'ready', port: (server.address() as AddressInfo).port }));
  onStop(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  );
} else {
  const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });
  await app.register(replyFrom, { base: target });
  app.all('/*', (request, reply) => {
    void reply.from(request.url);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  report({ type: 'ready', port: (app.server.address() as AddressInfo).port });
  onStop(() => app.close());
}
