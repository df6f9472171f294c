// A 50 MB upload and a 50 MB download through the whole aperture pipeline (auth on, paid token)
// leave the proxy's live memory (heap + Buffers, sampled after GC in the child running aperture)
// within a few MB: bodies are streamed, never held whole.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { challengeOf, repoRoot, wwwAuthenticate } from './support.js';
import { h1, startBackend } from '../proxy/support.js';

const TOTAL = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** Live growth allowed while 50 MB pass: socket and stream buffers, never the body. */
const LIMIT = 16 * 1024 * 1024;

function chunkAt(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

function expectedHash(): string {
  const h = createHash('sha256');
  for (let i = 0; i < TOTAL / CHUNK; i++) h.update(chunkAt(i));
  return h.digest('hex');
}

interface Sample {
  baseline: number;
  peak: number;
  samples: number;
}

describe('streaming memory of the aperture pipeline', { timeout: 120_000 }, () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let child: ChildProcess;
  let url: string;
  let authorization: string;
  const hash = expectedHash();

  function ask<T>(cmd: string): Promise<T> {
    const reply = once(child, 'message') as Promise<[T]>;
    child.send({ cmd });
    return reply.then(([m]) => m);
  }

  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === '/files/down') {
        let i = 0;
        const next = (): void => {
          while (i < TOTAL / CHUNK) {
            if (!res.write(chunkAt(i++))) {
              res.once('drain', next);
              return;
            }
          }
          res.end();
        };
        next();
        return;
      }
      const h = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        length += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ sha256: h.digest('hex'), length })));
    });
    const yaml = `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: files
    pathregexp: '^/files'
    address: ${backend.address}
    price: 10
`;
    child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(repoRoot, 'test/fixtures/memory-aperture.ts')], {
      cwd: repoRoot,
      env: { ...process.env, APERTURE_YAML: yaml },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const [ready] = (await once(child, 'message')) as [{ url: string }];
    url = ready.url;

    const challenged = await h1(`${url}/files/up`);
    assert.equal(challenged.status, 402);
    const { macaroon, invoice } = challengeOf(wwwAuthenticate(challenged.rawHeaders));
    const paid = await h1(`${url}/api/dev/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ invoice }),
    });
    assert.equal(paid.status, 200, paid.body);
    authorization = `L402 ${macaroon}:${(JSON.parse(paid.body) as { preimage: string }).preimage}`;
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send({ cmd: 'close' });
      await exited;
    }
    await backend.close();
  });

  test('50 MB upload: every byte reaches the backend, live memory grows by less than 16 MB', async () => {
    await ask('start');
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${url}/files/up`);
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent: false,
          headers: { authorization, 'content-length': TOTAL },
        },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      let i = 0;
      const next = (): void => {
        while (i < TOTAL / CHUNK) {
          if (!req.write(chunkAt(i++))) {
            req.once('drain', next);
            return;
          }
        }
        req.end();
      };
      next();
    });
    const memory = await ask<Sample>('stop');
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { sha256: hash, length: TOTAL });
    assert.ok(memory.samples > 0, 'memory was sampled during the transfer');
    assert.ok(memory.peak - memory.baseline < LIMIT, `live memory grew by ${((memory.peak - memory.baseline) / 1e6).toFixed(1)} MB`);
  });

  test('50 MB download: every byte reaches the client, live memory grows by less than 16 MB', async () => {
    await ask('start');
    const got = await new Promise<{ status: number; sha256: string; length: number }>((resolve, reject) => {
      const u = new URL(`${url}/files/down`);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, agent: false, headers: { authorization } }, (r) => {
        const h = createHash('sha256');
        let length = 0;
        r.on('data', (c: Buffer) => {
          h.update(c);
          length += c.length;
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, sha256: h.digest('hex'), length }));
        r.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    const memory = await ask<Sample>('stop');
    assert.equal(got.status, 200);
    assert.deepEqual({ sha256: got.sha256, length: got.length }, { sha256: hash, length: TOTAL });
    assert.ok(memory.samples > 0, 'memory was sampled during the transfer');
    assert.ok(memory.peak - memory.baseline < LIMIT, `live memory grew by ${((memory.peak - memory.baseline) / 1e6).toFixed(1)} MB`);
  });
});
