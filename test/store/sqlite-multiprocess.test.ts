// SqliteStore across processes: two child processes on one file consume the
// same charges, debit the same session and credit the same payment hashes at
// the same time. Each hash is consumed once and credited once overall, and the
// session is never overdrawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteStore } from '../../src/store/index.js';

interface Result {
  consumed: string[];
  debited: number;
  credits: Record<string, number>;
}

function lines(stdout: Readable): AsyncGenerator<string> {
  stdout.setEncoding('utf8');
  let buffered = '';
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    queue.push(...parts);
    wake?.();
  });
  stdout.on('end', () => {
    ended = true;
    wake?.();
  });
  return (async function* () {
    for (;;) {
      if (queue.length > 0) {
        yield queue.shift() as string;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
}

test('two processes on one file: each charge consumed once, each credit applied once, no overdraft', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-sqlite-race-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'race.db');
  const setup = new SqliteStore({ path, revocationPollMs: 0 });
  const deposit = randomBytes(32).toString('hex');
  assert.equal(await setup.openSession({ id: 'shared', paymentHash: deposit, depositSats: 1000, returnInvoice: 'lnbcrt1' }), 'opened');
  assert.equal(
    await setup.openSession({ id: 'credited', paymentHash: randomBytes(32).toString('hex'), depositSats: 0, returnInvoice: 'lnbcrt1' }),
    'opened',
  );
  await setup.close();

  // 150 rounds in each process: 300 debits of 7 sats on a deposit of 1000 run it dry.
  const hashes = Array.from({ length: 150 }, () => randomBytes(32).toString('hex'));
  const children = [false, true].map((reverse) => {
    const job = JSON.stringify({ hashes, reverse, debitSessionId: 'shared', creditSessionId: 'credited', debitSats: 7 });
    return spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sqlite-race-child.ts'), path, job], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
  });
  t.after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const outputs = children.map((c) => lines(c.stdout));
  for (const out of outputs) assert.equal((await out.next()).value, 'ready');
  for (const c of children) c.stdin.write('go\n');
  const results: Result[] = [];
  for (const out of outputs) results.push(JSON.parse((await out.next()).value as string) as Result);

  const consumed = results.flatMap((r) => r.consumed);
  t.diagnostic(
    `charges consumed per process: ${results.map((r) => r.consumed.length).join(' / ')}; debits: ${results.map((r) => r.debited).join(' / ')}`,
  );
  assert.equal(consumed.length, hashes.length, 'every hash consumed by exactly one process');
  assert.equal(new Set(consumed).size, hashes.length);
  assert.equal(results[0]!.debited + results[1]!.debited, Math.floor(1000 / 7), 'debits stop exactly when the balance runs out');
  const applied = (results[0]!.credits['applied'] ?? 0) + (results[1]!.credits['applied'] ?? 0);
  const replayed = (results[0]!.credits['replayed'] ?? 0) + (results[1]!.credits['replayed'] ?? 0);
  assert.deepEqual([applied, replayed], [hashes.length, hashes.length], 'each credit applied once, the other presentation a replay');

  const check = new SqliteStore({ path, revocationPollMs: 0 });
  const debitedSession = await check.getSession('shared');
  const creditedSession = await check.getSession('credited');
  await check.close();
  assert.deepEqual(debitedSession && [debitedSession.spentSats, debitedSession.balanceSats], [7 * 142, 1000 - 7 * 142]);
  assert.equal(creditedSession?.depositSats, hashes.length);
});
