// The cheapest reverse proxy this stack allows, as a floor for aperture's
// own cost: node:http in front, one undici Pool to the upstream, hop-by-hop
// headers dropped, and the header work aperture does on every request with
// auth off (Host, X-Forwarded-For/-Proto/-Host towards the backend, the four
// CORS headers towards the client). No routing, authorization, metrics,
// timeouts, error handling or backpressure: not a usable proxy, a yardstick.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { CORS_HEADERS } from '../../src/proxy/cors.js';
import { childParams, onStop, report } from '../lib/child.js';

interface Params {
  upstreamPort: number;
}

const params = childParams<Params>();
const backend = `127.0.0.1:${params.upstreamPort}`;
const pool = new Pool(`http://${backend}`);
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Streams the backend's answer to the client. */
class Handler implements Dispatcher.DispatchHandler {
  constructor(readonly res: ServerResponse) {}
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[]>): void {
    for (const name of Object.keys(headers)) if (!HOP.has(name)) this.res.setHeader(name, headers[name] as string | string[]);
    for (const [name, value] of CORS_HEADERS) this.res.setHeader(name, value);
    this.res.writeHead(status);
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.res.write(chunk);
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    this.res.destroy(error);
  }
}

const server = createServer((req, res) => {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (lower === 'host' || HOP.has(lower)) continue;
    headers.push(raw[i] as string, raw[i + 1] as string);
  }
  headers.push(
    'host',
    backend,
    'x-forwarded-for',
    req.socket.remoteAddress ?? '',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    req.headers.host ?? '',
  );
  pool.dispatch(
    { method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: req.method === 'GET' ? null : req },
    new Handler(res),
  );
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => report({ type: 'ready', port: (server.address() as AddressInfo).port }));
onStop(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      void pool.destroy();
    }),
);
