// `tlscertpath` of a service is trusted in addition to the system roots, not instead of them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { backendCaCertificates } from '../../src/proxy/forward/upstreams.js';
import { h1, startBackend, startProxy, testPki } from './support.js';

const repoRoot = new URL('../..', import.meta.url).pathname;

test('the CA list of a service with tlscertpath holds every default root and the file', async () => {
  const pki = await testPki();
  const list = backendCaCertificates(pki.caPath);
  const set = new Set(list);
  for (const root of rootCertificates) assert.ok(set.has(root), 'a default root is missing');
  assert.equal(list.at(-1), pki.caCert);
  assert.deepEqual(backendCaCertificates(undefined).slice(0, rootCertificates.length), [...rootCertificates]);
  assert.throws(() => backendCaCertificates(join(pki.dir, 'absent.pem')), { code: 'L402_ERR_UPSTREAM_TLS' });
});

test('a backend signed by our own CA (tlscertpath) is reached over a real socket', async () => {
  const pki = await testPki();
  const backend = await startBackend((_req, res) => res.end('own CA'), pki);
  const p = await startProxy({
    services: [{ name: 'tls', hostRegexp: '.*', address: backend.address, protocol: 'https', tlsCertPath: pki.caPath }],
  });
  try {
    const res = await h1(`${p.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'own CA');
  } finally {
    await p.close();
    await backend.close();
  }
});

test('with tlscertpath set, a backend signed by a system root (NODE_EXTRA_CA_CERTS) still verifies', async () => {
  const pki = await testPki();
  const backend = await startBackend((_req, res) => res.end('system root'), pki);
  try {
    // The process trusts the test CA as a system root; the service's own file is an unrelated CA.
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/extra-ca-request.ts')], {
      cwd: repoRoot,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath, BACKEND_ADDRESS: backend.address, BACKEND_CA: pki.otherCaPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out);
    assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1) as string), { status: 200, body: 'system root' });
  } finally {
    await backend.close();
  }
});
