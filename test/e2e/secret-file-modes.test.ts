// Files holding root keys and other secrets are private: the base directory 0700, the SQLite
// database and its -wal/-shm files, the TLS key and the dev node key 0600, whatever the umask;
// an existing database open to others is reported at start-up (by path, with its mode) and left alone.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAperture } from '../../src/app/start-aperture.js';
import { createLogger } from '../../src/proxy/ops/logger.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { h1, startBackend } from '../proxy/support.js';
import { configFrom, quiet, tempBaseDir } from './support.js';

const modeOf = (path: string): number => statSync(path).mode & 0o777;

function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

function yaml(address: string): string {
  return `
listenaddr: 127.0.0.1:0
authenticator:
  backend: dev
services:
  - name: api
    pathregexp: '^/api'
    address: ${address}
    price: 5
`;
}

test(
  'startAperture with SQLite, TLS and the dev backend under umask 022: base dir 0700, db, -wal, -shm and keys 0600',
  { skip: process.platform === 'win32' },
  async () => {
    const root = tempBaseDir();
    const baseDir = join(root, 'nested', 'aperture');
    const backend = await startBackend((_req, res) => res.end('ok'));
    const previous = process.umask(0o022);
    try {
      const aperture = await startAperture(configFrom(yaml(backend.address), baseDir), {
        logger: quiet,
        gcIntervalMs: 0,
        defaultMetrics: false,
      });
      try {
        // A challenge writes a root key and a ledger row: the WAL is in use.
        const res = await h1(`${aperture.url}/api/x`, { ca: readFileSync(join(baseDir, 'tls.cert'), 'utf8') });
        assert.equal(res.status, 402);
        const db = join(baseDir, 'aperture.db');
        assert.equal(modeOf(baseDir), 0o700, 'base directory');
        for (const file of [db, `${db}-wal`, `${db}-shm`, join(baseDir, 'tls.key'), join(baseDir, 'dev-node.key')]) {
          assert.ok(existsSync(file), `${file} exists`);
          assert.equal(modeOf(file), 0o600, file);
        }
        assert.equal(modeOf(join(baseDir, 'tls.cert')) & 0o077, 0o044, 'the certificate is public');
      } finally {
        await aperture.close();
      }
    } finally {
      process.umask(previous);
      await backend.close();
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test(
  'a pre-existing 0644 aperture.db (and a 0755 base dir) is reported at start-up by path and mode, and left as it is',
  { skip: process.platform === 'win32' },
  async () => {
    const baseDir = tempBaseDir();
    const backend = await startBackend((_req, res) => res.end('ok'));
    try {
      const config = configFrom(`${yaml(backend.address)}\ninsecure: true\n`, baseDir);
      // A first run creates the files; then they are opened up, as an older version or a copy would leave them.
      await (await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false })).close();
      const db = join(baseDir, 'aperture.db');
      chmodSync(db, 0o644);
      chmodSync(baseDir, 0o755);
      const { logger, lines } = collectingLogger();
      const aperture = await startAperture(config, { logger, gcIntervalMs: 0, defaultMetrics: false });
      await aperture.close();
      const warnings = lines.filter((l) => l['level'] === 40 && typeof l['path'] === 'string');
      const forDb = warnings.find((l) => l['path'] === db);
      assert.ok(forDb !== undefined, JSON.stringify(lines));
      assert.equal(forDb['mode'], '0644');
      assert.match(String(forDb['msg']), new RegExp(`${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds secrets .*mode 0644.*chmod 600`));
      const forDir = warnings.find((l) => l['path'] === baseDir);
      assert.equal(forDir?.['mode'], '0755');
      assert.equal(warnings.length, 2, 'the dev node key (0600) is not reported');
      // Reported, not changed: the operator decides.
      assert.equal(modeOf(db), 0o644);
      assert.equal(modeOf(baseDir), 0o755);
    } finally {
      await backend.close();
      rmSync(baseDir, { recursive: true, force: true });
    }
  },
);

test(
  'SqliteStore alone: a new database file and the directory it creates are private',
  { skip: process.platform === 'win32' },
  async () => {
    const root = tempBaseDir();
    const previous = process.umask(0o022);
    try {
      mkdirSync(join(root, 'a'));
      const store = new SqliteStore({ path: join(root, 'a', 'b', 'keys.db'), revocationPollMs: 0 });
      await store.newSecret(new Uint8Array(32));
      assert.equal(modeOf(join(root, 'a', 'b')), 0o700);
      assert.equal(modeOf(join(root, 'a', 'b', 'keys.db')), 0o600);
      assert.equal(modeOf(join(root, 'a', 'b', 'keys.db-wal')), 0o600);
      await store.close();
    } finally {
      process.umask(previous);
      rmSync(root, { recursive: true, force: true });
    }
  },
);
