// The `aperture` proxy under test, started exactly as the program starts it:
// a configuration validated by checkConfig, the program's limit on V8 heap
// growth (limitHeapGrowth), then startAperture (SQLite store in a temporary
// base directory, dev Lightning backend, h2c listener).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAperture } from '../../src/app/start-aperture.js';
import { limitHeapGrowth } from '../../src/cli/heap-growth.js';
import { checkConfig } from '../../src/proxy/config/check-config.js';
import { formatConfigReport } from '../../src/proxy/config/format-config-report.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { childParams, onStop, report } from '../lib/child.js';

interface Params {
  baseDir: string;
  /**
   * `off`: the services have `auth: off`; `l402`: they charge; `mixed`: the
   * REST backend is also reachable free under `/free` (service `bench-free`,
   * `auth: off`), so that paid and free requests can be interleaved on one
   * process.
   */
  auth: 'off' | 'l402' | 'mixed';
  /** Backends: a REST one for every path, and a gRPC one for `/bench.Echo/`. */
  httpPort?: number;
  grpcPort?: number;
}

const params = childParams<Params>();
const auth = params.auth === 'off' ? "'off'" : "'on'";
const services: string[] = [];
if (params.grpcPort !== undefined) {
  services.push(`  - name: bench-grpc
    hostregexp: '.*'
    pathregexp: '^/bench\\.Echo/'
    address: 127.0.0.1:${params.grpcPort}
    protocol: http
    price: 10
    auth: ${auth}`);
}
if (params.httpPort !== undefined && params.auth === 'mixed') {
  services.push(`  - name: bench-free
    hostregexp: '.*'
    pathregexp: '^/free'
    address: 127.0.0.1:${params.httpPort}
    protocol: http
    auth: 'off'`);
}
if (params.httpPort !== undefined) {
  services.push(`  - name: bench
    hostregexp: '.*'
    address: 127.0.0.1:${params.httpPort}
    protocol: http
    price: 10
    auth: ${auth}`);
}
// globalchallengelimit off: the default (50 fresh challenges per second across all
// clients, burst 500) would turn the challenge benchmark into a 503 benchmark.
const yaml = `listenaddr: 127.0.0.1:1
insecure: true
debuglevel: error
globalchallengelimit:
  requests: 0
authenticator:
  backend: dev
  network: regtest
services:
${services.join('\n')}
`;
writeFileSync(join(params.baseDir, 'aperture.yaml'), yaml);
const checked = checkConfig({ text: yaml, baseDir: params.baseDir });
if (!checked.ok || checked.config === undefined) throw new Error(formatConfigReport(checked));
const config = checked.config;
config.listenAddr = '127.0.0.1:0';
limitHeapGrowth();
const aperture = await startAperture(config, {
  logger: createLogger('error'),
  gcIntervalMs: 0,
  // The default limit (20 challenges/s per client IP, burst 100) would turn the
  // challenge benchmark into a 429 benchmark: every request comes from 127.0.0.1.
  challengeRateLimit: false,
});
report({ type: 'ready', port: aperture.addresses.proxy.port });
onStop(() => aperture.close());
