// The reference aperture beside ours: the same aperture.yaml and the same
// requests to both, answers compared field by field (status, challenge lines,
// CORS and other headers, bodies, gRPC status and trailers). A difference is
// either intended (INTENDED, each with its reason, also in docs/operations.md)
// or a failure. Fields where we once differed (SAME_AS_REFERENCE) also get a
// check of their own across every case. Also: the reference's Go client interceptor (l402 package) paying
// our gRPC 402 through the real lnd network.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LndPayer } from '../../src/lightning/lnd/index.js';
import { startBackend, testPki } from '../proxy/support.js';
import { Macaroon } from '../../src/core/macaroon.js';
import {
  compare,
  grpcCall,
  invoiceOf,
  normalise,
  Quotes,
  restCases,
  template,
  type Difference,
  type Normal,
  type PaidToken,
  type Target,
} from './differential.js';
import type { NetworkRef } from './lightning.suite.js';
import { send, startProxy, type Proxy } from './reference.js';

/** A difference the matrix tolerates: which field, in which cases, and why. */
interface Tolerated {
  /** Field name (`status`, `body`, `header <name>`), or a pattern of them. */
  field: string | RegExp;
  /** Case names it applies to; all when absent. */
  cases?: RegExp;
  reason: string;
}

/** Deliberate differences; each is listed in docs/operations.md with the same reason. */
const INTENDED: Tolerated[] = [
  {
    field: /^header access-control-(allow-methods|allow-headers|expose-headers)$/,
    reason:
      'CORS lists name every method and header our clients use (Macaroon, Content-Type, gRPC-web headers; Retry-After, Grpc-Status readable)',
  },
  {
    field: /^header access-control-/,
    cases: /^no service matches$/,
    reason: 'CORS headers on every answer, the 404 of an unrouted path included',
  },
  { field: 'body', cases: /^no service matches$/, reason: 'the 404 says why: no service for this host and path' },
  { field: /^(header content-type|body)$/, cases: /^CORS preflight$/, reason: 'a preflight answer has no body' },
  { field: 'header cache-control', cases: /skip-invoice/, reason: 'the 401 depends on the credential: no-store, like the 402' },
  {
    field: /^(status|header .*|body)$/,
    cases: /^(scheme in lower case|preimage in upper case|macaroon in URL-safe base64 without padding|two spaces after the scheme)$/,
    reason:
      'every credential form the L402 text allows is accepted (scheme in any case, preimage either case, URL-safe base64, several spaces); the reference answers 402',
  },
  {
    field: /^(header www-authenticate|body)$/,
    cases:
      /^(two different credentials|wrong preimage|preimage not hex|preimage too short|macaroon not base64|no colon|grpc: token of another service)$/,
    reason: 'a refused credential says why: error="<reason>" on the challenge lines, the code in the body',
  },
  {
    field: /^(status|header .*|body)$/,
    cases: /^(rate limit: the second request|token of the api service on another service|grpc: rate limit)/,
    reason:
      "a service's ratelimits also hold for requests that would get a challenge, keyed by masked IP unless a token is verified (the reference mints unlimited invoices and gives any unverified token its own bucket)",
  },
  {
    field: 'status',
    cases: /^grpc: skip-invoice/,
    reason:
      'over gRPC each answer has its own status: 401 is 16 UNAUTHENTICATED, 403 is 7 PERMISSION_DENIED (the reference sends 13 INTERNAL with the message for all of them; 402 stays 13 payment required for its clients)',
  },
  {
    field: 'body',
    cases: /^paid token on a whitelisted path$/,
    reason:
      'credentials the proxy did not verify never reach the backend: a whitelisted path gets no Authorization line (the reference forwards it)',
  },
];

/**
 * Fields where we once differed from the reference, each checked on its own
 * across every case as well (a difference there also fails the case itself).
 */
const SAME_AS_REFERENCE: Array<Tolerated & { name: string }> = [
  {
    name: 'X-Content-Type-Options: nosniff on the plain-text answers (402, 401, 403, 404, 429, preflight)',
    field: 'header x-content-type-options',
    reason: "Go's http.Error sets it on every text answer of the reference",
  },
  {
    name: 'the credential forwarded to the backend as the reference does: "LSAT <m>:<p>" then "L402 <m>:<p>"',
    field: 'body',
    cases: /^(L402 |LSAT |Macaroon header|Grpc-Metadata-Macaroon|the same credential twice|macaroon with a caveat)/,
    reason: 'the reference re-emits two Authorization lines, LSAT first (l402.SetHeader)',
  },
  {
    name: 'Cache-Control: no-store on the gRPC 402',
    field: 'header cache-control',
    cases: /^grpc: (no credential|token of another service)/,
    reason: "the reference's trailers-only 402 carries cache-control: no-store",
  },
];

const matches = (t: Tolerated, name: string, d: Difference): boolean =>
  (typeof t.field === 'string' ? d.field === t.field : t.field.test(d.field)) && (t.cases === undefined || t.cases.test(name));

function unexplained(name: string, diffs: Difference[]): Difference[] {
  return diffs.filter((d) => !INTENDED.some((t) => matches(t, name, d)));
}

function grpcNormal(g: { code: number; details: string; metadata: Record<string, string> }): Normal {
  return { status: g.code, headers: g.metadata, body: g.details };
}

/**
 * Registers the suites.
 * @param ref - filled in by the group's `before`
 * @param binaries - the reference aperture and our Go client of its l402 package
 */
export function referenceSuites(ref: NetworkRef, binaries: { aperture: string; l402Client: string }): void {
  describe('the reference aperture beside ours (same aperture.yaml, same requests)', () => {
    let dir: string;
    let pkiDir: string | undefined;
    let rest: Awaited<ReturnType<typeof startBackend>>;
    const grpcServer = new grpc.Server();
    let payer: LndPayer;
    const targets: Partial<Record<Proxy['name'], Target>> = {};
    /** Every case's differences, kept for the defect tests. */
    const seen: Array<{ name: string; diffs: Difference[] }> = [];

    before(async () => {
      const { seller, buyer } = ref.network;
      dir = mkdtempSync(join(tmpdir(), 'aperture-reference-'));
      rest = await startBackend((req, res) => {
        const lines: string[] = [];
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
          if (req.rawHeaders[i]?.toLowerCase() === 'authorization') lines.push(req.rawHeaders[i + 1] as string);
        res.setHeader('x-backend', 'rest');
        // Set, so that the reference's Go server does not sniff one (it does so for some answers, not others).
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(`ok ${req.method} ${req.url} authorization=[${lines.join(' | ')}]`);
      });
      grpcServer.addService(Quotes.service, {
        Get: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { symbol: 'BTC', price: '100' }),
        Limited: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { symbol: 'BTC', price: '1' }),
        Skip: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { symbol: 'BTC', price: '2' }),
      });
      // The gRPC backend speaks TLS: the reference reaches a `protocol: http` backend over HTTP/1.1 only.
      const pki = await testPki();
      pkiDir = pki.dir;
      const grpcPort = await new Promise<number>((resolve, reject) =>
        grpcServer.bindAsync(
          '127.0.0.1:0',
          grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(pki.key), cert_chain: Buffer.from(pki.cert) }]),
          (e, p) => (e ? reject(e) : resolve(p)),
        ),
      );
      const macDir = join(dir, 'macaroons');
      mkdirSync(macDir);
      copyFileSync(join(seller.macaroonDir, 'invoice.macaroon'), join(macDir, 'invoice.macaroon'));
      const config = template(
        rest.address,
        { address: `127.0.0.1:${grpcPort}`, caPath: pki.caPath },
        { host: seller.host, tlsPath: seller.tlsCertPath, macDir },
      );
      payer = new LndPayer({ host: buyer.host, tlsCert: buyer.tlsCert, macaroon: buyer.adminMacaroon });
      for (const name of ['reference', 'ours'] as const) {
        const proxy = await startProxy(name, binaries.aperture, config, join(dir, name));
        // Paid tokens of each: its own challenges, paid by the buyer over the channel.
        const buy = async (path: string): Promise<PaidToken> => {
          const challenge = await send(proxy.url, { path });
          const m = /L402 macaroon="([^"]+)", invoice="([^"]+)"/.exec(String(challenge.headers['www-authenticate']));
          assert.ok(m?.[1] !== undefined && m[2] !== undefined, `${name}: no L402 challenge for ${path}`);
          const paid = await payer.payInvoice(m[2], { maxFeeSats: 10, timeoutMs: 30_000 });
          return { macaroon: m[1], preimage: paid.preimage };
        };
        targets[name] = { proxy, token: await buy('/api/x'), grpcToken: await buy('/demo.Quotes/Get') };
      }
    });

    after(async () => {
      for (const t of Object.values(targets)) await t?.proxy.proc.stop();
      await payer?.close();
      grpcServer.forceShutdown();
      await rest?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      if (pkiDir !== undefined) rmSync(pkiDir, { recursive: true, force: true });
    });

    it("both challenge with a real invoice of the seller's node for the price", async () => {
      const { reference, ours } = targets as Record<Proxy['name'], Target>;
      for (const target of [reference, ours]) {
        const invoice = invoiceOf(await send(target.proxy.url, { path: '/api/x' }));
        assert.deepEqual(invoice, { amountMsat: 10_000n, payee: ref.network.seller.pubkey }, target.proxy.name);
        // Both read sqlite.databasefilename (the key the reference's YAML loader reads).
        assert.ok(existsSync(join(target.proxy.dir, 'store.db')), `${target.proxy.name} opened store.db`);
      }
    });

    for (const kase of restCases) {
      it(kase.name, async () => {
        const { reference, ours } = targets as Record<Proxy['name'], Target>;
        const theirs = (await kase.run(reference)).map(normalise);
        const mine = (await kase.run(ours)).map(normalise);
        assert.equal(mine.length, theirs.length);
        const diffs = theirs.flatMap((r, i) => compare(r, mine[i] as Normal));
        seen.push({ name: kase.name, diffs });
        assert.deepEqual(
          unexplained(kase.name, diffs),
          [],
          `unexplained differences from the reference:\n${JSON.stringify(diffs, null, 2)}`,
        );
      });
    }

    const grpcCases: Array<{ name: string; run: (t: Target) => Promise<Normal[]> }> = [
      {
        name: 'grpc: no credential: status 13 payment required with the challenge',
        run: async (t) => [grpcNormal(await grpcCall(t.proxy, 'Get'))],
      },
      {
        name: 'grpc: paid token in the authorization metadata',
        run: async (t) => {
          const md = new grpc.Metadata();
          md.set('authorization', `L402 ${t.grpcToken.macaroon}:${t.grpcToken.preimage}`);
          return [grpcNormal(await grpcCall(t.proxy, 'Get', md))];
        },
      },
      {
        name: 'grpc: paid token in the macaroon metadata (hex, preimage caveat)',
        run: async (t) => {
          const md = new grpc.Metadata();
          md.set('macaroon', Macaroon.fromBase64(t.grpcToken.macaroon).withFirstPartyCaveat(`preimage=${t.grpcToken.preimage}`).toHex());
          return [grpcNormal(await grpcCall(t.proxy, 'Get', md))];
        },
      },
      {
        name: 'grpc: token of another service',
        run: async (t) => {
          const md = new grpc.Metadata();
          md.set('authorization', `L402 ${t.token.macaroon}:${t.token.preimage}`);
          return [grpcNormal(await grpcCall(t.proxy, 'Get', md))];
        },
      },
      { name: 'grpc: skip-invoice method without a credential', run: async (t) => [grpcNormal(await grpcCall(t.proxy, 'Skip'))] },
      {
        name: 'grpc: rate limit: the second call within the window',
        run: async (t) => [grpcNormal(await grpcCall(t.proxy, 'Limited')), grpcNormal(await grpcCall(t.proxy, 'Limited'))],
      },
    ];
    for (const kase of grpcCases) {
      it(kase.name, async () => {
        const { reference, ours } = targets as Record<Proxy['name'], Target>;
        const theirs = await kase.run(reference);
        const mine = await kase.run(ours);
        const diffs = theirs.flatMap((r, i) => compare(r, mine[i] as Normal));
        seen.push({ name: kase.name, diffs });
        assert.deepEqual(
          unexplained(kase.name, diffs),
          [],
          `unexplained differences from the reference:\n${JSON.stringify(diffs, null, 2)}`,
        );
      });
    }

    for (const field of SAME_AS_REFERENCE) {
      it(`same as the reference: ${field.name}`, () => {
        assert.ok(seen.length > 0, 'the cases above ran');
        // Cases whose whole answer differs on purpose (INTENDED: a credential form we accept) do not count.
        const hits = seen.flatMap(({ name, diffs }) =>
          unexplained(name, diffs)
            .filter((d) => matches(field, name, d))
            .map((d) => ({ case: name, ...d })),
        );
        assert.deepEqual(hits, [], field.reason);
      });
    }

    it("the reference's Go client (l402 interceptor, paying with the buyer's lnd) pays our gRPC 402 and reuses the token", async () => {
      const { buyer } = ref.network;
      const tokenDir = join(dir, 'l402-client-tokens');
      mkdirSync(tokenDir);
      // Our proxy needs TLS for the interceptor's per-RPC credentials: a second instance of ours over TLS.
      const tlsTemplate = readFileSync(join(dir, 'ours', 'aperture.yaml'), 'utf8').replace(/^insecure: true$/m, 'insecure: false');
      const tlsDir = join(dir, 'ours-tls');
      mkdirSync(tlsDir);
      const port = (targets.ours as Target).proxy.port;
      const proxy = await startProxy(
        'ours',
        '',
        tlsTemplate.replace(`127.0.0.1:${port}`, '{{LISTEN}}').replaceAll(join(dir, 'ours'), '{{DIR}}'),
        tlsDir,
      );
      try {
        const lines = await runGo(binaries.l402Client, [
          `--target=127.0.0.1:${proxy.port}`,
          `--proxycert=${join(tlsDir, 'tls.cert')}`,
          '--servername=localhost',
          '--method=/demo.Quotes/Get',
          '--calls=2',
          `--lndhost=${buyer.host}`,
          `--lndtls=${buyer.tlsCertPath}`,
          `--lndmacdir=${buyer.macaroonDir}`,
          `--tokendir=${tokenDir}`,
        ]);
        assert.equal(lines.length, 2, lines.join('\n'));
        for (const line of lines) {
          const r = JSON.parse(line) as { ok: boolean; replyHex?: string; error?: string; tokens: number };
          assert.ok(r.ok, r.error);
          // Quote { symbol: "BTC", price: 100 }
          assert.equal(r.replyHex, '0a034254431064');
          assert.equal(r.tokens, 1, 'one token, paid once, reused');
        }
      } finally {
        await proxy.proc.stop();
      }
    });

    it("the drop-in switch: ours opens the database the reference wrote, with its aperture.yaml, and the reference's paid token keeps working", async () => {
      const reference = targets.reference as Target;
      await reference.proxy.proc.stop();
      const config = readFileSync(join(reference.proxy.dir, 'aperture.yaml'), 'utf8')
        .replace(`127.0.0.1:${reference.proxy.port}`, '{{LISTEN}}')
        .replaceAll(reference.proxy.dir, '{{DIR}}');
      const switched = await startProxy('ours', '', config, reference.proxy.dir);
      try {
        const paid = await send(switched.url, {
          path: '/api/paid',
          headers: ['Authorization', `L402 ${reference.token.macaroon}:${reference.token.preimage}`],
        });
        assert.equal(paid.status, 200, paid.body);
        const grpcPaid = new grpc.Metadata();
        grpcPaid.set('authorization', `L402 ${reference.grpcToken.macaroon}:${reference.grpcToken.preimage}`);
        assert.equal((await grpcCall(switched, 'Get', grpcPaid)).code, 0);
      } finally {
        await switched.proc.stop();
      }
    });
  });
}

/** Runs a Go program to its end; its stdout lines. */
function runGo(binary: string, args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0)
        resolve(
          out
            .trim()
            .split('\n')
            .filter((l) => l !== ''),
        );
      else reject(new Error(`${binary} exited ${code}: ${err}${out}`));
    });
  });
}
