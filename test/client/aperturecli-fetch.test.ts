// `aperturecli fetch` end to end, in process through main(argv, io) and once
// through the bin shim, against a server with the dev backend's /api/dev/pay.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { startTestServer, type TestServer } from './l402-test-server.js';
import { main, type CliIo } from '../../src/cli/aperturecli.js';
import { decodeTokenFile } from '../../src/client/token-file-codec.js';

const servers: TestServer[] = [];
const dir = mkdtempSync(join(tmpdir(), 'aperturecli-'));
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
  errJson: () => Record<string, unknown>;
}

async function cli(args: string[], tty = false): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (c) => (stdout += Buffer.from(c).toString('utf8')), isTTY: tty },
    stderr: { write: (c) => (stderr += Buffer.from(c).toString('utf8')) },
    env: { HOME: dir },
  };
  const code = await main(args, io);
  return {
    code,
    stdout,
    stderr,
    json: () => JSON.parse(stdout) as Record<string, unknown>,
    errJson: () => JSON.parse(stderr.trim().split('\n').at(-1) ?? '') as Record<string, unknown>,
  };
}

let files = 0;
const tokenFile = (): string => join(dir, `t${++files}.token`);

test("pays through the server's /api/dev/pay, prints the body, a JSON summary without the preimage, then reuses the token", async () => {
  const s = await server();
  const file = tokenFile();
  const first = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', file]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^paid content for [0-9a-f]{64}\n$/);
  const summary = first.errJson();
  assert.equal(summary['status'], 200);
  assert.equal(summary['paid'], true);
  assert.equal(summary['paidSats'], 100);
  assert.equal(summary['feeSats'], 0);
  assert.match(String(summary['tokenId']), /^[0-9a-f]{64}$/);
  const token = decodeTokenFile(readFileSync(file));
  assert.equal(summary['paymentHash'], token.paymentHash);
  assert.ok(token.preimage !== undefined);
  assert.ok(!first.stderr.includes(token.preimage) && !first.stdout.includes(token.preimage), 'the preimage is never printed');
  assert.equal(first.stdout, `paid content for ${String(summary['tokenId'])}\n`);

  const second = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', file]);
  assert.equal(second.code, 0);
  assert.equal(second.errJson()['paid'], false);
  assert.equal(second.errJson()['reusedToken'], true);
  assert.equal(s.payments(), 1);
});

test('on a terminal the summary is a human line, and only when something was paid', async () => {
  const s = await server();
  const run = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-dir', join(dir, 'tty-tokens')], true);
  assert.equal(run.code, 0);
  assert.match(run.stderr, /^aperturecli: paid 100 sat \(fee 0 sat\) for token [0-9a-f]{64}\n$/);
  const again = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-dir', join(dir, 'tty-tokens')], true);
  assert.equal(again.stderr, '');
  const json = await cli(['fetch', `${s.url}/quote`, '--json', '--token-dir', join(dir, 'tty-tokens')], true);
  assert.equal(json.errJson()['reusedToken'], true);
});

test('--dry-run reports what would be paid and pays nothing (exit 10)', async () => {
  const s = await server({ priceSats: 42 });
  const run = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--dry-run', '--token-file', tokenFile()]);
  assert.equal(run.code, 10, run.stderr);
  const out = run.json();
  assert.equal(out['wouldPay'], true);
  assert.equal(out['priceSats'], 42);
  assert.equal(out['maxFeeSats'], 10);
  assert.match(String(out['paymentHash']), /^[0-9a-f]{64}$/);
  assert.equal(s.payments(), 0);

  const tooMuch = await cli(['fetch', `${s.url}/quote`, '--dry-run', '--max-price', '41', '--token-file', tokenFile()]);
  assert.equal(tooMuch.code, 4);
  assert.equal(tooMuch.errJson()['l402_code'], 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
});

test('limits and missing payer: exit 4 with a structured error, nothing paid', async () => {
  const s = await server({ priceSats: 100 });
  const over = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--max-price', '99', '--token-file', tokenFile()]);
  assert.equal(over.code, 4);
  const error = over.errJson();
  assert.equal(error['l402_code'], 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
  assert.equal(error['error'], true);
  assert.equal(error['code'], 'auth_failure', "the reference's kind");
  assert.equal(error['exit_code'], 4);
  assert.equal(error['url'], `${s.url}/quote`);
  assert.equal(error['status'], 402);
  const none = await cli(['fetch', `${s.url}/quote`, '--token-file', tokenFile()]);
  assert.equal(none.code, 4);
  assert.equal(none.errJson()['l402_code'], 'L402_ERR_CLIENT_NO_PAYER');
  assert.equal(s.payments(), 0);
});

test('method, headers and body are sent (and replayed after paying)', async () => {
  const s = await server();
  const run = await cli([
    'fetch',
    `${s.url}/quote`,
    '--payer',
    'dev',
    '-X',
    'PUT',
    '-H',
    'X-Test: yes',
    '-d',
    'the body',
    '--token-file',
    tokenFile(),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(s.bodies, ['the body']);
});

test('exit codes: 5 not found, 2 invalid arguments or unknown command, 3 connection refused', async () => {
  const s = await server();
  const missing = await cli(['fetch', `${s.url}/missing`, '--token-file', tokenFile()]);
  assert.equal(missing.code, 5);
  assert.equal(missing.stdout, 'not found\n');
  assert.equal(missing.errJson()['l402_code'], 'L402_ERR_CLI_HTTP_STATUS');

  for (const args of [
    ['fetch'],
    ['fetch', 'not a url'],
    ['fetch', `${s.url}/`, '--max-fee', '-1'],
    ['fetch', `${s.url}/`, '--payer', 'cash'],
    ['fetch', `${s.url}/`, '--payer', 'lnd'],
    ['fetch', `${s.url}/`, '-H', 'no colon'],
    ['frobnicate'],
    ['constructor'],
    ['toString'],
  ]) {
    const run = await cli(args);
    assert.equal(run.code, 2, args.join(' '));
    assert.equal(run.errJson()['l402_code'], 'L402_ERR_CLI_USAGE', args.join(' '));
  }

  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const refused = await cli(['fetch', `http://127.0.0.1:${port}/`, '--token-file', tokenFile()]);
  assert.equal(refused.code, 3);
  const error = refused.errJson();
  assert.equal(error['l402_code'], 'L402_ERR_CLI_CONNECTION');
  assert.equal(error['code'], 'connection_error');
  // The cause is kept: not a bare "fetch failed", but who refused.
  assert.match(
    String(error['message']),
    new RegExp(`^fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; connection refused by 127\\.0\\.0\\.1:${port}`),
  );
});

test('errors name their cause: a port fetch refuses to use, a host that does not resolve', async () => {
  const badPort = await cli(['fetch', 'http://127.0.0.1:1/', '--token-file', tokenFile()]);
  assert.equal(badPort.code, 1);
  assert.equal(badPort.errJson()['message'], 'fetch failed: bad port');
  const nxdomain = await cli(['fetch', 'http://aperture-test.invalid/', '--token-file', tokenFile()]);
  assert.equal(nxdomain.code, 3);
  assert.match(String(nxdomain.errJson()['message']), /no such host aperture-test\.invalid/);
});

test('--insecure accepts a self-signed certificate; without it the connection fails (exit 3)', async () => {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048 });
  const https = createHttpsServer({ key: pems.private, cert: pems.cert }, (_req, res) => res.end('secure\n'));
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  try {
    const url = `https://127.0.0.1:${(https.address() as AddressInfo).port}/`;
    const strict = await cli(['fetch', url, '--token-file', tokenFile()]);
    assert.equal(strict.code, 3, strict.stderr);
    const error = strict.errJson();
    assert.match(
      String(error['message']),
      /^fetch failed: self-signed certificate; the server's TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/,
    );
    assert.match(String(error['hint']), /--insecure \(-k\)/);
    const insecure = await cli(['fetch', url, '-k', '--token-file', tokenFile()]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.equal(insecure.stdout, 'secure\n');
  } finally {
    https.closeAllConnections();
    await new Promise<void>((resolve) => https.close(() => resolve()));
  }
});

test('through the bin: a refused connection names who refused (exit 3)', async () => {
  const bin = new URL('../../bin/aperturecli.js', import.meta.url).pathname;
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, 'fetch', `http://127.0.0.1:${port}/`, '--token-file', tokenFile()], (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code), stderr });
    });
  });
  assert.equal(result.code, 3);
  const error = JSON.parse(result.stderr) as Record<string, unknown>;
  assert.equal(error['l402_code'], 'L402_ERR_CLI_CONNECTION');
  assert.equal(error['code'], 'connection_error');
  assert.match(String(error['message']), new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`));
});

test('aperturecli --version prints the package version (the bin, as installed programs run it)', async () => {
  const bin = new URL('../../bin/aperturecli.js', import.meta.url).pathname;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [bin, '--version'], (error, stdout) =>
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code), stdout }),
    );
  });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `aperturecli version ${pkg.version} (aperture-ts)\n`);
});

test('the bin shim runs the command in a checkout', async () => {
  const s = await server();
  const bin = new URL('../../bin/aperturecli.js', import.meta.url).pathname;
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, 'fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', tokenFile()], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code), stdout, stderr });
    });
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^paid content for /);
  assert.equal((JSON.parse(result.stderr) as Record<string, unknown>)['paid'], true);
});

test('--payer cln|lnbits|phoenixd|wavelength|nwc pays through the node or wallet over HTTP, with the secret read from a file', async () => {
  const { FakeClnRest } = await import('../fixtures/fake-clnrest.js');
  const { FakeLnbits } = await import('../fixtures/fake-lnbits.js');
  const { FakePhoenixd } = await import('../fixtures/fake-phoenixd.js');
  const { FakeWavelength } = await import('../fixtures/fake-wavelength.js');
  const { FakeNostrRelay } = await import('../fixtures/fake-nostr-relay.js');
  const { FakeNwcWallet } = await import('../fixtures/fake-nwc-wallet.js');
  const { writeFileSync } = await import('node:fs');
  const s = await server();
  const payee = async (bolt11: string): Promise<string> => (await s.invoicer.pay(bolt11)).preimage;
  const cln = await FakeClnRest.start({ payee });
  const lnbits = await FakeLnbits.start({ payee });
  const phoenixd = await FakePhoenixd.start({ payee });
  const wavelength = await FakeWavelength.start({ payee });
  const relay = await FakeNostrRelay.start();
  const nwc = await FakeNwcWallet.start(relay.url, { payee });
  try {
    const write = (name: string, text: string): string => {
      const file = join(dir, name);
      writeFileSync(file, `${text}\n`, { mode: 0o600 });
      return file;
    };
    const writeBytes = (name: string, bytes: Uint8Array): string => {
      const file = join(dir, name);
      writeFileSync(file, bytes, { mode: 0o600 });
      return file;
    };
    const runs: Array<[string, string[]]> = [
      ['cln', ['--payer-url', cln.url, '--payer-secret-file', write('rune', cln.rune), '--payer-ca', write('ca.pem', cln.caCert)]],
      ['lnbits', ['--payer-url', lnbits.url, '--payer-secret-file', write('adminkey', lnbits.adminKey)]],
      ['phoenixd', ['--payer-url', phoenixd.url, '--payer-secret-file', write('password', phoenixd.password)]],
      ['wavelength', ['--payer-url', wavelength.url, '--payer-secret-file', writeBytes('wallet.macaroon', wavelength.macaroon)]],
      ['nwc', ['--payer-secret-file', write('nwc-uri', nwc.uri())]],
    ];
    for (const [kind, extra] of runs) {
      const run = await cli(['fetch', `${s.url}/quote`, '--payer', kind, ...extra, '--token-file', tokenFile()]);
      assert.equal(run.code, 0, `${kind}: ${run.stderr}`);
      assert.equal(run.errJson()['paid'], true, kind);
      assert.equal(run.errJson()['paidSats'], 100, kind);
      assert.ok(!run.stderr.includes(cln.rune) && !run.stderr.includes(lnbits.adminKey), 'secrets never printed');
    }
    assert.equal(s.payments(), 5);
    // A Wavelength macaroon file that is not a macaroon is a usage error; a foreign one a payment refusal.
    const wave = ['fetch', `${s.url}/quote`, '--payer', 'wavelength', '--payer-url', wavelength.url, '--payer-secret-file'];
    assert.equal((await cli([...wave, write('not-macaroon', 'hello'), '--token-file', tokenFile()])).code, 2);
    const foreign = await cli([...wave, writeBytes('foreign.macaroon', wavelength.foreignMacaroon()), '--token-file', tokenFile()]);
    assert.equal(foreign.code, 4, foreign.stderr);
    assert.match(foreign.stderr, /L402_ERR_PAY_AUTH_REFUSED/);
    // The wrong secret is a payment refusal (exit 4); missing options are usage errors (exit 2).
    const refused = await cli([
      'fetch',
      `${s.url}/quote`,
      '--payer',
      'lnbits',
      '--payer-url',
      lnbits.url,
      '--payer-secret-file',
      write('inkey', lnbits.invoiceKey),
      '--token-file',
      tokenFile(),
    ]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /L402_ERR_PAY_AUTH_REFUSED/);
    assert.equal((await cli(['fetch', `${s.url}/quote`, '--payer', 'cln', '--payer-url', cln.url])).code, 2);
    assert.equal((await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--payer-url', cln.url])).code, 2);
    assert.equal((await cli(['fetch', `${s.url}/quote`, '--payer', 'eclair'])).code, 2);
    assert.equal((await cli(['fetch', `${s.url}/quote`, '--payer', 'nwc', '--payer-secret-file', write('not-uri', 'https://x')])).code, 2);
    assert.equal(
      (
        await cli([
          'fetch',
          `${s.url}/quote`,
          '--payer',
          'nwc',
          '--payer-url',
          relay.url,
          '--payer-secret-file',
          write('nwc-uri2', nwc.uri()),
        ])
      ).code,
      2,
    );
  } finally {
    await cln.server.close();
    await lnbits.server.close();
    await phoenixd.server.close();
    await wavelength.server.close();
    nwc.close();
    await relay.server.close();
  }
});

test('--scheme picks the scheme when a 402 offers L402 and a Payment charge; a charge is paid per run and never stored', async () => {
  const s = await server({ priceSats: 12, mpp: { offer: 'both' } });
  const file = tokenFile();
  const charge = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', file, '--scheme', 'mpp']);
  assert.equal(charge.code, 0, charge.stderr);
  assert.equal(charge.stdout, 'paid content for mpp charge\n');
  const summary = charge.errJson();
  assert.equal(summary['scheme'], 'Payment');
  assert.equal(summary['paid'], true);
  assert.equal(summary['paidSats'], 12);
  assert.match(String(summary['paymentHash']), /^[0-9a-f]{64}$/);
  assert.equal((summary['receipt'] as Record<string, unknown>)['reference'], summary['paymentHash']);
  assert.equal(summary['tokenId'], undefined);
  assert.match(s.authorizations.at(-1) ?? '', /^Payment /);
  assert.throws(() => readFileSync(file), /ENOENT/);
  // Again: another charge.
  assert.equal((await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', file, '--scheme', 'mpp'])).code, 0);
  assert.equal(s.payments(), 2);
  // The default buys the reusable L402 token.
  const l402 = await cli(['fetch', `${s.url}/quote`, '--payer', 'dev', '--token-file', file]);
  assert.equal(l402.code, 0, l402.stderr);
  assert.equal(l402.errJson()['scheme'], 'L402');
  assert.match(l402.stdout, /^paid content for [0-9a-f]{64}\n$/);
  assert.equal(s.payments(), 3);
  const bad = await cli(['fetch', `${s.url}/quote`, '--scheme', 'x402']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--scheme must be l402 or mpp/);
  assert.match((await cli(['fetch', `${s.url}/quote`, '--scheme', 'mpp', '--dry-run'])).stderr, /--dry-run quotes L402 challenges only/);
});
