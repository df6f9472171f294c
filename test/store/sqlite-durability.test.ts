// SQLite durability: a writer killed with SIGKILL in the middle of a burst of
// writes leaves a database that opens, passes integrity_check and holds every
// row whose write had returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/index.js';

test('rows committed before SIGKILL are there after reopening', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-durability-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'aperture.db');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sqlite-burst-child.ts'), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const committed: string[][] = [];
  let buffered = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) committed.push(line.split(' '));
    // Kill mid-burst, with writes still coming.
    if (committed.length >= 500 && !child.killed) child.kill('SIGKILL');
  });
  assert.equal(await exited, 'SIGKILL');
  assert.ok(committed.length >= 500);

  const raw = new Database(path, { readonly: true });
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
  raw.close();
  const store = new SqliteStore({ path, revocationPollMs: 0 });
  t.after(() => store.close());
  for (const [tokenId, idHash, key] of committed) {
    assert.equal(Buffer.from(store.getSecret(Buffer.from(idHash!, 'hex'))!).toString('hex'), key, 'root key survived');
    assert.equal((await store.getTransaction(tokenId!))?.service, 'burst', 'ledger row survived');
  }
  const total = (await store.listTransactions({ limit: 1 })).total;
  assert.ok(total >= committed.length, `${total} rows, ${committed.length} reported`);
});
