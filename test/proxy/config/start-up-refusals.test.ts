/**
 * What `aperture` refuses at start-up without touching the network must
 * already fail `--check-config`: each case here is checked against both.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { DevInvoicer } from '../../../src/lightning/dev/index.js';
import { checkConfig, formatConfigReport } from '../../../src/proxy/config/index.js';
import { ensureTlsCertificate } from '../../../src/proxy/server/tls-certificate.js';

const HOME = '/srv/operator';

function check(text: string, fileExists: (path: string) => boolean = () => false) {
  return checkConfig({ text, env: { HOME }, home: HOME, fileExists });
}

function issuePaths(text: string, fileExists?: (path: string) => boolean): string[] {
  return check(text, fileExists).issues.map((i) => i.path);
}

describe('--check-config catches start-up refusals', () => {
  it('dev backend on mainnet: an issue at authenticator.network, as DevInvoicer refuses it', () => {
    for (const network of ['mainnet', 'MainNet']) {
      const text = `listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  backend: dev\n  network: ${network}\n`;
      const report = check(text);
      assert.equal(report.ok, false, formatConfigReport(report));
      const issue = report.issues.find((i) => i.path === 'authenticator.network');
      assert.ok(issue, formatConfigReport(report));
      assert.match(issue.message, /dev backend refuses mainnet/);
      assert.equal(issue.line, 5, 'points at the network line');
    }
    // The start-up refusal this mirrors.
    assert.throws(
      () => new DevInvoicer({ network: 'mainnet' as never }),
      (error: unknown) => error instanceof ConfigError && error.code === 'L402_ERR_CONFIG_INVALID',
    );
  });

  it('dev on a test network and lnd on mainnet stay valid', () => {
    for (const network of ['regtest', 'testnet', 'signet', 'simnet']) {
      const report = check(`listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  backend: dev\n  network: ${network}\n`);
      assert.equal(report.ok, true, formatConfigReport(report));
    }
    const lnd = check(
      'listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  network: mainnet\n  lndhost: "localhost:10009"\n  tlspath: /lnd/tls.cert\n  macdir: /lnd/macaroons\n',
      () => true,
    );
    assert.equal(lnd.ok, true, formatConfigReport(lnd));
  });

  it('a disabled authenticator on mainnet is not checked against the dev backend', () => {
    const report = check(
      'listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  disable: true\n  backend: dev\n  network: mainnet\n',
    );
    assert.equal(report.ok, true, formatConfigReport(report));
  });

  it('a lone tls.cert or tls.key in basedir: an issue at basedir, as the server refuses it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-tls-'));
    try {
      const text = `listenaddr: "localhost:8081"\nbasedir: ${dir}\nauthenticator:\n  backend: dev\n`;
      // Neither file: start-up creates the pair, so the config is fine.
      assert.deepEqual(issuePaths(text), []);
      writeFileSync(join(dir, 'tls.cert'), 'not read by the check');
      const real = checkConfig({ text, env: { HOME }, home: HOME });
      const issue = real.issues.find((i) => i.path === 'basedir');
      assert.ok(issue, formatConfigReport(real));
      assert.match(issue.message, /tls\.cert without .*tls\.key/);
      // The start-up refusal this mirrors.
      await assert.rejects(ensureTlsCertificate(dir), { code: 'L402_ERR_PROXY_TLS_CERT' });
      // With insecure (plaintext) the files are not used, so nothing to refuse.
      assert.deepEqual(
        checkConfig({ text: `${text}insecure: true\n`, env: { HOME }, home: HOME }).issues.map((i) => i.path),
        [],
      );
      // Only the key: the same issue the other way round.
      assert.match(
        check(text, (p) => p === join(dir, 'tls.key')).issues.find((i) => i.path === 'basedir')?.message ?? '',
        /tls\.key without .*tls\.cert/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('etcd and an lnd backend without lndhost/tlspath/macdir are issues (start-up refuses both)', () => {
    assert.ok(
      issuePaths('listenaddr: "localhost:8081"\ninsecure: true\ndbbackend: etcd\nauthenticator:\n  backend: dev\n').includes('dbbackend'),
    );
    const paths = issuePaths('listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  backend: lnd\n');
    for (const p of ['authenticator.lndhost', 'authenticator.tlspath', 'authenticator.macdir'])
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
  });
});
