// Child process of sqlite-durability.test.ts: writes root keys and ledger rows
// to the SQLite store at argv[2] as fast as it can, printing each token ID
// after its writes returned (committed), until the parent SIGKILLs it.
import { randomBytes } from 'node:crypto';
import { SqliteStore } from '../../src/store/index.js';

const store = new SqliteStore({ path: process.argv[2] ?? '', revocationPollMs: 0 });
for (;;) {
  const tokenId = randomBytes(32).toString('hex');
  const paymentHash = randomBytes(32).toString('hex');
  const idHash = randomBytes(32);
  const key = await store.newSecret(idHash);
  await store.recordChallenge({
    tokenId,
    paymentHash,
    service: 'burst',
    priceSats: 1,
    authType: 'l402',
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
  });
  // Pipes are written synchronously on Linux, so a printed line is out before the next write starts.
  process.stdout.write(`${tokenId} ${idHash.toString('hex')} ${Buffer.from(key).toString('hex')}\n`);
}
