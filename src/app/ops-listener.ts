/**
 * The program's operations listener (`prometheus.listenaddr`): `GET /metrics`
 * (Prometheus text format) and `GET /healthz` (store and Lightning health as
 * JSON, 200 or 503), on a plain HTTP listener of its own.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { L402Error } from '../core/errors.js';
import type { Invoicer } from '../core/types.js';
import type { ProxyMetrics } from '../proxy/ops/metrics.js';
import type { ApertureStore } from '../store/aperture-store.js';

/** Options of {@link startOpsListener}. */
export interface OpsListenerOptions {
  /** `host:port` (`[v6]:port`). */
  listenAddr: string;
  /** What `/metrics` renders. */
  metrics: ProxyMetrics;
  /** Asked by `/healthz`. */
  store: Pick<ApertureStore, 'health'>;
  /** Asked by `/healthz` and for `aperture_lightning_up`; `undefined` when the authenticator is disabled. */
  invoicer: Invoicer | undefined;
}

/** A running operations listener. */
export interface OpsListener {
  /** The bound address. */
  readonly address: AddressInfo;
  /** Stops it, closing its connections. */
  close(): Promise<void>;
}

function listenOn(server: ReturnType<typeof createServer>, addr: string): Promise<AddressInfo> {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  const m = v6 ?? /^([^:]*):(\d+)$/.exec(addr);
  if (m === null)
    return Promise.reject(new L402Error('L402_ERR_PROXY_LISTEN_FAILED', `listen address ${JSON.stringify(addr)} is not host:port`));
  server.listen({ host: m[1] === '' ? undefined : m[1], port: Number(m[2]) });
  return once(server, 'listening').then(
    () => server.address() as AddressInfo,
    (cause: unknown) => {
      const code = (cause as { code?: unknown }).code;
      throw new L402Error(
        code === 'EADDRINUSE' ? 'L402_ERR_PROXY_ADDRESS_IN_USE' : 'L402_ERR_PROXY_LISTEN_FAILED',
        `cannot listen on ${addr} (prometheus.listenaddr): ${code === 'EADDRINUSE' ? 'address already in use' : String(cause)}`,
        { cause },
      );
    },
  );
}

/**
 * Starts the operations listener.
 * @param options - address, metrics, health sources
 * @returns the listener
 * @throws L402Error `L402_ERR_PROXY_ADDRESS_IN_USE`, `L402_ERR_PROXY_LISTEN_FAILED`
 */
export async function startOpsListener(options: OpsListenerOptions): Promise<OpsListener> {
  const { metrics, store, invoicer } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      if (invoicer !== undefined) metrics.lightningUp.set(invoicer.health().ok ? 1 : 0);
      metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      store.health().then(
        (db) => {
          const ln = invoicer?.health();
          const ok = db.ok && (ln === undefined || ln.ok);
          const body = JSON.stringify({ ok, store: db, lightning: ln ?? { ok: true, detail: 'authenticator disabled' } });
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(body);
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  server.on('error', () => undefined);
  const address = await listenOn(server, options.listenAddr);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
