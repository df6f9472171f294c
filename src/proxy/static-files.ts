/**
 * Serving files from a directory for requests no service matches
 * (`servestatic` / `staticroot`). GET and HEAD only; paths are resolved
 * inside the root, so `..`, encoded or not, cannot leave it.
 */
import { createReadStream, realpathSync, statSync, type Stats } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { applyCors } from './cors.js';
import type { NodeIncoming, NodeResponse } from './forward/forward-http.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
};

function plain(res: NodeResponse, status: number, body: string): void {
  applyCors(res);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.writeHead(status);
  res.end(body);
}

/**
 * Resolves a request path to a file under `root`, or `undefined` when it
 * would leave the root, does not exist, or is not a regular file.
 * @param root - the real path of the static root
 * @param urlPath - the request path (query ignored)
 */
export function resolveStaticPath(root: string, urlPath: string): { file: string; stats: Stats } | undefined {
  const q = urlPath.indexOf('?');
  let decoded: string;
  try {
    decoded = decodeURIComponent(q === -1 ? urlPath : urlPath.slice(0, q));
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  let file = resolve(root, `.${sep}${decoded}`);
  if (file !== root && !file.startsWith(root + sep)) return undefined;
  try {
    let stats = statSync(file);
    if (stats.isDirectory()) {
      file = join(file, 'index.html');
      stats = statSync(file);
    }
    // A symbolic link inside the root may point outside it.
    const real = realpathSync(file);
    if (!real.startsWith(root + sep)) return undefined;
    return stats.isFile() ? { file: real, stats } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Answers a request from the static root: the file, or 404.
 * @param root - the real path of the static root
 * @param req - the client request
 * @param res - the client response
 */
export function serveStatic(root: string, req: NodeIncoming, res: NodeResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    plain(res, 405, 'method not allowed\n');
    return;
  }
  const found = resolveStaticPath(root, req.url ?? '/');
  if (found === undefined) {
    plain(res, 404, 'not found\n');
    return;
  }
  applyCors(res);
  res.setHeader('content-type', TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream');
  res.setHeader('content-length', found.stats.size);
  res.setHeader('last-modified', found.stats.mtime.toUTCString());
  res.writeHead(200);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(found.file);
  stream.on('error', () => res.destroy());
  res.once('close', () => stream.destroy());
  stream.pipe(res as NodeJS.WritableStream);
}
