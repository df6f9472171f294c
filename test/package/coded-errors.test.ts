// No public function throws a bare Error: every error a user can meet is an
// L402Error with a code of the table. The few plain errors left in src/ are
// listed below, each with why no user can receive it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, L402Error } from '../../src/core/errors.js';
import { readInvoice } from '../../src/client/read-invoice.js';
import { toPayer } from '../../src/client/to-payer.js';
import { SettledInvoiceIndex } from '../../src/lightning/settled-invoice-index.js';
import { heapGrowthPlan } from '../../src/cli/heap-growth.js';

const root = new URL('../../', import.meta.url).pathname;

/** `new Error(`, `new TypeError(`, `new RangeError(`… anywhere in src/ (L402Error and its subclasses excepted). */
const BARE = /\bnew (?:Error|TypeError|RangeError|SyntaxError|ReferenceError)\(/;

/**
 * The plain errors that stay, by file and a piece of their line, with the
 * reason no caller of a public function receives them.
 */
const KEPT: ReadonlyArray<[file: string, line: string, why: string]> = [
  [
    'src/ratelimit/redis-connection.ts',
    'no connection within',
    'the cause of the L402_ERR_RATELIMIT_STORE_UNAVAILABLE that redisReady rejects with',
  ],
  [
    'src/lightning/invoice-signer.ts',
    'bolt11.sign returned no payment request',
    "unreachable: bolt11's sign() sets paymentRequest on every path that returns",
  ],
  [
    'src/lightning/lnd/lnd-grpc.ts',
    'reject(new Error(`lnd client has no method',
    "unreachable: the method names are this package's literals, in the protos it ships",
  ],
  [
    'src/lightning/lnd/lnd-grpc.ts',
    'throw new Error(`lnd client has no method',
    "unreachable: the method names are this package's literals, in the protos it ships",
  ],
  ['src/lightning/lnd/lnd-invoicer.ts', 'invoice subscription ended', 'the cause of a reconnection and the health detail; never thrown'],
  [
    'src/store/postgres-store.ts',
    'broken = error instanceof Error',
    "given to pg's client.release() to discard a broken connection; the caller gets fromPgError's code",
  ],
  ['src/store/postgres-store.ts', 'LISTEN connection ended', 'the health detail of the revocation listener; never thrown'],
  [
    'src/store/postgres-store.ts',
    'this.#listenerLost(client, error instanceof Error',
    "the health detail of the revocation listener; the caller gets fromPgError's code",
  ],
  [
    'src/client/undici-l402-interceptor.ts',
    'unreachable: the challenge was parsed before',
    'unreachable: a challenge is kept only when parseChallenges found one, which the client then selects',
  ],
  [
    'src/proxy/ops/request-series.ts',
    'histogram bounds must be ascending',
    "internal class; its only caller passes the package's constant buckets",
  ],
  ['src/app/aperture-handler.ts', 'writeHead of an untracked response', 'internal: installed only on responses it tracks'],
  [
    'src/proxy/forward/forward-http.ts',
    'client closed the request',
    'the abort reason of a forwarded request whose client left; nobody is answered',
  ],
  [
    'src/proxy/forward/forward-websocket.ts',
    'no answer from upstream',
    'carries a Node code that upstreamFailure maps to L402_ERR_UPSTREAM_TIMEOUT',
  ],
  [
    'src/proxy/forward/forward-grpc.ts',
    'upstream reset the stream',
    'carries a Node code that upstreamFailure maps to an L402_ERR_UPSTREAM_* answer',
  ],
  [
    'src/proxy/forward/forward-grpc.ts',
    'upstream closed the stream',
    'carries an undici code that upstreamFailure maps to an L402_ERR_UPSTREAM_* answer',
  ],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

test('src/ creates no plain Error beyond the justified ones', () => {
  const found: string[] = [];
  for (const file of sourceFiles(join(root, 'src'))) {
    const rel = relative(root, file);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!BARE.test(line)) continue;
      const kept = KEPT.some(([f, piece]) => f === rel && line.includes(piece));
      if (!kept) found.push(`${rel}: ${line.trim()}`);
    }
  }
  assert.deepEqual(found, [], 'throw an L402Error with a code of src/core/error-codes.ts instead (or justify it in KEPT)');
});

test('every justified plain Error is still there (the list does not go stale)', () => {
  for (const [file, piece] of KEPT) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    assert.ok(
      lines.some((l) => BARE.test(l) && l.includes(piece)),
      `${file}: ${piece}`,
    );
  }
});

function coded(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof L402Error, `an L402Error, not ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

test('readInvoice refuses what is not an invoice with L402_ERR_CLIENT_INVOICE_INVALID', () => {
  for (const text of ['', 'hello', 'lnbcrt1qqqq', `lnbc1${'q'.repeat(8000)}`]) {
    assert.throws(() => readInvoice(text), coded('L402_ERR_CLIENT_INVOICE_INVALID'), JSON.stringify(text.slice(0, 20)));
  }
});

test('a pay function wrapped by toPayer, given something that is not an invoice: a coded error', async () => {
  const payer = toPayer(async () => 'ab'.repeat(32));
  await assert.rejects(payer.payInvoice('not an invoice'), coded('L402_ERR_CLIENT_INVOICE_INVALID'));
});

test('SettledInvoiceIndex.load refuses a batch size that is not a positive integer with a ConfigError', async () => {
  let listed = 0;
  const source = {
    listInvoices: async () => {
      listed++;
      return { settledHashes: [], count: 0, nextOffset: 0n };
    },
    onSettled: () => () => {},
  };
  for (const batchSize of [0, -1, 1.5, Number.NaN]) {
    await assert.rejects(SettledInvoiceIndex.load(source, { batchSize }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'L402_ERR_CONFIG_INVALID');
      assert.equal(e.issues[0]?.path, 'batchSize');
      return true;
    });
  }
  assert.equal(listed, 0, 'nothing was listed');
});

test('a bad APERTURE_HEAP_GROWING_PERCENT is a ConfigError naming the variable', () => {
  assert.throws(
    () => heapGrowthPlan([], { APERTURE_HEAP_GROWING_PERCENT: 'lots' }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.issues[0]?.path, 'APERTURE_HEAP_GROWING_PERCENT');
      return true;
    },
  );
});
