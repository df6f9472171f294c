// The differential request matrix: the same requests to the reference aperture
// and to ours, the answers normalised (token and invoice values replaced by
// placeholders, per-response headers such as Date dropped) and compared field
// by field. Every difference that remains is either listed in INTENDED (and in
// docs/operations.md, "Differences from the reference, measured") or a defect.
import { Buffer } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { Macaroon } from '../../src/core/macaroon.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { send, type Proxy, type Shot } from './reference.js';

/** The configuration template both proxies read; backends filled in by {@link template}. */
export function template(
  rest: string,
  grpcBackend: { address: string; caPath: string },
  lnd: { host: string; tlsPath: string; macDir: string },
): string {
  return `
listenaddr: {{LISTEN}}
insecure: true
debuglevel: info
dbbackend: sqlite
sqlite:
  databasefilename: {{DIR}}/store.db
blocklist:
  - 127.0.0.2
authenticator:
  lndhost: ${lnd.host}
  tlspath: ${lnd.tlsPath}
  macdir: ${lnd.macDir}
  network: regtest
services:
  - name: quotes
    hostregexp: '.*'
    pathregexp: '^/demo\\.Quotes/'
    address: ${grpcBackend.address}
    protocol: https
    tlscertpath: ${grpcBackend.caPath}
    price: 7
    authskipinvoicecreationpaths:
      - '^/demo\\.Quotes/Skip$'
    ratelimits:
      - pathregexp: '^/demo\\.Quotes/Limited$'
        requests: 1
        per: 1h
        burst: 1
  - name: freebies
    hostregexp: '.*'
    pathregexp: '^/freebie'
    address: ${rest}
    protocol: http
    auth: freebie 2
    price: 5
  - name: limited
    hostregexp: '.*'
    pathregexp: '^/limited'
    address: ${rest}
    protocol: http
    price: 5
    ratelimits:
      - requests: 1
        per: 1h
        burst: 1
  - name: api
    hostregexp: '.*'
    pathregexp: '^/api'
    address: ${rest}
    protocol: http
    price: 10
    authwhitelistpaths:
      - '^/api/open'
    authskipinvoicecreationpaths:
      - '^/api/skip'
`;
}

/** Headers that differ per response by nature, or per HTTP stack without meaning. */
const IGNORED_HEADERS = new Set(['date', 'content-length', 'connection', 'keep-alive', 'transfer-encoding']);

/** A response reduced to what is compared; tokens and invoices as placeholders. */
export interface Normal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function placeholders(value: string): string {
  return value
    .replace(/macaroon="[^"]*"/g, 'macaroon="<macaroon>"')
    .replace(/invoice="[^"]*"/g, 'invoice="<invoice>"')
    .replace(/\b(L402|LSAT) [A-Za-z0-9+/=_-]+:[0-9a-fA-F]{64}/g, '$1 <macaroon>:<preimage>');
}

/** Normalises a response. */
export function normalise(shot: Shot): Normal {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(shot.headers)) {
    if (IGNORED_HEADERS.has(name) || value === undefined) continue;
    headers[name] = placeholders(Array.isArray(value) ? value.join(' | ') : value);
  }
  return { status: shot.status, headers, body: placeholders(shot.body) };
}

/** One field that differs: `status`, `body` or `header <name>`. */
export interface Difference {
  field: string;
  reference: string | number | undefined;
  ours: string | number | undefined;
}

/** Field-by-field comparison. */
export function compare(reference: Normal, ours: Normal): Difference[] {
  const out: Difference[] = [];
  if (reference.status !== ours.status) out.push({ field: 'status', reference: reference.status, ours: ours.status });
  for (const name of [...new Set([...Object.keys(reference.headers), ...Object.keys(ours.headers)])].sort()) {
    if (reference.headers[name] !== ours.headers[name])
      out.push({ field: `header ${name}`, reference: reference.headers[name], ours: ours.headers[name] });
  }
  if (reference.body !== ours.body) out.push({ field: 'body', reference: reference.body, ours: ours.body });
  return out;
}

/** A paid token of one proxy. */
export interface PaidToken {
  /** Standard base64, as the challenge carried it. */
  macaroon: string;
  preimage: string;
}

/** What a case may use of a proxy. */
export interface Target {
  proxy: Proxy;
  /** A paid token of the `api` service. */
  token: PaidToken;
  /** A paid token of the `quotes` (gRPC) service. */
  grpcToken: PaidToken;
}

/** One request of the matrix. */
export interface Case {
  name: string;
  /** Sends it (one or more requests; the last answer is compared unless `all`). */
  run(target: Target): Promise<Shot[]>;
}

const get =
  (path: string, headers: string[] = [], extra: { method?: string; localAddress?: string } = {}) =>
  (t: Target) =>
    send(t.proxy.url, { path, headers, ...extra }).then((s) => [s]);
const auth =
  (value: (t: Target) => string, path = '/api/paid') =>
  (t: Target) =>
    send(t.proxy.url, { path, headers: ['Authorization', value(t)] }).then((s) => [s]);
const toUrlSafe = (b64: string): string => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const withPreimageCaveat = (t: Target): string =>
  Macaroon.fromBase64(t.token.macaroon).withFirstPartyCaveat(`preimage=${t.token.preimage}`).toHex();

/** The REST matrix. */
export const restCases: Case[] = [
  { name: 'no credential: 402 challenge', run: get('/api/x') },
  { name: 'no credential, HEAD', run: get('/api/x', [], { method: 'HEAD' }) },
  { name: 'no credential, POST', run: get('/api/x', [], { method: 'POST' }) },
  {
    name: 'CORS preflight',
    run: get(
      '/api/x',
      ['Origin', 'https://app.example', 'Access-Control-Request-Method', 'GET', 'Access-Control-Request-Headers', 'authorization'],
      { method: 'OPTIONS' },
    ),
  },
  { name: 'whitelisted path: forwarded without a credential', run: get('/api/open/thing') },
  { name: 'skip-invoice path without a credential: 401', run: get('/api/skip/stream') },
  { name: 'no service matches', run: get('/nowhere') },
  { name: 'blocklisted client: 403', run: get('/api/x', [], { localAddress: '127.0.0.2' }) },
  {
    name: 'freebies: two free requests, then 402',
    run: async (t) => [
      await send(t.proxy.url, { path: '/freebie/1' }),
      await send(t.proxy.url, { path: '/freebie/2' }),
      await send(t.proxy.url, { path: '/freebie/3' }),
    ],
  },
  {
    name: 'rate limit: the second request within the window is 429',
    run: async (t) => [await send(t.proxy.url, { path: '/limited/a' }), await send(t.proxy.url, { path: '/limited/b' })],
  },
  { name: 'L402 <macaroon>:<preimage>', run: auth((t) => `L402 ${t.token.macaroon}:${t.token.preimage}`) },
  { name: 'LSAT <macaroon>:<preimage>', run: auth((t) => `LSAT ${t.token.macaroon}:${t.token.preimage}`) },
  { name: 'scheme in lower case', run: auth((t) => `l402 ${t.token.macaroon}:${t.token.preimage}`) },
  { name: 'preimage in upper case', run: auth((t) => `L402 ${t.token.macaroon}:${t.token.preimage.toUpperCase()}`) },
  { name: 'macaroon in URL-safe base64 without padding', run: auth((t) => `L402 ${toUrlSafe(t.token.macaroon)}:${t.token.preimage}`) },
  { name: 'two spaces after the scheme', run: auth((t) => `L402  ${t.token.macaroon}:${t.token.preimage}`) },
  {
    name: 'Macaroon header (hex, preimage caveat)',
    run: (t) => send(t.proxy.url, { path: '/api/paid', headers: ['Macaroon', withPreimageCaveat(t)] }).then((s) => [s]),
  },
  {
    name: 'Grpc-Metadata-Macaroon header',
    run: (t) => send(t.proxy.url, { path: '/api/paid', headers: ['Grpc-Metadata-Macaroon', withPreimageCaveat(t)] }).then((s) => [s]),
  },
  {
    name: 'the same credential twice (LSAT then L402)',
    run: (t) =>
      send(t.proxy.url, {
        path: '/api/paid',
        headers: [
          'Authorization',
          `LSAT ${t.token.macaroon}:${t.token.preimage}`,
          'Authorization',
          `L402 ${t.token.macaroon}:${t.token.preimage}`,
        ],
      }).then((s) => [s]),
  },
  {
    name: 'two different credentials',
    run: (t) =>
      send(t.proxy.url, {
        path: '/api/paid',
        headers: [
          'Authorization',
          `L402 ${t.token.macaroon}:${t.token.preimage}`,
          'Authorization',
          `L402 ${t.token.macaroon}:${'0'.repeat(64)}`,
        ],
      }).then((s) => [s]),
  },
  { name: 'wrong preimage', run: auth((t) => `L402 ${t.token.macaroon}:${'0'.repeat(64)}`) },
  { name: 'preimage not hex', run: auth((t) => `L402 ${t.token.macaroon}:${'z'.repeat(64)}`) },
  { name: 'preimage too short', run: auth((t) => `L402 ${t.token.macaroon}:abcd`) },
  { name: 'macaroon not base64', run: auth((t) => `L402 !!!!:${t.token.preimage}`) },
  { name: 'no colon', run: auth((t) => `L402 ${t.token.macaroon}`) },
  { name: 'unknown scheme', run: auth((t) => `Bearer ${t.token.macaroon}`) },
  {
    name: 'macaroon with a caveat added by the client',
    run: auth(
      (t) =>
        `L402 ${Buffer.from(Macaroon.fromBase64(t.token.macaroon).withFirstPartyCaveat('services=api:0').toBinary()).toString('base64')}:${t.token.preimage}`,
    ),
  },
  {
    name: 'token of the api service on another service',
    run: auth((t) => `L402 ${t.token.macaroon}:${t.token.preimage}`, '/limited/paid'),
  },
  { name: 'paid token on a whitelisted path', run: auth((t) => `L402 ${t.token.macaroon}:${t.token.preimage}`, '/api/open/x') },
];

/** Checks that a challenge's invoice is a real one of `payee` for `sats`. */
export function invoiceOf(shot: Shot): { amountMsat: bigint; payee: string } | undefined {
  const header = shot.headers['www-authenticate'];
  const text = Array.isArray(header) ? header.join('\n') : (header ?? '');
  const m = /invoice="([^"]+)"/.exec(text);
  if (m?.[1] === undefined) return undefined;
  const decoded = decodeInvoice(m[1]);
  return { amountMsat: decoded.amountMsat, payee: decoded.payee };
}

const PROTO = `
syntax = "proto3";
package demo;
service Quotes {
  rpc Get (Ask) returns (Quote);
  rpc Limited (Ask) returns (Quote);
  rpc Skip (Ask) returns (Quote);
}
message Ask { string symbol = 1; }
message Quote { string symbol = 1; int64 price = 2; }
`;

/** The gRPC service of the backend and the clients. */
export const Quotes = (() => {
  const root = protobuf.parse(PROTO, { keepCase: true }).root;
  const pkg = grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String })) as unknown as {
    demo: { Quotes: grpc.ServiceClientConstructor };
  };
  return pkg.demo.Quotes;
})();

/** A gRPC outcome as compared. */
export interface GrpcNormal {
  code: number;
  details: string;
  /** Trailer and header metadata, token values as placeholders. */
  metadata: Record<string, string>;
}

/** Calls a unary method and reduces the outcome. */
export function grpcCall(
  proxy: Proxy,
  method: 'Get' | 'Limited' | 'Skip',
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<GrpcNormal> {
  const client = new Quotes(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>;
  return new Promise((resolve) => {
    const collected: Record<string, string> = {};
    const keep = (md: grpc.Metadata): void => {
      for (const [k, v] of Object.entries(md.getMap())) {
        if (k === 'date' || k === 'content-type' || k === 'content-length' || k === 'grpc-accept-encoding') continue;
        const values = md.get(k).map((x) => placeholders(String(x)));
        collected[k] = values.join(' | ');
        void v;
      }
    };
    const call = client[method]?.(
      { symbol: 'BTC' },
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: grpc.ServiceError | null, reply?: { price: string }) => {
        client.close();
        if (error !== null) {
          keep(error.metadata);
          resolve({ code: error.code, details: error.details, metadata: collected });
        } else resolve({ code: 0, details: `price ${reply?.price ?? ''}`, metadata: collected });
      },
    );
    call?.on('metadata', keep);
  });
}
