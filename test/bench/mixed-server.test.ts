// The server of `proxy-mixed-fixed-rate`: one aperture in which `/free…` is
// not charged and every other path is, so that the bench's interleaved paid
// and free requests really take the two paths it compares.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mintIntoSqlite } from '../../bench/lib/bench-tokens.js';
import { spawnChild } from '../../bench/lib/processes.js';
import { MIXED_FREE_PATH, MIXED_PAID_PATH } from '../../bench/lib/scenarios.js';

test(
  'aperture-server in mixed mode: the free path passes without a token, the paid path asks for one and accepts a valid one',
  { timeout: 60_000 },
  async () => {
    const backend = createServer((_req, res) => res.end('{"ok":true}'));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const baseDir = mkdtempSync(join(tmpdir(), 'bench-mixed-'));
    const [token] = await mintIntoSqlite(join(baseDir, 'aperture.db'), 'bench', 1);
    const server = spawnChild('servers/aperture-server.ts', { baseDir, auth: 'mixed', httpPort: (backend.address() as AddressInfo).port });
    try {
      const { port } = await server.message('ready', 30_000);
      const base = `http://127.0.0.1:${String(port)}`;
      assert.equal((await fetch(`${base}${MIXED_FREE_PATH}`)).status, 200);
      assert.equal((await fetch(`${base}${MIXED_PAID_PATH}`)).status, 402);
      assert.equal((await fetch(`${base}${MIXED_PAID_PATH}`, { headers: { authorization: token as string } })).status, 200);
      assert.equal((await fetch(`${base}${MIXED_FREE_PATH}`, { headers: { authorization: token as string } })).status, 200);
    } finally {
      await server.stop();
      backend.close();
      rmSync(baseDir, { recursive: true, force: true });
    }
  },
);
