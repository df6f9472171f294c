// Challenges from many networks (issue 14, item 10): the global bound on fresh challenges, and the
// challenge limits while Redis is down, through `startAperture` on real sockets. Client networks
// are varied with loopback source addresses (127.0.N.1: a /24 each).
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, freePort, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** GET from a source address of the given /24 (127.0.`network`.1). */
function fromNetwork(base: string, network: number, headers: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: '/quote', headers, agent: false, localAddress: `127.0.${network}.1` },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function withAperture(
  yaml: string,
  options: Parameters<typeof startAperture>[1],
  run: (aperture: RunningAperture) => Promise<void>,
): Promise<void> {
  const backend = await startBackend((_req, res) => res.end('paid content\n'));
  const dir = tempBaseDir();
  let aperture: RunningAperture | undefined;
  try {
    aperture = await startAperture(configFrom(yaml.replace('BACKEND', backend.address), dir), {
      logger: quiet,
      gcIntervalMs: 0,
      defaultMetrics: false,
      ...options,
    });
    await run(aperture);
  } finally {
    await aperture?.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the global challenge limit refuses networks that are each within their own limit: 503 with the code and Retry-After; paid tokens still pass', async () => {
  await withAperture(
    `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
globalchallengelimit:
  requests: 1
  per: 1h
  burst: 3
services:
  - name: api
    hostregexp: '.*'
    address: BACKEND
    price: 10
`,
    {},
    async (aperture) => {
      const answers: Answer[] = [];
      for (let network = 1; network <= 5; network++) answers.push(await fromNetwork(aperture.url, network));
      assert.deepEqual(
        answers.map((a) => a.status),
        [402, 402, 402, 503, 503],
      );
      for (const refused of answers.slice(3)) {
        assert.equal(refused.body, 'service unavailable (L402_ERR_RATELIMIT_GLOBAL_EXCEEDED)\n');
        assert.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${String(refused.headers['retry-after'])}`);
        assert.equal(wwwAuthenticate(refused.rawHeaders).length, 0, 'no invoice was minted');
      }
      // A challenge handed out before the bound was reached is paid; the token works from any network.
      const { macaroon, invoice } = challengeOf(wwwAuthenticate((answers[0] as Answer).rawHeaders));
      const { preimage } = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
      const paid = await fromNetwork(aperture.url, 6, { authorization: `L402 ${macaroon}:${preimage}` });
      assert.deepEqual([paid.status, paid.body], [200, 'paid content\n']);
      const pending = await aperture.store.listTransactions({ service: 'api', state: 'pending' });
      assert.equal(pending.total, 2, 'three challenges were minted, one of them paid');
    },
  );
});

test('Redis unreachable with onstoreerror allow: the challenge limits hold per process instead of letting everyone mint', async () => {
  const closedPort = await freePort();
  await withAperture(
    `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
ratelimitstore:
  backend: redis
  redisurl: redis://127.0.0.1:${closedPort}
  onstoreerror: allow
globalchallengelimit:
  requests: 1
  per: 1h
  burst: 3
services:
  - name: api
    hostregexp: '.*'
    address: BACKEND
    price: 10
`,
    { challengeRateLimit: { requests: 1, perMs: 3_600_000, burst: 2 } },
    async (aperture) => {
      // One network: two challenges, then its own limit (429).
      const own = [await fromNetwork(aperture.url, 1), await fromNetwork(aperture.url, 1), await fromNetwork(aperture.url, 1)];
      assert.deepEqual(
        own.map((a) => a.status),
        [402, 402, 429],
      );
      assert.equal((own[2] as Answer).body, 'rate limit exceeded\n');
      // Other networks: the third challenge of all, then the global limit (503).
      const others = [await fromNetwork(aperture.url, 2), await fromNetwork(aperture.url, 3)];
      assert.deepEqual(
        others.map((a) => a.status),
        [402, 503],
      );
      assert.equal((others[1] as Answer).body, 'service unavailable (L402_ERR_RATELIMIT_GLOBAL_EXCEEDED)\n');
    },
  );
});

test('globalchallengelimit: defaults, requests 0 turns it off, bad values are issues at their path', () => {
  const dir = tempBaseDir();
  try {
    const base = 'listenaddr: 127.0.0.1:8081\nauthenticator:\n  backend: dev\n';
    assert.deepEqual(configFrom(base, dir).globalChallengeLimit, { requests: 50, perMs: 1000, burst: 500 });
    assert.equal(configFrom(`${base}globalchallengelimit: { requests: 0 }\n`, dir).globalChallengeLimit, undefined);
    assert.deepEqual(configFrom(`${base}globalchallengelimit: { requests: 20 }\n`, dir).globalChallengeLimit, {
      requests: 20,
      perMs: 1000,
      burst: 20,
    });
    assert.throws(
      () => configFrom(`${base}globalchallengelimit: { requests: -1, per: 0s }\n`, dir),
      /globalchallengelimit\.requests[\s\S]*globalchallengelimit\.per|globalchallengelimit\.per[\s\S]*globalchallengelimit\.requests/,
    );
    assert.throws(() => configFrom(`${base}globalchallengelimit: { per: 1s }\n`, dir), /globalchallengelimit\.requests/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
