// Shared helpers of the admin API tests: a store of each kind, a backend built from
// it with a recorder of applied services, the API on a real listener (ProxyServer:
// HTTP/1.1 + h2c, or TLS with ALPN), a grpc-js client generated from the proto text,
// and REST over HTTP/1.1 (undici) and HTTP/2.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import pg from 'pg';
import { Agent, fetch as undiciFetch } from 'undici';
import { AdminApi, type AdminApiOptions, type AdminCallEvent } from '../../src/admin/admin-api.js';
import type { AdminBackend, AdminInfo } from '../../src/admin/admin-backend.js';
import { ensureAdminCredentials } from '../../src/admin/admin-macaroon.js';
import { ADMIN_PROTO, STRUCT_PROTO } from '../../src/admin/admin-proto.js';
import type { ServiceConfig } from '../../src/proxy/config/aperture-config.js';
import { checkConfig } from '../../src/proxy/config/check-config.js';
import { ProxyServer } from '../../src/proxy/server/proxy-server.js';
import type { Clock } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ApertureStore } from '../../src/store/aperture-store.js';

export type StoreKind = 'memory' | 'sqlite' | 'postgres';

export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Whether PostgreSQL answers (CI must have it); the reason to skip otherwise. */
export async function postgresSkipReason(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return undefined;
  } catch (error) {
    if (process.env['CI']) throw new Error(`PostgreSQL must be reachable under CI: ${(error as Error).message}`);
    return `PostgreSQL unreachable at ${PG_URL}: ${(error as Error).message}`;
  }
}

/**
 * A fresh store of a kind; `reopen` opens another instance on the same database
 * (what a restarted program sees; undefined for memory), `cleanup` closes the
 * first and drops what it made.
 */
export async function openTestStore(
  kind: StoreKind,
  dir: string,
  clock?: Clock,
): Promise<{ store: ApertureStore; reopen: (() => Promise<ApertureStore>) | undefined; cleanup: () => Promise<void> }> {
  const withClock = clock === undefined ? {} : { clock };
  if (kind === 'memory') {
    const store = new MemoryStore(withClock);
    return { store, reopen: undefined, cleanup: () => store.close() };
  }
  if (kind === 'sqlite') {
    const open = (): SqliteStore => new SqliteStore({ path: join(dir, 'aperture.db'), revocationPollMs: 0, ...withClock });
    const store = open();
    return { store, reopen: async () => open(), cleanup: () => store.close() };
  }
  const schema = `aperture_admin_test_${randomBytes(5).toString('hex')}`;
  const open = (): Promise<PostgresStore> => PostgresStore.open({ connectionString: PG_URL, schema, maxconnections: 3, ...withClock });
  const store = await open();
  return {
    store,
    reopen: open,
    cleanup: async () => {
      await store.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

/** The environment the test configuration is resolved with (the program's, for entries too). */
export const TEST_ENV = { UPSTREAM_KEY: 'from-env' };

/** The services of an aperture.yaml text (`services:` list only), validated as the program does. */
export function configServices(servicesYaml: string, dir: string): ServiceConfig[] {
  const report = checkConfig({
    text: `listenaddr: 127.0.0.1:8081\ninsecure: true\nauthenticator:\n  disable: true\n${servicesYaml}`,
    env: { HOME: dir, ...TEST_ENV },
    cwd: dir,
    home: dir,
    baseDir: dir,
  });
  if (!report.ok || report.config === undefined) throw new Error(`test config invalid: ${JSON.stringify(report.issues)}`);
  return report.config.services;
}

/** An AdminBackend from a real store: services applied are recorded. */
export class RecordingBackend implements AdminBackend {
  readonly applied: ServiceConfig[][] = [];
  readonly ledger: ApertureStore;
  readonly registry: ApertureStore;
  healthy = true;
  failApply = false;
  readonly entryOptions: AdminBackend['entryOptions'];

  constructor(
    readonly store: ApertureStore,
    private readonly fromConfig: ServiceConfig[],
    dir: string,
    readonly infoValue: AdminInfo,
  ) {
    this.ledger = store;
    this.registry = store;
    this.entryOptions = { context: { env: { HOME: dir, ...TEST_ENV }, cwd: dir, home: dir } };
  }

  info(): AdminInfo {
    return this.infoValue;
  }

  async health(): Promise<{ ok: boolean }> {
    return { ok: this.healthy && (await this.store.health()).ok };
  }

  configServices(): readonly ServiceConfig[] {
    return this.fromConfig;
  }

  async applyServices(services: readonly ServiceConfig[]): Promise<void> {
    if (this.failApply) throw new Error('router refused');
    this.applied.push([...services]);
  }

  /** Names of the last applied set, in route order. */
  lastApplied(): string[] {
    return (this.applied[this.applied.length - 1] ?? []).map((s) => s.name);
  }
}

export interface AdminServer {
  dir: string;
  port: number;
  origin: string;
  api: AdminApi;
  backend: RecordingBackend;
  store: ApertureStore;
  rootKey: Uint8Array;
  /** Another store instance on the same database (a restart); undefined for memory. The caller closes it. */
  reopen: (() => Promise<ApertureStore>) | undefined;
  /** The configuration file's services. */
  services: ServiceConfig[];
  /** Hex of the admin macaroon file written at start. */
  macaroonHex: string;
  macaroonPath: string;
  /** The self-signed certificate (TLS servers). */
  cert: string | undefined;
  events: AdminCallEvent[];
  close(): Promise<void>;
}

export interface StartOptions {
  kind: StoreKind;
  tls?: boolean;
  servicesYaml?: string;
  api?: Partial<AdminApiOptions>;
  clock?: Clock;
}

export const INFO: AdminInfo = {
  network: 'regtest',
  listenAddr: '127.0.0.1:8081',
  insecure: true,
  mppEnabled: false,
  sessionsEnabled: false,
  mppRealm: '',
};

/** The API on a real listener, answering 404 for anything else. */
export async function startAdminServer(options: StartOptions): Promise<AdminServer> {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-admin-'));
  let services: ServiceConfig[];
  try {
    services = configServices(options.servicesYaml ?? 'services: []\n', dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { store, reopen, cleanup } = await openTestStore(options.kind, dir, options.clock);
  const backend = new RecordingBackend(store, services, dir, INFO);
  const macaroonPath = join(dir, 'admin.macaroon');
  const creds = ensureAdminCredentials({ macaroonPath });
  const events: AdminCallEvent[] = [];
  const api = new AdminApi({
    backend,
    rootKey: creds.rootKey,
    onCall: (e) => events.push(e),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...options.api,
  });
  const server = new ProxyServer({
    handler: {
      handleRequest(req, res) {
        if (api.handleRequest(req, res)) return;
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not admin\n');
      },
      handleUpgrade(_req, socket) {
        socket.destroy();
      },
    },
    listenAddr: '127.0.0.1:0',
    insecure: options.tls !== true,
    baseDir: dir,
  });
  const address = await server.listen();
  const cert = options.tls === true ? readFileSync(join(dir, 'tls.cert'), 'utf8') : undefined;
  return {
    dir,
    port: address.port,
    origin: `${options.tls === true ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    api,
    backend,
    store,
    rootKey: creds.rootKey,
    reopen,
    services,
    macaroonHex: readFileSync(macaroonPath).toString('hex'),
    macaroonPath,
    cert,
    events,
    async close() {
      await server.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- gRPC client

/** Our proto text with the extension fields (numbers ≥ 100) taken out: what the reference's admin.proto has. */
export const REFERENCE_PROTO = ADMIN_PROTO.split('\n')
  .filter(
    (line) => !/= 1\d\d;/.test(line) && !line.includes('import "google/protobuf/struct.proto"') && !line.trim().startsWith('// Extension'),
  )
  .join('\n');

type UnaryFn = (
  request: object,
  metadata: grpc.Metadata,
  callback: (error: grpc.ServiceError | null, response: Record<string, unknown>) => void,
) => void;

export interface AdminGrpcClient {
  call(method: string, request: object, macaroonHex?: string): Promise<Record<string, unknown>>;
  close(): void;
}

/** A grpc-js client of adminrpc.Admin generated with proto-loader from proto text. */
export function grpcClient(server: AdminServer, proto: 'ours' | 'reference' = 'ours'): AdminGrpcClient {
  const root = new protobuf.Root();
  if (proto === 'ours') protobuf.parse(STRUCT_PROTO, root, { keepCase: true });
  protobuf.parse(proto === 'ours' ? ADMIN_PROTO : REFERENCE_PROTO, root, { keepCase: true });
  root.resolveAll();
  const definition = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { adminrpc: { Admin: grpc.ServiceClientConstructor } };
  const credentials = server.cert === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(server.cert));
  const client = new loaded.adminrpc.Admin(`127.0.0.1:${server.port}`, credentials);
  return {
    call(method, request, macaroonHex) {
      const metadata = new grpc.Metadata();
      if (macaroonHex !== undefined) metadata.set('macaroon', macaroonHex);
      return new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, UnaryFn>)[method];
        if (fn === undefined) {
          reject(new Error(`no method ${method}`));
          return;
        }
        fn.call(client, request, metadata, (error, response) => (error === null ? resolve(response) : reject(error)));
      });
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------- REST clients

export interface RestAnswer {
  status: number;
  headers: Record<string, string>;
  json: unknown;
  text: string;
}

export interface RestRequest {
  method?: string;
  body?: unknown;
  macaroon?: string;
  headers?: Record<string, string>;
}

/** REST over HTTP/1.1 (undici). */
export async function rest1(server: AdminServer, path: string, request: RestRequest = {}): Promise<RestAnswer> {
  const dispatcher = new Agent(server.cert === undefined ? {} : { connect: { ca: server.cert } });
  try {
    const headers: Record<string, string> = { ...request.headers };
    if (request.macaroon !== undefined) headers['Grpc-Metadata-Macaroon'] = request.macaroon;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const res = await undiciFetch(`${server.origin}${path}`, {
      method: request.method ?? 'GET',
      headers,
      dispatcher,
      ...(request.body === undefined ? {} : { body: typeof request.body === 'string' ? request.body : JSON.stringify(request.body) }),
    });
    const text = await res.text();
    const out: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      out[key] = value;
    });
    return { status: res.status, headers: out, text, json: text === '' ? undefined : safeJson(text) };
  } finally {
    await dispatcher.close();
  }
}

/** REST over HTTP/2. */
export async function rest2(server: AdminServer, path: string, request: RestRequest = {}): Promise<RestAnswer> {
  const session = http2Connect(server.origin, server.cert === undefined ? {} : { ca: server.cert, servername: 'localhost' });
  try {
    const headers: Record<string, string> = { ':method': request.method ?? 'GET', ':path': path, ...request.headers };
    if (request.macaroon !== undefined) headers['grpc-metadata-macaroon'] = request.macaroon;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const stream = session.request(headers);
    if (request.body !== undefined) stream.end(typeof request.body === 'string' ? request.body : JSON.stringify(request.body));
    else stream.end();
    const response = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(response)) if (!key.startsWith(':') && value !== undefined) out[key] = String(value);
    return { status: Number(response[':status']), headers: out, text, json: text === '' ? undefined : safeJson(text) };
  } finally {
    session.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A 64-hex token ID / payment hash. */
export function hex32(): string {
  return randomBytes(32).toString('hex');
}

/** A google.protobuf.Struct as grpc-js (proto-loader, keepCase) sends it, from plain JSON. */
export function toStruct(json: Record<string, unknown>): unknown {
  const value = (v: unknown): unknown => {
    if (v === null) return { null_value: 'NULL_VALUE' };
    if (typeof v === 'number') return { number_value: v };
    if (typeof v === 'string') return { string_value: v };
    if (typeof v === 'boolean') return { bool_value: v };
    if (Array.isArray(v)) return { list_value: { values: v.map(value) } };
    return { struct_value: toStruct(v as Record<string, unknown>) };
  };
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, value(v)])) };
}

/** Plain JSON from a google.protobuf.Struct as grpc-js decodes it. */
export function fromStruct(struct: unknown): Record<string, unknown> {
  const value = (v: Record<string, unknown>): unknown => {
    switch (v['kind']) {
      case 'null_value':
        return null;
      case 'number_value':
        return v['number_value'];
      case 'string_value':
        return v['string_value'];
      case 'bool_value':
        return v['bool_value'];
      case 'list_value':
        return ((v['list_value'] as { values?: Record<string, unknown>[] }).values ?? []).map(value);
      case 'struct_value':
        return fromStruct(v['struct_value']);
      default:
        return undefined;
    }
  };
  const fields = (struct as { fields?: Record<string, Record<string, unknown>> } | null)?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, value(v)]));
}

/** sha256(0x0000 ‖ payment_hash ‖ token_id): where the store keeps a token's root key. */
export function idHashOf(paymentHash: string, tokenId: string): Uint8Array {
  const identifier = Buffer.concat([Buffer.from([0, 0]), Buffer.from(paymentHash, 'hex'), Buffer.from(tokenId, 'hex')]);
  return new Uint8Array(createHash('sha256').update(identifier).digest());
}

/** A clock the test moves. */
export class TestClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}
