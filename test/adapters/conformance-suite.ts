/**
 * The one conformance suite every HTTP adapter runs, over real sockets:
 * HTTP/1.1 always, HTTP/2 (TLS) where the framework supports it.
 *
 * Each adapter test file supplies `start(options, transport)`: a server using
 * the adapter app-wide with the given options, whose handler answers every
 * path with `{"path", "tokenId", "caveats"}` from the token the framework
 * exposes (`req.l402`, `ctx.state.l402`, …), or `tokenId: null` without one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import type { IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import type { AddressInfo, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import type { L402MiddlewareOptions } from '../../src/adapters/node/l402-middleware-options.js';
import { toHex } from '../../src/core/bytes.js';
import { formatAuthorization } from '../../src/core/credentials.js';
import { parseChallenges } from '../../src/core/challenge.js';
import { decodeIdentifier } from '../../src/core/identifier.js';
import { Macaroon } from '../../src/core/macaroon.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { Gate, type ResponseEvent } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { DevInvoicer, DevPayer } from '../../src/lightning/dev/index.js';
import { endlessUpload } from '../proxy/endless-body.js';
import { TestClock } from '../fixtures/test-clock.js';
import { TEST_SCHEME_BODY, TestPaymentScheme } from '../fixtures/test-payment-scheme.js';

/** How the adapter's server is to listen. */
export type Transport = { protocol: 'http1' } | { protocol: 'http2'; key: string; cert: string };

/** A started server. */
export interface StartedServer {
  port: number;
  close(): Promise<void>;
}

/** One adapter under test. */
export interface AdapterUnderTest {
  name: string;
  protocols: ReadonlyArray<'http1' | 'http2'>;
  /** When true, the challenge lines may arrive joined in one header (Fetch `Headers` semantics). */
  joinsChallengeLines?: boolean;
  start(options: L402MiddlewareOptions, transport: Transport): Promise<StartedServer>;
}

/** What the test handler answers. */
export interface HandlerBody {
  path: string;
  tokenId: string | null;
  caveats: readonly string[];
}

/** Response as the suite sees it; header values in wire order. */
interface Reply {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** Listens on 127.0.0.1:0 and closes once every connection is gone (catches leaked sockets). */
export async function listen(server: Server): Promise<StartedServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        (server as Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
      }),
  };
}

/** The handler body every adapter's test server sends. */
export function handlerBody(path: string, token: { tokenId: string; caveats: readonly string[] } | undefined | null): string {
  const body: HandlerBody = { path, tokenId: token?.tokenId ?? null, caveats: token?.caveats ?? [] };
  return JSON.stringify(body);
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

/** One self-signed certificate for 127.0.0.1, shared by the HTTP/2 runs of a file. */
export function testCertificate(): Promise<{ key: string; cert: string }> {
  certificate ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return certificate;
}

function http1Get(port: number, path: string, headers: Record<string, string | string[]>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const grouped = new Map<string, string[]>();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        const name = (res.rawHeaders[i] as string).toLowerCase();
        grouped.set(name, [...(grouped.get(name) ?? []), res.rawHeaders[i + 1] as string]);
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: grouped, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function http2Get(port: number, ca: string, path: string, headers: Record<string, string | string[]>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca });
    session.on('error', reject);
    let stream;
    try {
      stream = session.request({ [h2.HTTP2_HEADER_PATH]: path, ...headers });
    } catch (error) {
      session.close();
      reject(error as Error);
      return;
    }
    // The third argument is the raw header list: the parsed object joins
    // repeated fields with ", ", which would hide two WWW-Authenticate lines.
    stream.on('response', (...args: unknown[]) => {
      const incoming = args[0] as IncomingHttpHeaders & IncomingHttpStatusHeader;
      const raw = args[2] as string[];
      const grouped = new Map<string, string[]>();
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = (raw[i] as string).toLowerCase();
        if (!name.startsWith(':')) grouped.set(name, [...(grouped.get(name) ?? []), raw[i + 1] as string]);
      }
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (body += chunk));
      stream.on('end', () => {
        session.close(() => resolve({ status: Number(incoming[h2.HTTP2_HEADER_STATUS]), headers: grouped, body }));
      });
    });
    stream.on('error', reject);
    stream.end();
  });
}

/**
 * Runs the conformance suite against one adapter, once per protocol it supports.
 * @param adapter - the adapter under test
 */
export function runConformance(adapter: AdapterUnderTest): void {
  for (const protocol of adapter.protocols) {
    describe(`${adapter.name} over ${protocol === 'http1' ? 'HTTP/1.1' : 'HTTP/2 (TLS)'}`, () => {
      const clock = new TestClock(Date.UTC(2030, 0, 1));
      const invoicer = new DevInvoicer({ clock, onWarning: () => {} });
      const payer = new DevPayer(invoicer);
      const secrets = new MemorySecretStore();
      let server: StartedServer;
      let ca = '';
      const options: L402MiddlewareOptions = {
        invoicer,
        secrets,
        clock,
        service: 'quotes',
        priceSats: 10,
        capabilities: ['read'],
        timeoutSeconds: 60,
        freePaths: [/^\/free(\/|$)/],
        route: (request) => {
          if (request.path.startsWith('/admin')) return { capabilities: ['write'], requiredCapability: 'write' };
          if (request.path.startsWith('/other')) return { service: 'other', priceSats: () => 5, capabilities: [], timeoutSeconds: 0 };
          return undefined;
        },
      };

      before(async () => {
        if (protocol === 'http1') {
          server = await adapter.start(options, { protocol });
        } else {
          const tls = await testCertificate();
          ca = tls.cert;
          server = await adapter.start(options, { protocol, ...tls });
        }
      });
      after(async () => {
        await server.close();
        await invoicer.close();
      });

      const get = (path: string, headers: Record<string, string | string[]> = {}): Promise<Reply> =>
        protocol === 'http1' ? http1Get(server.port, path, headers) : http2Get(server.port, ca, path, headers);

      /**
       * Asserts a reference-form challenge and returns its macaroon and invoice. With `refused`, the
       * request's credential was refused: each line ends in `, error="<reason>"` and the body names the code.
       */
      const expectChallenge = (reply: Reply, refused?: { reason: string; code: string }): { macaroon: string; invoice: string } => {
        assert.equal(reply.status, 402, reply.body);
        assert.equal(reply.body, refused === undefined ? 'payment required\n' : `payment required (${refused.code})\n`);
        assert.match(reply.headers.get('content-type')?.[0] ?? '', /^text\/plain/);
        assert.equal(reply.headers.get('cache-control')?.[0], 'no-store');
        const lines = reply.headers.get('www-authenticate') ?? [];
        const tail = refused === undefined ? '' : `, error="${refused.reason}"`;
        if (adapter.joinsChallengeLines !== true || lines.length !== 1) {
          assert.equal(lines.length, 2, `two WWW-Authenticate lines, got ${JSON.stringify(lines)}`);
          assert.match(lines[0] as string, new RegExp(`^LSAT macaroon="[A-Za-z0-9+/]+=*", invoice="lnbcrt[0-9a-z]+"${tail}$`));
          assert.match(lines[1] as string, new RegExp(`^L402 macaroon="[A-Za-z0-9+/]+=*", invoice="lnbcrt[0-9a-z]+"${tail}$`));
        }
        const parsed = parseChallenges(lines);
        assert.deepEqual(
          parsed.map((c) => c.scheme),
          ['LSAT', 'L402'],
        );
        const [lsat, l402] = parsed as [(typeof parsed)[0], (typeof parsed)[0]];
        assert.equal(lsat.macaroon, l402.macaroon);
        assert.equal(lsat.invoice, l402.invoice);
        assert.equal(l402.error, refused?.reason);
        return { macaroon: l402.macaroon, invoice: l402.invoice };
      };

      /** Gets a challenge at `path`, pays it and returns the Authorization value and the token ID. */
      const buyToken = async (path: string): Promise<{ authorization: string; tokenId: string; preimage: string; macaroon: string }> => {
        const { macaroon, invoice } = expectChallenge(await get(path));
        const paid = await payer.payInvoice(invoice);
        const tokenId = toHex(decodeIdentifier(Macaroon.fromBase64(macaroon).identifier).tokenId);
        return { authorization: formatAuthorization(macaroon, paid.preimage), tokenId, preimage: paid.preimage, macaroon };
      };

      it(
        'stops reading a body the challenge does not use: Connection: close, the connection closed long before 10 GB',
        { skip: protocol === 'http2' ? 'HTTP/2 streams are reset instead (test/proxy/early-answer-body.test.ts)' : false },
        async () => {
          const limit = 64 * 1024 * 1024;
          const r = await endlessUpload(server.port, 'POST /quote HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n', limit);
          assert.match(r.received, /^HTTP\/1\.1 402 /);
          assert.match(r.received, /\r\nconnection: close\r\n/i);
          assert.ok(r.closed, `the server read on: ${r.written} bytes sent`);
        },
      );

      it('answers a request without a token with the reference 402 challenge', async () => {
        const challenge = expectChallenge(await get('/quote'));
        assert.equal(decodeInvoice(challenge.invoice).amountMsat, 10_000n);
      });

      it('runs the handler for a paid token, which sees the token', async () => {
        const token = await buyToken('/quote');
        const reply = await get('/quote?x=1', { authorization: token.authorization });
        assert.equal(reply.status, 200, reply.body);
        const body = JSON.parse(reply.body) as HandlerBody;
        assert.equal(body.path, '/quote');
        assert.equal(body.tokenId, token.tokenId);
        assert.ok(body.caveats.includes('services=quotes:0'), JSON.stringify(body.caveats));
        assert.ok(body.caveats.includes('quotes_capabilities=read'), JSON.stringify(body.caveats));
      });

      it('accepts the LSAT scheme and the macaroon header form too', async () => {
        const token = await buyToken('/quote');
        const lsat = await get('/quote', { authorization: formatAuthorization(token.macaroon, token.preimage, 'LSAT') });
        assert.equal(lsat.status, 200, lsat.body);
        const withPreimage = Macaroon.fromBase64(token.macaroon).withFirstPartyCaveat(`preimage=${token.preimage}`);
        const header = await get('/quote', { macaroon: withPreimage.toHex() });
        assert.equal(header.status, 200, header.body);
        assert.equal((JSON.parse(header.body) as HandlerBody).tokenId, token.tokenId);
      });

      // Node's HTTP/2 client refuses to send a header twice, so this runs over HTTP/1.1 only.
      it(
        'accepts two Authorization lines for one token (LSAT then L402, as Go clients send) and refuses two that differ',
        { skip: protocol === 'http2' && 'node:http2 clients cannot send two Authorization fields' },
        async () => {
          const token = await buyToken('/quote');
          const lsat = formatAuthorization(token.macaroon, token.preimage, 'LSAT');
          const same = await get('/quote', { authorization: [lsat, token.authorization] });
          assert.equal(same.status, 200, same.body);
          const other = await buyToken('/quote');
          expectChallenge(await get('/quote', { authorization: [lsat, other.authorization] }), {
            reason: 'conflicting',
            code: 'L402_ERR_TOKEN_CONFLICTING',
          });
        },
      );

      it('answers a wrong preimage with a fresh challenge', async () => {
        const token = await buyToken('/quote');
        const wrong = formatAuthorization(token.macaroon, '00'.repeat(32));
        const reply = await get('/quote', { authorization: wrong });
        const fresh = expectChallenge(reply, { reason: 'bad_preimage', code: 'L402_ERR_TOKEN_BAD_PREIMAGE' });
        assert.notEqual(fresh.macaroon, token.macaroon);
      });

      it('answers an expired token with a fresh challenge', async () => {
        const token = await buyToken('/quote');
        assert.equal((await get('/quote', { authorization: token.authorization })).status, 200);
        clock.advance(61_000);
        try {
          expectChallenge(await get('/quote', { authorization: token.authorization }), {
            reason: 'expired',
            code: 'L402_ERR_TOKEN_EXPIRED',
          });
        } finally {
          clock.advance(-61_000);
        }
      });

      it('answers a token of another service with a challenge for this one', async () => {
        const token = await buyToken('/quote');
        const { invoice } = expectChallenge(await get('/other', { authorization: token.authorization }), {
          reason: 'wrong_service',
          code: 'L402_ERR_TOKEN_WRONG_SERVICE',
        });
        assert.equal(decodeInvoice(invoice).amountMsat, 5_000n, 'price from the route function');
        const other = await buyToken('/other');
        const reply = await get('/other', { authorization: other.authorization });
        assert.equal(reply.status, 200, reply.body);
        assert.equal((JSON.parse(reply.body) as HandlerBody).tokenId, other.tokenId);
      });

      it('answers a token without the required capability with a fresh challenge', async () => {
        const read = await buyToken('/quote');
        expectChallenge(await get('/admin', { authorization: read.authorization }), {
          reason: 'missing_capability',
          code: 'L402_ERR_TOKEN_MISSING_CAPABILITY',
        });
        const write = await buyToken('/admin');
        const reply = await get('/admin', { authorization: write.authorization });
        assert.equal(reply.status, 200, reply.body);
        assert.ok((JSON.parse(reply.body) as HandlerBody).caveats.includes('quotes_capabilities=write'));
      });

      it('says why a credential was refused: malformed, revoked, bad signature', async () => {
        expectChallenge(await get('/quote', { authorization: 'L402 bm90IGEgbWFjYXJvb24=:zz' }), {
          reason: 'malformed',
          code: 'L402_ERR_TOKEN_MALFORMED',
        });
        const revoked = await buyToken('/quote');
        await secrets.revokeSecret(createHash('sha256').update(Macaroon.fromBase64(revoked.macaroon).identifier).digest());
        expectChallenge(await get('/quote', { authorization: revoked.authorization }), {
          reason: 'revoked',
          code: 'L402_ERR_TOKEN_REVOKED',
        });
        const token = await buyToken('/quote');
        const bytes = Macaroon.fromBase64(token.macaroon).toBinary();
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
        const forged = formatAuthorization(Buffer.from(bytes).toString('base64'), token.preimage);
        expectChallenge(await get('/quote', { authorization: forged }), { reason: 'bad_signature', code: 'L402_ERR_TOKEN_BAD_SIGNATURE' });
      });

      it('scopes a token priced by a function to the path it was priced for', async () => {
        const cheap = await buyToken('/other/cheap');
        assert.equal((await get('/other/cheap?x=1', { authorization: cheap.authorization })).status, 200);
        expectChallenge(await get('/other/expensive', { authorization: cheap.authorization }), {
          reason: 'wrong_resource',
          code: 'L402_ERR_TOKEN_WRONG_RESOURCE',
        });
      });

      it('lets a free path through without a token', async () => {
        const reply = await get('/free/ping');
        assert.equal(reply.status, 200, reply.body);
        assert.equal(reply.headers.get('www-authenticate'), undefined);
        assert.deepEqual(JSON.parse(reply.body), { path: '/free/ping', tokenId: null, caveats: [] });
      });
    });

    describe(`${adapter.name} over ${protocol === 'http1' ? 'HTTP/1.1' : 'HTTP/2 (TLS)'}, with a second payment scheme`, () => {
      const invoicer = new DevInvoicer({ onWarning: () => {} });
      const secrets = new MemorySecretStore();
      const other = new TestPaymentScheme();
      const events: ResponseEvent[] = [];
      const waiting: Array<() => void> = [];
      const gate = new Gate({
        schemes: [new L402Scheme({ minter: new Minter({ invoicer, secrets }), verifier: new Verifier({ secrets }) }), other],
        afterResponse: (event) => {
          events.push(event);
          for (const wake of waiting.splice(0)) wake();
        },
      });
      /** Resolves once the Gate has heard of `n` responses (the response's end may follow the client's read). */
      const heard = async (n: number): Promise<void> => {
        while (events.length < n) await new Promise<void>((resolve) => waiting.push(resolve));
      };
      let server: StartedServer;
      let ca = '';
      before(async () => {
        const options: L402MiddlewareOptions = { gate, service: 'quotes', priceSats: 10 };
        if (protocol === 'http1') {
          server = await adapter.start(options, { protocol });
        } else {
          const tls = await testCertificate();
          ca = tls.cert;
          server = await adapter.start(options, { protocol, ...tls });
        }
      });
      after(async () => {
        await server.close();
        await invoicer.close();
      });
      const get = (path: string, headers: Record<string, string | string[]> = {}): Promise<Reply> =>
        protocol === 'http1' ? http1Get(server.port, path, headers) : http2Get(server.port, ca, path, headers);

      it('challenges with one offer per scheme, L402 lines first, and the body the offers choose', async () => {
        const reply = await get('/quote');
        assert.equal(reply.status, 402, reply.body);
        assert.equal(reply.body, TEST_SCHEME_BODY);
        assert.match(reply.headers.get('content-type')?.[0] ?? '', /^application\/problem\+json/);
        assert.equal(reply.headers.get('cache-control')?.[0], 'no-store');
        assert.equal(reply.headers.get('x-content-type-options')?.[0], 'nosniff');
        // One line each, or (Fetch semantics) one joined line: the order is what counts.
        const joined = (reply.headers.get('www-authenticate') ?? []).join(', ');
        const at = ['LSAT macaroon=', 'L402 macaroon=', 'Test id='].map((start) => joined.indexOf(start));
        assert.ok(
          at.every((i, k) => i >= 0 && (k === 0 || i > (at[k - 1] as number))),
          joined,
        );
        assert.deepEqual(
          parseChallenges(reply.headers.get('www-authenticate') ?? []).map((c) => c.scheme),
          ['LSAT', 'L402'],
        );
      });

      it("lets a credential of the second scheme through with that scheme's response headers; the Gate hears the response end", async () => {
        const before = events.length;
        const reply = await get('/quote', { 'x-test': 'good' });
        assert.equal(reply.status, 200, reply.body);
        assert.equal(reply.headers.get('payment-receipt')?.[0], 'receipt-aaaa');
        await heard(before + 1);
        const event = events[before] as ResponseEvent;
        assert.equal(event.decision.kind === 'allow' && event.decision.scheme, 'Test');
        assert.deepEqual(event.outcome, { status: 200, completed: true });
        assert.deepEqual(other.finished.at(-1)?.outcome, { status: 200, completed: true });
        assert.deepEqual(other.finished.at(-1)?.accepted.credential, { session: 's1' });
      });
    });
  }
}
