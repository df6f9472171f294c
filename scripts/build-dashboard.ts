// Builds the web dashboard (dashboard/) into a directory the dashboard handler
// serves (src/dashboard/dashboard-assets.ts): index.html, app.js, app.css and
// LICENSES.txt with the license of every package the bundle holds. `npm run build`
// writes dist/dashboard-app/ (tsup.config.ts); tests build into a temp directory,
// so they need no prior build.
//
//   node --import tsx scripts/build-dashboard.ts [outDir]   (default dist/dashboard-app)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

/** Packages the bundle may hold, each with its license file (shipped in LICENSES.txt). */
const LICENSED: Readonly<Record<string, string>> = {
  preact: 'node_modules/preact/LICENSE',
  uplot: 'node_modules/uplot/LICENSE',
};

/** The page: no inline script or style (the Content-Security-Policy allows neither). */
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>aperture dashboard</title>
<link rel="stylesheet" href="/_dashboard/app.css">
<script defer src="/_dashboard/app.js"></script>
</head>
<body>
<noscript>The aperture dashboard needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;

export interface BuildDashboardOptions {
  /** Where to write the files. */
  outDir: string;
  /** Minify (default true). */
  minify?: boolean;
}

/** What a build wrote: sizes in bytes, and the packages bundled. */
export interface DashboardBuild {
  outDir: string;
  bytes: Record<string, number>;
  packages: string[];
}

/**
 * Builds the dashboard.
 * @param options - where, and whether to minify
 * @returns what was written
 */
export async function buildDashboard(options: BuildDashboardOptions): Promise<DashboardBuild> {
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: join(root, 'dashboard/main.tsx') },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    legalComments: 'none',
    outdir: outDir,
    metafile: true,
    logLevel: 'silent',
    tsconfig: join(root, 'dashboard/tsconfig.json'),
  });
  const packages = [
    ...new Set(
      Object.keys(result.metafile.inputs).flatMap((input) => {
        const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
        return m?.[1] === undefined ? [] : [m[1]];
      }),
    ),
  ].sort();
  const unlicensed = packages.filter((p) => LICENSED[p] === undefined);
  if (unlicensed.length > 0) throw new Error(`build-dashboard: the bundle holds ${unlicensed.join(', ')}; add its license to LICENSED`);
  const own = readFileSync(join(root, 'LICENSE'), 'utf8');
  const licenses = [
    'The aperture-ts dashboard bundles the following software.\n',
    `== aperture-ts ==\n\n${own.trim()}\n`,
    ...packages.map((p) => {
      const version = (JSON.parse(readFileSync(join(root, 'node_modules', p, 'package.json'), 'utf8')) as { version: string }).version;
      return `== ${p} ${version} ==\n\n${readFileSync(join(root, LICENSED[p] as string), 'utf8').trim()}\n`;
    }),
  ].join('\n');
  writeFileSync(join(outDir, 'index.html'), INDEX_HTML);
  writeFileSync(join(outDir, 'LICENSES.txt'), licenses);
  const bytes: Record<string, number> = {};
  for (const name of ['index.html', 'app.js', 'app.css', 'LICENSES.txt']) bytes[name] = readFileSync(join(outDir, name)).length;
  return { outDir, bytes, packages };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const out = await buildDashboard({ outDir: process.argv[2] ?? join(root, 'dist/dashboard-app') });
  console.log(
    `dashboard built into ${out.outDir}: ${Object.entries(out.bytes)
      .map(([n, b]) => `${n} ${b} B`)
      .join(', ')}; bundles ${out.packages.join(', ')}`,
  );
}
