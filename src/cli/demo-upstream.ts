/**
 * The example API that `npm start` puts behind the proxy: a tiny JSON API
 * with a paid route, a free (whitelisted) route and a server-sent-events stream.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link startDemoUpstream}. */
export interface DemoUpstreamOptions {
  /** Interface to listen on; `127.0.0.1` by default. */
  host?: string;
  /** Port; 0 (a free port) by default. */
  port?: number;
  /** Events sent by `GET /api/stream` before it ends; 5 by default. */
  streamEvents?: number;
  /** Gap between two stream events, ms; 1000 by default. */
  streamIntervalMs?: number;
}

/** A running demo upstream. */
export interface DemoUpstream {
  /** `host:port`, for the proxy's `address`. */
  address: string;
  /** The node:http server. */
  server: Server;
  /** Stops it (open streams are cut). */
  close(): Promise<void>;
}

const QUOTES = ['Running bitcoin. — Hal Finney', 'Vires in numeris.', 'Stay humble, stack sats.', 'Lightning is the internet of money.'];

/**
 * Starts the demo API:
 *
 * - `GET /api/quote` — a JSON quote (paid behind the proxy);
 * - `GET /api/free` — a JSON message (whitelisted behind the proxy);
 * - `GET /api/stream` — server-sent events, one per interval, then the end;
 * - anything else — 404 JSON.
 *
 * @param options - address and stream pacing
 * @returns the running server and its address
 */
export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const events = options.streamEvents ?? 5;
  const interval = options.streamIntervalMs ?? 1000;
  let served = 0;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown): void => {
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && path === '/api/quote') {
      json(200, { quote: QUOTES[served++ % QUOTES.length], paid: req.headers.authorization !== undefined, at: new Date().toISOString() });
      return;
    }
    if (req.method === 'GET' && path === '/api/free') {
      json(200, { message: 'this route is free: it is in authwhitelistpaths', at: new Date().toISOString() });
      return;
    }
    if (req.method === 'GET' && path === '/api/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      let n = 0;
      const send = (): void => {
        n++;
        res.write(`id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, at: new Date().toISOString() })}\n\n`);
        if (n >= events) {
          clearInterval(timer);
          res.end();
        }
      };
      const timer = setInterval(send, interval);
      res.on('close', () => clearInterval(timer));
      send();
      return;
    }
    json(404, { error: 'not found', routes: ['/api/quote', '/api/free', '/api/stream'] });
  });
  server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  await once(server, 'listening');
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
