// Switching binaries: the Go aperture's database and its aperture.yaml, opened by
// our program. The database is built by golang-migrate from the Go aperture's own
// migration files and holds a token minted by Go's macaroon library, its ledger
// row and a `services` row (test/fixtures/go-aperture-db/). startAperture with
// that configuration accepts the token (200), lists its transaction, serves the
// stored service (over the config's of the same name), sells tokens the Go
// aperture accepts after a switch back, and revokes. `--check-config` says what a
// start would do and changes nothing. SQLite and PostgreSQL (its own schema,
// dropped after; skipped when PostgreSQL is down, except under CI). Needs Go.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { connectTestPostgres, dropSchemasAndEnd } from '../fixtures/test-postgres.js';
import Database from 'better-sqlite3';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { goApertureDb, goPostgresDb, type GoApertureDb } from '../fixtures/go-aperture-db.js';
import { h1, startBackend } from '../proxy/support.js';
import { spawnNode } from './spawn.js';
import { challengeOf, configFrom, freePort, quiet, tempBaseDir, wwwAuthenticate } from './support.js';
import { checkDatabase } from '../../src/proxy/config/check-config.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `aperture_goe2e_${randomBytes(4).toString('hex')}`;
let admin: pg.Client | undefined;
let unreachable: string | undefined;
let schemas = 0;
const dirs: string[] = [];

before(async () => {
  ({ admin, unreachable } = await connectTestPostgres(URL));
});

after(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (admin !== undefined) await dropSchemasAndEnd(admin, prefix);
});

function baseDir(): string {
  const dir = tempBaseDir('aperture-go-db-');
  dirs.push(dir);
  return dir;
}

/** A database of the Go aperture: its `-db` for the Go tool, the config's storage section, the start option. */
interface GoDatabase {
  db: string;
  yaml: string;
  postgresSchema?: string;
}

async function goDatabase(kind: 'SQLite' | 'PostgreSQL', dir: string): Promise<GoDatabase> {
  if (kind === 'SQLite') {
    const file = join(dir, 'data', 'aperture.db');
    mkdirSync(join(dir, 'data'));
    // The key the Go aperture reads from its YAML file (its field name, lower-cased).
    return { db: file, yaml: `dbbackend: sqlite\nsqlite:\n  databasefilename: ${file}\n` };
  }
  const schema = `${prefix}_${++schemas}`;
  await admin!.query(`CREATE SCHEMA "${schema}"`);
  return {
    db: goPostgresDb(URL, schema),
    yaml: 'dbbackend: postgres\npostgres:\n  host: 127.0.0.1\n  port: 5432\n  user: postgres\n  dbname: test\n  maxopenconnections: 4\n',
    postgresSchema: schema,
  };
}

function forBoth(title: string, body: (t: TestContext, go: GoApertureDb, kind: 'SQLite' | 'PostgreSQL') => Promise<void>): void {
  for (const kind of ['SQLite', 'PostgreSQL'] as const) {
    test(`${kind}: ${title}`, async (t) => {
      if (kind === 'PostgreSQL' && unreachable !== undefined) {
        t.skip(unreachable);
        return;
      }
      const go = goApertureDb(t);
      if (go === undefined) return;
      await body(t, go, kind);
    });
  }
}

describe('switching from the Go aperture keeps its database', () => {
  forBoth(
    'its paid token is accepted, its transaction listed, its stored service served; tokens sold here work in the Go aperture after a switch back',
    async (t, go, kind) => {
      const dir = baseDir();
      const target = await goDatabase(kind, dir);
      const stored = await startBackend((req, res) => res.end(`stored backend ${req.url ?? ''}`));
      const configured = await startBackend((req, res) => res.end(`configured backend ${req.url ?? ''}`));
      t.after(() => Promise.all([stored.close(), configured.close()]));

      // What the Go aperture left behind: its schema, a paid token, its service edited through its admin API.
      await go.migrate(target.db);
      const token = await go.mint(target.db, { service: 'quotes', price: 21, settle: true, validForSeconds: 3600 });
      await go.service(target.db, { name: 'quotes', address: stored.address, pathregexp: '^/quotes', price: 21 });

      const config = configFrom(
        `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
${target.yaml}
services:
  - name: quotes
    pathregexp: '^/quotes'
    address: ${configured.address}
    price: 5
  - name: weather
    pathregexp: '^/weather'
    address: ${configured.address}
    price: 3
`,
        dir,
      );
      const aperture: RunningAperture = await startAperture(config, {
        logger: quiet,
        gcIntervalMs: 0,
        defaultMetrics: false,
        ...(target.postgresSchema === undefined ? {} : { postgresSchema: target.postgresSchema }),
      });
      t.after(() => aperture.close());

      assert.deepEqual(
        aperture.services.map((s) => [s.name, s.address]),
        [
          ['quotes', stored.address],
          ['weather', configured.address],
        ],
        "the stored service overrides the config's of the same name and comes first",
      );

      const ok = await h1(`${aperture.url}/quotes/today`, { headers: { authorization: `L402 ${token.macaroon}:${token.preimage}` } });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, 'stored backend /quotes/today');
      const forged = await h1(`${aperture.url}/quotes/today`, { headers: { authorization: `L402 ${token.macaroon}:${'00'.repeat(32)}` } });
      assert.equal(forged.status, 402);

      const page = await aperture.store.listTransactions({ service: 'quotes', state: 'settled' });
      assert.deepEqual(
        page.items.map((r) => [r.tokenId, r.paymentHash, r.priceSats]),
        [[token.tokenId, token.paymentHash, 21]],
      );
      assert.equal((await aperture.store.revenueStats()).totalSats, 21);

      // A token sold here: the Go aperture, run again on this database, accepts it.
      const challenge = await h1(`${aperture.url}/weather/now`);
      assert.equal(challenge.status, 402);
      const { macaroon, invoice } = challengeOf(wwwAuthenticate(challenge.rawHeaders));
      const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
      assert.equal(
        (await h1(`${aperture.url}/weather/now`, { headers: { authorization: `L402 ${macaroon}:${paid.preimage}` } })).status,
        200,
      );
      assert.deepEqual(await go.verify(target.db, { macaroon, preimage: paid.preimage }, 'weather'), {
        ok: true,
        caveats: ['services=weather:0'],
      });

      // Revoked here: refused here at once, and by the Go aperture after a switch back.
      assert.equal(await aperture.store.revokeToken(token.tokenId), true);
      const revoked = await h1(`${aperture.url}/quotes/today`, { headers: { authorization: `L402 ${token.macaroon}:${token.preimage}` } });
      assert.equal(revoked.status, 402);
      assert.deepEqual(await go.verify(target.db, token, 'quotes'), { ok: false, reason: 'secret not found' });
    },
  );

  test('--check-config says what a start would do to the Go database, and changes nothing', async (t) => {
    const go = goApertureDb(t);
    if (go === undefined) return;
    const dir = baseDir();
    const target = await goDatabase('SQLite', dir);
    await go.migrate(target.db);
    await go.mint(target.db, { service: 'quotes', settle: true });
    await go.mint(target.db, { service: 'quotes' });
    await go.service(target.db, { name: 'quotes', address: '127.0.0.1:9' });
    const file = join(dir, 'aperture.yaml');
    writeFileSync(file, `listenaddr: localhost:8081\ninsecure: true\nauthenticator:\n  backend: dev\n${target.yaml}`);
    const before = createHash('sha256').update(readFileSync(target.db)).digest('hex');

    const p = spawnNode('bin/aperture.js', ['--check-config', '--configfile', file]);
    assert.equal(await p.exited, 0, p.output());
    const out = p.output();
    assert.match(
      out,
      new RegExp(
        `database ${target.db.replace(/[.]/g, '\\.')} was written by the Go aperture \\(schema version 9\\): 2 root keys, 2 transactions \\(1 settled\\), 1 service \\(quotes\\)`,
      ),
    );
    assert.match(
      out,
      /at start: its 2 root keys keep verifying .*; 2 transactions of l402_transactions are imported into the ledger; 1 service of its services table is imported/,
    );
    assert.match(out, /Nothing is modified until start/);

    assert.equal(createHash('sha256').update(readFileSync(target.db)).digest('hex'), before, 'the file is unchanged');
    const db = new Database(target.db, { readonly: true });
    const ours = db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'aperture_%' OR name IN ('root_keys', 'transactions')").all();
    db.close();
    assert.deepEqual(ours, []);
  });

  test("a config whose dbfile the Go aperture ignored: --check-config and the start point at the Go aperture's file", async (t) => {
    const go = goApertureDb(t);
    if (go === undefined) return;
    // The Go aperture reads `databasefilename` from the file; with only `dbfile` it used ~/.aperture/aperture.db.
    const home = baseDir();
    const goFile = join(home, '.aperture', 'aperture.db');
    mkdirSync(join(home, '.aperture'));
    await go.migrate(goFile);
    await go.mint(goFile, { service: 'quotes', settle: true });
    const dir = baseDir();
    const file = join(dir, 'aperture.yaml');
    writeFileSync(
      file,
      `listenaddr: localhost:8081\ninsecure: true\nauthenticator:\n  backend: dev\nsqlite:\n  dbfile: ${join(dir, 'other.db')}\n`,
    );
    const warning = new RegExp(
      `warning: the Go aperture, with this configuration, opens ${goFile.replace(/[.]/g, '\\.')} .* set sqlite\\.databasefilename: `,
    );
    const p = spawnNode('bin/aperture.js', ['--check-config', '--configfile', file], { HOME: home });
    assert.equal(await p.exited, 0, p.output());
    assert.match(p.output(), warning);

    const port = await freePort();
    const started = spawnNode('bin/aperture.js', ['--configfile', file, `--listenaddr=127.0.0.1:${port}`], { HOME: home });
    t.after(() => started.child.kill('SIGKILL'));
    await started.waitFor(/aperture listening on/);
    assert.match(started.output(), warning);
    started.child.kill('SIGTERM');
    await started.exited;
  });

  test('PostgreSQL: the database check reads the Go schema inside a read-only transaction and changes nothing', async (t) => {
    if (unreachable !== undefined) {
      t.skip(unreachable);
      return;
    }
    const go = goApertureDb(t);
    if (go === undefined) return;
    const dir = baseDir();
    const target = await goDatabase('PostgreSQL', dir);
    await go.migrate(target.db);
    await go.mint(target.db, { service: 'quotes', settle: true });
    const config = configFrom(`listenaddr: 127.0.0.1:0\ninsecure: true\nauthenticator:\n  backend: dev\n${target.yaml}`, dir);
    assert.equal(config.postgres.maxConnections, 4, "the Go aperture's key maxopenconnections");
    const check = await checkDatabase(config, { postgresSchema: target.postgresSchema as string });
    assert.equal(check.ok, true);
    assert.match(
      check.lines[0] ?? '',
      /^database postgres 127\.0\.0\.1:5432\/test \(schema \S+\) was written by the Go aperture \(schema version 9\): 1 root key, 1 transaction \(1 settled\), 0 services$/,
    );
    const ours = await admin!.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND (table_name LIKE 'aperture%' OR table_name IN ('root_keys', 'transactions'))",
      [target.postgresSchema],
    );
    assert.deepEqual(ours.rows, []);
  });
});
