// Shared helpers of the dashboard tests: the app built from source into a temp
// directory (no prior `npm run build`), and a listener that mounts the admin API
// (real store, backend recording applied services) and the dashboard handler the
// way a program does: admin API first, then the dashboard, then the program's own
// routes (here a 404 naming itself).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminApi } from '../../src/admin/admin-api.js';
import type { AdminInfo } from '../../src/admin/admin-backend.js';
import { ensureAdminCredentials } from '../../src/admin/admin-macaroon.js';
import { createDashboardHandler, type DashboardOptions } from '../../src/dashboard/dashboard-handler.js';
import type { ApertureStore } from '../../src/store/aperture-store.js';
import type { ServiceConfig } from '../../src/proxy/config/aperture-config.js';
import { buildDashboard } from '../../scripts/build-dashboard.js';
import { INFO, RecordingBackend } from '../admin/support.js';
import { removeDir, tempDir } from '../fixtures/cleanup.js';

let built: Promise<string> | undefined;

/** The dashboard built once per test process into a temp directory (removed at exit). */
export function builtDashboard(): Promise<string> {
  built ??= (async () => {
    const dir = tempDir('aperture-dashboard-build-');
    await buildDashboard({ outDir: dir });
    return dir;
  })();
  return built;
}

export interface DashboardServer {
  url: string;
  port: number;
  server: Server;
  admin: AdminApi;
  backend: RecordingBackend;
  macaroonHex: string;
  /** What reached the program's own routes (left by the admin API and the dashboard). */
  programHits: string[];
  close(): Promise<void>;
}

export interface DashboardServerOptions {
  store: ApertureStore;
  /** The configuration file's services. */
  services?: ServiceConfig[];
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** The program's predicate. */
  isServiceRequest?: NonNullable<DashboardOptions['isServiceRequest']>;
  dashboard?: Partial<DashboardOptions>;
  /** GetInfo's answer, over the defaults (regtest, 127.0.0.1:8081, insecure). */
  info?: Partial<AdminInfo>;
}

/** The admin API and the dashboard on one real listener. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const dir = tempDir('aperture-dashboard-');
  const assets = await builtDashboard();
  const backend = new RecordingBackend(options.store, options.services ?? [], dir, { ...INFO, ...options.info });
  const macaroonPath = join(dir, 'admin.macaroon');
  const { rootKey } = ensureAdminCredentials({ macaroonPath });
  const macaroon = readFileSync(macaroonPath);
  const admin = new AdminApi({ backend, rootKey });
  const dashboard = createDashboardHandler({
    admin,
    macaroon,
    assets,
    ...(options.isServiceRequest === undefined ? {} : { isServiceRequest: options.isServiceRequest }),
    ...options.dashboard,
  });
  const programHits: string[] = [];
  const server = createServer((req, res) => {
    if (admin.handleRequest(req, res)) return;
    if (dashboard(req, res)) return;
    programHits.push(`${req.method} ${req.url}`);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('program\n');
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    admin,
    backend,
    macaroonHex: macaroon.toString('hex'),
    programHits,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeDir(dir);
    },
  };
}
