// Child process of sqlite-multiprocess.test.ts: opens the SQLite store at
// argv[2], prints "ready", waits for a line on stdin, then runs the job in
// argv[3] and prints its results as one JSON line. Each round consumes a
// charge, debits the shared session and credits a payment hash; the other
// process walks the same hashes in the opposite order, so they meet.
import { once } from 'node:events';
import { SqliteStore } from '../../src/store/index.js';

interface Job {
  hashes: string[];
  reverse: boolean;
  debitSessionId: string;
  creditSessionId: string;
  debitSats: number;
}

const store = new SqliteStore({ path: process.argv[2] ?? '', revocationPollMs: 0, busyTimeoutMs: 30_000 });
const job = JSON.parse(process.argv[3] ?? '{}') as Job;
const hashes = job.reverse ? [...job.hashes].reverse() : job.hashes;
process.stdout.write('ready\n');
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');

// Between rounds, give the other process a moment at the write lock: SQLite's
// busy handler backs off, so without it one process tends to do every write
// before the other gets its first.
const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

const consumed: string[] = [];
let debited = 0;
const credits: Record<string, number> = {};
for (const h of hashes) {
  if ((await store.consumeCharge(h)) !== undefined) consumed.push(h);
  if ((await store.debitSession(job.debitSessionId, job.debitSats)) !== undefined) debited += 1;
  const outcome = await store.creditSession(job.creditSessionId, h, 1);
  credits[outcome] = (credits[outcome] ?? 0) + 1;
  await pause();
}
await store.close();
process.stdout.write(`${JSON.stringify({ consumed, debited, credits })}\n`);
process.stdin.destroy();
