/**
 * The dashboard's built files: the page, its script and style sheet, and the
 * licenses of what the bundle holds. `npm run build` writes them into
 * `dist/dashboard-app/` (scripts/build-dashboard.ts); they are read once, into
 * memory, when the handler is made.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { L402Error } from '../core/errors.js';

/** Where the page loads its files from: a prefix that services may not capture (see `RESERVED_PATHS`). */
export const DASHBOARD_ASSET_PREFIX = '/_dashboard/';

/** One file the dashboard serves. */
export interface DashboardAsset {
  /** Its bytes. */
  body: Buffer;
  /** Its `Content-Type`. */
  type: string;
  /** A strong ETag of the bytes. */
  etag: string;
}

/** The built dashboard: `index.html` (the page of every app path) and the files under `/_dashboard/`. */
export interface DashboardAssets {
  /** The page. */
  index: DashboardAsset;
  /** Files by their path (`/_dashboard/app.js`). */
  files: ReadonlyMap<string, DashboardAsset>;
}

/** The files of a build, with their types; the first two are required. */
const FILES: ReadonlyArray<[name: string, type: string]> = [
  ['index.html', 'text/html; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
  ['LICENSES.txt', 'text/plain; charset=utf-8'],
];

function asset(body: Buffer, type: string): DashboardAsset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * Where a build is looked for when none is given: `dashboard-app/` next to the
 * package's built code (`dist/`), then, when running from the sources,
 * `dist/dashboard-app/` of the checkout (after `npm run build`).
 * @returns the candidate directories, in order
 */
export function defaultDashboardDirs(): string[] {
  return [
    fileURLToPath(new URL('./dashboard-app/', import.meta.url)),
    fileURLToPath(new URL('../../dist/dashboard-app/', import.meta.url)),
  ];
}

/**
 * Reads a build of the dashboard.
 * @param dir - its directory; by default `dashboard-app/` next to the package's built code, or `dist/dashboard-app/` of a checkout
 * @returns the files, in memory
 * @throws L402Error `L402_ERR_ADMIN_DASHBOARD_NOT_BUILT` when the directory holds no build (run `npm run build`)
 */
export function loadDashboardAssets(dir?: string): DashboardAssets {
  const dirs = dir === undefined ? defaultDashboardDirs() : [dir];
  const found = dirs.find((d) => existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.js')));
  if (found === undefined) {
    throw new L402Error(
      'L402_ERR_ADMIN_DASHBOARD_NOT_BUILT',
      `the dashboard is not built: no index.html and app.js in ${dirs.join(' or ')} (run npm run build)`,
      { status: 503 },
    );
  }
  const files = new Map<string, DashboardAsset>();
  let index: DashboardAsset | undefined;
  for (const [name, type] of FILES) {
    const path = join(found, name);
    if (!existsSync(path)) continue;
    const a = asset(readFileSync(path), type);
    if (name === 'index.html') index = a;
    else files.set(`${DASHBOARD_ASSET_PREFIX}${name}`, a);
  }
  if (index === undefined)
    throw new L402Error('L402_ERR_ADMIN_DASHBOARD_NOT_BUILT', `the dashboard build in ${found} has no index.html`, { status: 503 });
  return { index, files };
}
