// Cross-check against Go's gopkg.in/macaroon.v2, the library the reference proxy
// uses: macaroons minted here verify in Go, macaroons minted in Go verify here,
// and the same inputs give the same bytes — with more caveats than the npm
// `macaroon` package can handle. Needs `go` (1.22 or newer) and the Go module
// proxy (test/fixtures/go-macaroon/go.mod pins the library); skips visibly
// without Go, except under CI, where it fails.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Macaroon } from '../../src/core/macaroon.js';
import { encodeIdentifier } from '../../src/core/identifier.js';
import { Minter } from '../../src/core/minter.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { sha256 } from '../../src/core/bytes.js';
import { FakeInvoicer } from './support.js';

const moduleDir = new URL('../fixtures/go-macaroon/', import.meta.url).pathname;

function goMissing(): string | undefined {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'Go is not installed (https://go.dev/doc/install; the module proxy fetches gopkg.in/macaroon.v2)';
  }
  return undefined;
}

interface GoReply {
  ok: boolean;
  macHex?: string;
  caveats?: string[];
  error?: string;
}

/** Builds the Go tool and talks to it one JSON line at a time. */
function startGoTool(dir: string): { call: (req: object) => Promise<GoReply>; stop: () => void } {
  const binary = join(dir, 'mactool');
  // Module mode with the pinned go.sum; the build and module caches are Go's own (shared across runs).
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: moduleDir,
    env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=readonly' },
    stdio: 'pipe',
  });
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(reply: GoReply) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(JSON.parse(line) as GoReply));
  return {
    call: (req) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${JSON.stringify(req)}\n`);
      }),
    stop: () => child.kill(),
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

type GoTool = ReturnType<typeof startGoTool>;

/** Runs `body` with the Go tool built in a temporary folder, or skips saying what is missing. */
async function withGoTool(t: TestContext, body: (go: GoTool) => Promise<void>): Promise<void> {
  const missing = goMissing();
  if (missing !== undefined) {
    // Under CI the cross-check must run: .ci/run installs Go and the library.
    if (process.env['CI'] !== undefined) assert.fail(`${missing}; CI must run the Go cross-check`);
    t.skip(missing);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'go-macaroon-'));
  const go = startGoTool(dir);
  try {
    await body(go);
  } finally {
    go.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const caveatArb = fc.oneof(
  fc.constantFrom('services=svc:0', 'svc_capabilities=add,subtract', 'svc_valid_until=1900000000', 'expiration=1337='),
  fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }),
);

test('our macaroons verify in Go, Go macaroons verify here, byte for byte', (t) =>
  withGoTool(t, async (go) => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(caveatArb, { maxLength: 12 }),
        async (rootKey, paymentHash, tokenId, caveats) => {
          const id = encodeIdentifier({ version: 0, paymentHash, tokenId });
          let ours = Macaroon.mint(rootKey, id, 'lsat');
          for (const c of caveats) ours = ours.withFirstPartyCaveat(c);

          const minted = await go.call({ op: 'mint', rootKeyHex: hex(rootKey), idHex: hex(id), location: 'lsat', caveats });
          assert.ok(minted.ok, minted.error);
          assert.equal(ours.toHex(), minted.macHex, 'same inputs, same bytes');

          const theirs = Macaroon.fromHex(minted.macHex ?? '');
          assert.ok(theirs.verifySignature(rootKey), 'a Go macaroon verifies here');
          assert.deepEqual(theirs.firstPartyCaveats(), caveats);

          const verified = await go.call({ op: 'verify', rootKeyHex: hex(rootKey), macHex: ours.toHex() });
          assert.ok(verified.ok, verified.error);
          assert.deepEqual(verified.caveats ?? [], caveats, 'Go sees our caveats');
        },
      ),
      { numRuns: 60 },
    );

    // A wrong root key is refused by Go too.
    const rootKey = randomBytes(32);
    const mac = Macaroon.mint(
      rootKey,
      encodeIdentifier({ version: 0, paymentHash: randomBytes(32), tokenId: randomBytes(32) }),
      'lsat',
    ).withFirstPartyCaveat('services=svc:0');
    const wrong = await go.call({ op: 'verify', rootKeyHex: hex(randomBytes(32)), macHex: mac.toHex() });
    assert.equal(wrong.ok, false);
  }));

test('a token minted by our Minter verifies in Go with the stored root key', (t) =>
  withGoTool(t, async (go) => {
    const secrets = new MemorySecretStore();
    const minter = new Minter({ invoicer: new FakeInvoicer(), secrets });
    const token = await minter.mint({
      services: [{ name: 'svc', tier: 0 }],
      priceSats: 10,
      caveats: ['svc_capabilities=a,b', 'svc_valid_until=1900000000', 'k1=v1', 'k2=v2', 'k3=v3'],
    });
    const rootKey = (await secrets.getSecret(sha256(token.macaroon.identifier))) as Uint8Array;
    const reply = await go.call({ op: 'verify', rootKeyHex: hex(rootKey), macHex: token.macaroon.toHex() });
    assert.ok(reply.ok, reply.error);
    assert.equal(reply.caveats?.length, 6);
  }));
