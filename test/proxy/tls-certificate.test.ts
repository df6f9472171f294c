import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { ensureTlsCertificate } from '../../src/proxy/server/tls-certificate.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { ProxyServer } from '../../src/proxy/server/proxy-server.js';
import { h1, h2, h2Session } from './support.js';
import { tempDir } from '../fixtures/cleanup.js';
import { resolveStaticPath } from '../../src/proxy/static-files.js';

test('a self-signed tls.cert/tls.key pair is created once (key 0600) and served with ALPN h2 and http/1.1', async (t) => {
  const dir = join(tempDir('aperture-basedir-', t), 'nested');
  const created = await ensureTlsCertificate(dir, { serverName: 'proxy.test' });
  assert.equal(created.created, true);
  assert.equal(statSync(created.keyPath).mode & 0o777, 0o600);
  const x509 = new X509Certificate(created.cert);
  assert.match(x509.subjectAltName ?? '', /DNS:proxy\.test/);
  assert.match(x509.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  const again = await ensureTlsCertificate(dir);
  assert.equal(again.created, false);
  assert.equal(again.cert, created.cert);

  const server = new ProxyServer({ handler: new Proxy(), listenAddr: '127.0.0.1:0', baseDir: dir });
  const { port } = await server.listen();
  try {
    const ca = readFileSync(join(dir, 'tls.cert'), 'utf8');
    assert.equal((await h1(`https://127.0.0.1:${port}/nothing`, { ca })).status, 404);
    const session = await h2Session(`https://127.0.0.1:${port}`, ca);
    assert.equal((await h2(session, { ':path': '/nothing' })).headers[':status'], 404);
    session.close();
  } finally {
    await server.close();
  }
});

test('a lone tls.cert is refused with L402_ERR_PROXY_TLS_CERT', async (t) => {
  const dir = tempDir('aperture-basedir-', t);
  writeFileSync(join(dir, 'tls.cert'), 'x');
  await assert.rejects(ensureTlsCertificate(dir), (e: unknown) => (e as { code?: string }).code === 'L402_ERR_PROXY_TLS_CERT');
});

test('static files: served from the root, traversal refused', async (t) => {
  const root = tempDir('aperture-static-', t);
  mkdirSync(join(root, 'sub'));
  writeFileSync(join(root, 'index.html'), '<h1>hi</h1>');
  writeFileSync(join(root, 'sub', 'a.txt'), 'a');
  const { realpathSync } = await import('node:fs');
  const real = realpathSync(root);
  assert.equal(resolveStaticPath(real, '/sub/a.txt?x=1')?.file, join(real, 'sub', 'a.txt'));
  assert.equal(resolveStaticPath(real, '/')?.file, join(real, 'index.html'));
  for (const bad of ['/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/sub/../../x', '/%00', '/%zz']) {
    assert.equal(resolveStaticPath(real, bad), undefined, bad);
  }
  const server = new ProxyServer({ handler: new Proxy({ staticRoot: root }), listenAddr: '127.0.0.1:0', insecure: true });
  const { port } = await server.listen();
  try {
    const r = await h1(`http://127.0.0.1:${port}/sub/a.txt`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'a');
    assert.equal((await h1(`http://127.0.0.1:${port}/missing`)).status, 404);
  } finally {
    await server.close();
  }
});
