import { defineConfig } from 'tsup';
import { buildDashboard } from './scripts/build-dashboard.js';

// One entry per public subpath of package.json "exports". Keep the two lists in
// step: test/package/exports.test.ts checks that they agree.
export const entries: Record<string, string> = {
  index: 'src/index.ts',
  ratelimit: 'src/ratelimit/index.ts',
  store: 'src/store/index.ts',
  mpp: 'src/mpp/index.ts',
  express: 'src/adapters/express/index.ts',
  koa: 'src/adapters/koa/index.ts',
  node: 'src/adapters/node/index.ts',
  fastify: 'src/adapters/fastify/index.ts',
  hono: 'src/adapters/hono/index.ts',
  grpc: 'src/adapters/grpc/index.ts',
  client: 'src/client/index.ts',
  'client/grpc': 'src/client/grpc.ts',
  'client/file-token-store': 'src/client/file-token-store-entry.ts',
  'lightning/dev': 'src/lightning/dev/index.ts',
  'lightning/lnd': 'src/lightning/lnd/index.ts',
  'lightning/ln-service': 'src/lightning/ln-service/index.ts',
  'lightning/cln': 'src/lightning/cln/index.ts',
  'lightning/lnbits': 'src/lightning/lnbits/index.ts',
  'lightning/phoenixd': 'src/lightning/phoenixd/index.ts',
  'lightning/wavelength': 'src/lightning/wavelength/index.ts',
  'lightning/nwc': 'src/lightning/nwc/index.ts',
  proxy: 'src/proxy/index.ts',
  admin: 'src/admin/index.ts',
  app: 'src/app/index.ts',
  dashboard: 'src/dashboard/index.ts',
  // Programs behind bin/, not public subpaths.
  'cli/aperture': 'src/cli/aperture.ts',
  'cli/aperturecli': 'src/cli/aperturecli.ts',
};

/** The public subpaths; the programs get no type declarations. */
const publicEntries = Object.fromEntries(Object.entries(entries).filter(([entry]) => !entry.startsWith('cli/')));

export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  // tsconfig.build.json sets stripInternal: what is marked @internal is left out of the declarations.
  tsconfig: 'tsconfig.build.json',
  dts: { entry: publicEntries },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  // import.meta.url in the CJS build (createRequire of the optional packages, the package version).
  shims: true,
  splitting: true,
  treeshake: true,
  // The web dashboard (dashboard/, a browser bundle) next to the code that serves it.
  onSuccess: async () => {
    const out = await buildDashboard({ outDir: 'dist/dashboard-app' });
    console.log(
      `dashboard: ${Object.entries(out.bytes)
        .map(([name, bytes]) => `${name} ${bytes} B`)
        .join(', ')}`,
    );
  },
});
