// Helpers of the program tests: `startAperture` with the admin API on a store of each
// kind (memory injected, SQLite file, PostgreSQL schema of its own), an upstream that
// echoes, and the admin clients of test/admin/support.ts pointed at the program.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startAperture, type RunningAperture, type StartApertureOptions } from '../../src/app/start-aperture.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { h1, startBackend } from '../proxy/support.js';
import {
  grpcClient,
  PG_URL,
  rest1,
  type AdminGrpcClient,
  type AdminServer,
  type RestAnswer,
  type RestRequest,
  type StoreKind,
} from '../admin/support.js';
import { challengeOf, configFrom, quiet, wwwAuthenticate } from '../e2e/support.js';

export { postgresSkipReason, type StoreKind } from '../admin/support.js';

/** An upstream answering `<name> <path>` for every request, `name` from the `x-svc` header set by the service. */
export async function echoBackend(): Promise<Awaited<ReturnType<typeof startBackend>>> {
  return startBackend((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${String(req.headers['x-svc'] ?? '-')} ${req.url ?? ''}`);
  });
}

/** A fresh PostgreSQL schema name; {@link dropSchema} removes it. */
export function schemaName(): string {
  return `aperture_program_test_${randomBytes(5).toString('hex')}`;
}

/** Drops a schema made by a test. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** The database part of the YAML for a store kind. */
export function storeYaml(kind: StoreKind, dir: string): string {
  if (kind === 'sqlite') return `dbbackend: sqlite\nsqlite:\n  dbfile: ${join(dir, 'aperture.db')}\n`;
  if (kind === 'postgres') return 'dbbackend: postgres\npostgres:\n  host: 127.0.0.1\n  port: 5432\n  user: postgres\n  dbname: test\n';
  return '';
}

export interface Program {
  aperture: RunningAperture;
  /** What the admin clients of test/admin/support.ts need. */
  target: AdminServer;
  macaroonHex: string;
  grpc: AdminGrpcClient;
  rest(path: string, request?: RestRequest): Promise<RestAnswer>;
  close(): Promise<void>;
}

export interface ProgramOptions {
  kind: StoreKind;
  dir: string;
  /** The YAML after the database part: services, admin settings, … (listenaddr, insecure and the dev backend are set). */
  yaml: string;
  /** PostgreSQL schema (required for `postgres`). */
  schema?: string;
  /** A memory store to share (default: a fresh one). */
  memory?: MemoryStore;
  tls?: boolean;
  options?: StartApertureOptions;
}

/** `startAperture` with `admin.enabled` on 127.0.0.1, the dev backend, and admin clients. */
export async function startProgram(o: ProgramOptions): Promise<Program> {
  const config = configFrom(
    `listenaddr: 127.0.0.1:0
insecure: ${o.tls === true ? 'false' : 'true'}
authenticator:
  backend: dev
${storeYaml(o.kind, o.dir)}${o.yaml}`,
    o.dir,
  );
  const aperture = await startAperture(config, {
    logger: quiet,
    gcIntervalMs: 0,
    defaultMetrics: false,
    ...(o.kind === 'memory' ? { store: o.memory ?? new MemoryStore() } : {}),
    ...(o.schema === undefined ? {} : { postgresSchema: o.schema }),
    ...o.options,
  });
  const cert = o.tls === true ? readFileSync(join(o.dir, 'tls.cert'), 'utf8') : undefined;
  const target = {
    port: aperture.addresses.proxy.port,
    origin: `${o.tls === true ? 'https' : 'http'}://127.0.0.1:${aperture.addresses.proxy.port}`,
    cert,
  } as AdminServer;
  const grpc = grpcClient(target);
  return {
    aperture,
    target,
    macaroonHex: readFileSync(config.admin.macaroonPath).toString('hex'),
    grpc,
    rest: (path, request) => rest1(target, path, request),
    async close() {
      grpc.close();
      await aperture.close();
      if (o.kind === 'memory' && o.memory === undefined) await aperture.store.close();
    },
  };
}

/** Gets a challenge for `path` and pays it through the program's `/api/dev/pay` (answered once the settlement is in the ledger); `ca` for a TLS listener. */
export async function payFor(url: string, path: string, ca?: string): Promise<{ authorization: string; paymentHash: string }> {
  const tls = ca === undefined ? {} : { ca };
  const res = await h1(`${url}${path}`, tls);
  assert.equal(res.status, 402, `expected a challenge for ${path}, got ${res.status} ${res.body}`);
  const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
  const paid = await h1(`${url}/api/dev/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ invoice }),
    ...tls,
  });
  assert.equal(paid.status, 200, paid.body);
  const body = JSON.parse(paid.body) as { preimage: string; payment_hash: string };
  return { authorization: `L402 ${macaroon}:${body.preimage}`, paymentHash: body.payment_hash };
}

/**
 * Waits until `check` holds, asking again on each turn of the event loop after
 * `everyMs`; fails naming `what` after `withinMs`. For changes that cross
 * processes or a poll interval, where there is no event to wait on.
 */
export async function eventually(what: string, check: () => Promise<boolean>, withinMs = 15_000, everyMs = 50): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) assert.fail(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
