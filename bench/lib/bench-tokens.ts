// Valid L402 tokens for the load tests, minted directly against a secret
// store (the one the server under test verifies with). The invoices are fake:
// the bench keeps each preimage, as if the client had paid.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { formatAuthorization } from '../../src/core/credentials.js';
import { sha256, toHex } from '../../src/core/bytes.js';
import { Minter } from '../../src/core/minter.js';
import type { Invoice, Invoicer, SecretStore } from '../../src/core/types.js';

/** An in-memory invoicer that remembers the preimage of every invoice it creates. */
export class BenchInvoicer implements Invoicer {
  readonly preimages = new Map<string, string>();
  createInvoice(req: { amountSats: number }): Promise<Invoice> {
    const preimage = randomBytes(32);
    const paymentHash = toHex(sha256(preimage));
    this.preimages.set(paymentHash, toHex(preimage));
    return Promise.resolve({
      paymentRequest: `lnbcrt${req.amountSats}n1bench`,
      paymentHash,
      amountSats: req.amountSats,
      expiresAt: Date.now() + 3_600_000,
    });
  }
  lookupInvoice(paymentHash: string): Promise<{ paymentHash: string; state: 'settled' }> {
    return Promise.resolve({ paymentHash, state: 'settled' });
  }
  onSettled(): () => void {
    return () => undefined;
  }
  health(): { ok: boolean; since: number } {
    return { ok: true, since: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Mints `count` distinct paid tokens for `service` (one or several) and returns their
 * `Authorization` header values (`L402 <macaroon>:<preimage>`).
 */
export async function mintAuthorizations(secrets: SecretStore, service: string | readonly string[], count: number): Promise<string[]> {
  const services = (typeof service === 'string' ? [service] : service).map((name) => ({ name, tier: 0 }));
  const invoicer = new BenchInvoicer();
  const minter = new Minter({ invoicer, secrets });
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const token = await minter.mint({ services, priceSats: 10 });
    out.push(formatAuthorization(token.macaroonBase64, invoicer.preimages.get(token.paymentHash) as string));
    invoicer.preimages.delete(token.paymentHash);
  }
  return out;
}

/** Writes header values one per line, for the load generator. */
export function writeTokenFile(path: string, authorizations: readonly string[]): void {
  writeFileSync(path, `${authorizations.join('\n')}\n`);
}

/**
 * Mints `count` tokens whose root keys go into the SQLite database an
 * `aperture` will open (`path`). The store writes each key with its own
 * fsync'd transaction (0.2 ms here), so 100,000 keys are collected in memory
 * and inserted in one transaction into the store's `root_keys` table; one key
 * is then read back through `SqliteStore.getSecret` so that a schema change
 * fails loudly instead of producing tokens the proxy rejects.
 */
export async function mintIntoSqlite(path: string, service: string | readonly string[], count: number): Promise<string[]> {
  const { SqliteStore } = await import('../../src/store/sqlite-store.js');
  const { default: Database } = await import('better-sqlite3');
  new SqliteStore({ path, revocationPollMs: 0 }).close(); // creates the file and the schema
  const keys: [Uint8Array, Uint8Array][] = [];
  const collecting: SecretStore = {
    newSecret(idHash) {
      const key = new Uint8Array(randomBytes(32));
      keys.push([idHash, key]);
      return Promise.resolve(key);
    },
    getSecret: () => undefined,
    revokeSecret: () => Promise.resolve(false),
  };
  const authorizations = await mintAuthorizations(collecting, service, count);
  const db = new Database(path);
  const insert = db.prepare('INSERT INTO root_keys (id_hash, root_key, created_at) VALUES (?, ?, ?)');
  const now = Date.now();
  db.transaction(() => {
    for (const [idHash, key] of keys) insert.run(Buffer.from(idHash), Buffer.from(key), now);
  })();
  db.close();
  const check = new SqliteStore({ path, revocationPollMs: 0 });
  const first = keys[0];
  const stored = first === undefined ? undefined : check.getSecret(first[0]);
  await check.close();
  if (first !== undefined && (stored === undefined || Buffer.compare(Buffer.from(stored), Buffer.from(first[1])) !== 0)) {
    throw new Error('bench: root keys written to SQLite do not read back through SqliteStore (schema changed?)');
  }
  return authorizations;
}

/**
 * Copies every root key of an aperture-ts SQLite file (`root_keys`) into the
 * `secrets` table of a database the reference aperture created (same key:
 * sha256 of the macaroon identifier), so that the tokens of `mintIntoSqlite`
 * are valid for the reference too. The reference has its schema in place once
 * it listens; it reads `secrets` per request, so rows added while it runs count.
 * @returns the number of keys copied
 */
export async function copyRootKeysToGoSecrets(ourPath: string, goPath: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(goPath);
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('ATTACH DATABASE ? AS ours').run(ourPath);
    const copied = db
      .prepare("INSERT INTO secrets (hash, secret, created_at) SELECT id_hash, root_key, datetime('now') FROM ours.root_keys")
      .run().changes;
    db.prepare('DETACH DATABASE ours').run();
    return copied;
  } finally {
    db.close();
  }
}
