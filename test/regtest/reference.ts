// The two proxies of the differential tests, started the same way: the
// reference aperture (Go, v0.5.0 as test/go/aperture pins it) and ours
// (bin/aperture.js), each a child process reading the same aperture.yaml (only
// the listen address and the database file differ) in its own base directory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, repoRoot } from '../e2e/support.js';
import { startProcess, waitFor, type Proc } from './processes.js';

/** One running proxy. */
export interface Proxy {
  name: 'reference' | 'ours';
  port: number;
  url: string;
  dir: string;
  proc: Proc;
}

/**
 * The configuration both read. `{{LISTEN}}` and `{{DIR}}` are replaced per proxy.
 * The SQLite file is set with `databasefilename`, the key the reference's YAML
 * loader reads (its sample's `dbfile` is only its command-line flag's name).
 */
export function configFor(template: string, port: number, dir: string): string {
  return template.replaceAll('{{LISTEN}}', `127.0.0.1:${port}`).replaceAll('{{DIR}}', dir);
}

/** Whether something accepts connections on the port. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts one proxy on `template` in `dir`; resolves once it accepts connections. */
export async function startProxy(name: Proxy['name'], binary: string, template: string, dir: string): Promise<Proxy> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const configPath = join(dir, 'aperture.yaml');
  writeFileSync(configPath, configFor(template, port, dir));
  const args = [`--configfile=${configPath}`, `--basedir=${dir}`];
  const proc =
    name === 'reference'
      ? startProcess('reference aperture', binary, args, join(dir, 'reference.log'))
      : startProcess('our aperture', process.execPath, [join(repoRoot, 'bin', 'aperture.js'), ...args], join(dir, 'ours.log'));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} aperture on ${url}`, async () => ((await accepting(port)) ? true : undefined), { proc, limitMs: 60_000 });
  return { name, port, url, dir, proc };
}

/** A response as compared. */
export interface Shot {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request; `headers` as a flat [name, value, …] list keeps duplicates. */
export function send(
  base: string,
  {
    method = 'GET',
    path = '/',
    headers = [],
    localAddress,
  }: { method?: string; path?: string; headers?: string[]; localAddress?: string } = {},
): Promise<Shot> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers: [...headers, 'Host', u.host],
        agent: false,
        ...(localAddress === undefined ? {} : { localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
