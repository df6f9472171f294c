// Shared helpers of the proxy tests: certificates, backends, a proxy on a real port, clients.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import type { ProxyService } from '../../src/proxy/proxy-service.js';
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/server/proxy-server.js';
import { tempDir } from '../fixtures/cleanup.js';

export interface Pki {
  caCert: string;
  caPath: string;
  cert: string;
  key: string;
  /** A second, unrelated CA. */
  otherCaPath: string;
  dir: string;
}

let pki: Promise<Pki> | undefined;

async function makeCa(cn: string): Promise<{ cert: string; key: string }> {
  const ca = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A test CA, a leaf for 127.0.0.1/localhost signed by it, and an unrelated CA. Created once per process. */
export function testPki(): Promise<Pki> {
  pki ??= (async () => {
    const dir = tempDir('aperture-proxy-pki-'); // removed when the test file's process exits
    const ca = await makeCa('aperture test CA');
    const other = await makeCa('unrelated CA');
    const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      ca: { key: ca.key, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    const caPath = join(dir, 'ca.pem');
    const otherCaPath = join(dir, 'other-ca.pem');
    writeFileSync(caPath, ca.cert);
    writeFileSync(otherCaPath, other.cert);
    return { caCert: ca.cert, caPath, cert: leaf.cert, key: leaf.private, otherCaPath, dir };
  })();
  return pki;
}

/** Starts an HTTP/1.1 backend (TLS with the test leaf when `tls`). */
export async function startBackend(
  handler: RequestListener,
  tls?: Pki,
): Promise<{ server: Server; address: string; close: () => Promise<void> }> {
  const server = tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    address: `127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export interface RunningProxy<S extends ProxyService> {
  proxy: Proxy<S>;
  server: ProxyServer;
  port: number;
  url: string;
  close: () => Promise<void>;
}

/** Starts a Proxy behind a ProxyServer on 127.0.0.1:0; plaintext unless `tls` is given. */
export async function startProxy<S extends ProxyService>(
  options: ProxyOptions<S>,
  server: Partial<ProxyServerOptions> & { pki?: Pki } = {},
): Promise<RunningProxy<S>> {
  const proxy = new Proxy<S>(options);
  const { pki: tls, ...rest } = server;
  const listener = new ProxyServer({
    handler: proxy,
    listenAddr: '127.0.0.1:0',
    ...(tls === undefined ? { insecure: true } : { tls: { cert: tls.cert, key: tls.key } }),
    ...rest,
  });
  const { port } = await listener.listen();
  return {
    proxy,
    server: listener,
    port,
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    close: () => listener.close(),
  };
}

export interface SimpleResponse {
  status: number;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
}

/** An HTTP/1.1 request with node:http (or https with `ca`), body collected. */
export function h1(
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders | string[]; body?: string | Buffer; ca?: string } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // Node adds no Host of its own to a raw header array.
    if (Array.isArray(options.headers) && !options.headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host')) {
      options = { ...options, headers: [...options.headers, 'Host', u.host] };
    }
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: options.method ?? 'GET',
        headers: options.headers as OutgoingHttpHeaders,
        agent: false,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

import { request as httpsRequest } from 'node:https';

/** An HTTP/2 request on a session, body collected. */
export function h2(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string,
): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
    stream.end(body);
  });
}

/** Opens an HTTP/2 session (h2c for http:, TLS with `ca` for https:). */
export async function h2Session(url: string, ca?: string): Promise<ClientHttp2Session> {
  const session = http2Connect(url, ca === undefined ? {} : { ca });
  session.on('error', () => undefined);
  await once(session, 'connect');
  return session;
}

/** Resolves when `check()` holds, polling on the event loop's next turns (no fixed sleeps). */
export async function until(check: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export function service(address: string, extra: Partial<ProxyService> = {}): ProxyService {
  return { name: 'svc', hostRegexp: '.*', address, ...extra };
}
